"""Sources: followed files (with rotation, truncation and copytruncate), compressed generations, glob
discovery, process limits."""

from .archives import is_archive
from .compressed import Compressed
from .discovery import Discovery, is_pattern
from .file import Source
from .ledger import Ledger
from .limits import raise_fd_limit
from .stdin import Stdin

__all__ = ["Compressed", "Discovery", "Ledger", "Source", "Stdin", "is_archive", "is_pattern", "raise_fd_limit"]
