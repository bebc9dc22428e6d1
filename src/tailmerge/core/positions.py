"""Where a source stands: which file (identity), how far (offset), and what a look at it means.

Pure: the decisions take what the I/O layer saw (sizes, identities, whether the first bytes still match)
and say what happened to the file, so they are tested without files.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["FINGERPRINT_BYTES", "Change", "Identity", "follow_path", "look"]

FINGERPRINT_BYTES = 256


class Identity(NamedTuple):
    """What makes an open file the same file: device and inode.

    While tailmerge holds a file open its inode cannot be reused, so this is exact for live files; the
    first bytes (the fingerprint) guard against a file rewritten in place. A tuple: compared and hashed in
    C (a frozen dataclass made a Python call of each, several per file a run starts and per look).
    """

    dev: int
    ino: int

    def __str__(self) -> str:
        return f"{self.dev}:{self.ino}"


class Change(enum.Enum):
    """What one look at a followed file found."""

    SAME = "same"  # nothing new, the path still names the file
    GREW = "grew"  # new bytes to read
    TRUNCATED = "truncated"  # shorter than what was read: read again from the start
    REWRITTEN = "rewritten"  # the first bytes changed: a new file in the old one's place (copytruncate)
    MOVED = "moved"  # renamed away, nothing at the path yet: still the newest file, keep reading it
    ROTATED = "rotated"  # renamed away and a new file created at the path
    REPLACED = "replaced"  # deleted (or a link swapped) and another file is at the path now
    DELETED = "deleted"  # deleted, nothing at the path


def look(pos: int, size: int, *, starts_same: bool = True) -> Change:
    """What a file read up to ``pos`` holds now: SAME, GREW, TRUNCATED or REWRITTEN.

    ``starts_same``: whether its first bytes still match the fingerprint taken earlier.
    """
    if size < pos:
        return Change.TRUNCATED
    if not starts_same:
        return Change.REWRITTEN
    return Change.GREW if size > pos else Change.SAME


def follow_path(file: Identity, at_path: Identity | None, *, linked: bool) -> Change:
    """At the end of ``file``: does its path still name it? SAME, MOVED, ROTATED, REPLACED or DELETED.

    ``at_path``: the identity of what the path names now (None: nothing). ``linked``: whether ``file``
    still has a name anywhere (renamed) or none (deleted).
    """
    if at_path == file:
        return Change.SAME
    if at_path is None:
        return Change.MOVED if linked else Change.DELETED
    return Change.ROTATED if linked else Change.REPLACED
