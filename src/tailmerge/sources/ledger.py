"""What this run has read of each file, so a file met again under another name is not read twice."""

from __future__ import annotations

import os
import threading
from typing import NamedTuple

from ..core import Identity

__all__ = ["Ledger"]


class _Read(NamedTuple):
    path: str
    fingerprint: bytes
    offset: int


class Ledger:
    """Files let go by their sources (rotated away, deleted): identity, first bytes, and how far they were
    read. Thread-safe: the threads engine opens sources from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_file: dict[Identity, _Read] = {}

    def record(self, path: str, file: Identity, fingerprint: bytes, offset: int) -> None:
        """``path`` (absolute) held ``file``, read to ``offset``."""
        with self._lock:
            self._by_file[file] = _Read(path, fingerprint, offset)

    def resume(self, path: str, file: Identity, fd: int, size: int) -> int | None:
        """Where to start ``path`` (open as ``fd``) if this run already read it, else None.

        The same file (identity, and its first bytes unchanged), or a file beside one already read whose
        name extends that one's (``app.log.1`` beside ``app.log``), that begins with the same bytes and is
        at least as long as what was read: a rotated generation met again under its new name.
        """
        with self._lock:
            known = self._by_file.get(file)
            others = list(self._by_file.values()) if known is None else []
        if known is not None:
            return known.offset if _starts_with(fd, known.fingerprint) else None
        folder, name = os.path.split(path)
        for read in others:
            rfolder, rname = os.path.split(read.path)
            if rfolder == folder and name.startswith(rname) and read.fingerprint and size >= read.offset:
                if _starts_with(fd, read.fingerprint):
                    return read.offset
        return None


def _starts_with(fd: int, fingerprint: bytes) -> bool:
    try:
        return os.pread(fd, len(fingerprint), 0) == fingerprint
    except OSError:
        return False
