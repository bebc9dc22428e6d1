"""One open file that a followed path has pointed to: the current one, or one rotated away."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..core import Identity, LineFramer, RecordFramer

if TYPE_CHECKING:
    from .spans import FileHandle

__all__ = ["Generation"]


class Generation:
    """A file of a path: its descriptor, identity, framer and how far it was read. The descriptor is -1
    while the file is closed to keep within the open-file budget (``sources.reopen``)."""

    __slots__ = (
        "deadline", "fd", "fingerprint", "framer", "grew_at", "identity", "mtime", "pos", "size", "slow_at", "spans"
    )  # fmt: skip

    def __init__(self, fd: int, identity: Identity, framer: LineFramer | RecordFramer) -> None:
        self.fd = fd
        self.identity = identity
        self.framer = framer
        self.pos = framer.offset  # bytes consumed from the file (emitted plus held partial)
        self.size = -1  # the file's size at the last look
        self.mtime = -1  # its modification time (ns) when it was closed to keep within the budget
        self.fingerprint = b""
        self.deadline: float | None = None  # monotonic time after which a rotated file is let go
        self.grew_at = time.monotonic()
        self.spans: list[FileHandle] = []  # of the spans handed over since the last look
        self.slow_at = -1  # where the framer reads bytes again (a line longer than a window's tail starts)
