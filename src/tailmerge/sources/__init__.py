"""Sources: followed files (with rotation, truncation and copytruncate), glob discovery, process limits."""

from .discovery import Discovery, is_pattern
from .file import Source
from .ledger import Ledger
from .limits import raise_fd_limit
from .stdin import Stdin

__all__ = ["Discovery", "Ledger", "Source", "Stdin", "is_pattern", "raise_fd_limit"]
