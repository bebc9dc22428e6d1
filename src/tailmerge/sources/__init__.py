"""Sources: followed files (with rotation, truncation and copytruncate), compressed generations, glob
discovery, standard input, Redis Streams, process limits."""

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .archives import is_archive
    from .compressed import Compressed
    from .discovery import Discovery, is_pattern
    from .file import Source
    from .ledger import Ledger
    from .limits import fd_budget, raise_fd_limit
    from .open_files import OpenFiles
    from .stdin import Stdin
    from .stream import StreamSource

__all__ = [
    "Compressed",
    "Discovery",
    "Ledger",
    "OpenFiles",
    "Source",
    "Stdin",
    "StreamSource",
    "fd_budget",
    "is_archive",
    "is_pattern",
    "raise_fd_limit",
]

if not TYPE_CHECKING:  # each module is imported when one of its names is first used
    __getattr__, __dir__ = exports(
        __name__,
        {
            "is_archive": ".archives",
            "Compressed": ".compressed",
            "Discovery": ".discovery",
            "is_pattern": ".discovery",
            "Source": ".file",
            "Ledger": ".ledger",
            "fd_budget": ".limits",
            "raise_fd_limit": ".limits",
            "OpenFiles": ".open_files",
            "Stdin": ".stdin",
            "StreamSource": ".stream",  # redis-py only once a stream is read
        },
    )
