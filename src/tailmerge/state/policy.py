"""What a run needs to know of states without opening one: the fsync policies and the error. Importing
this does not import SQLite (``store``) or the committer (``checkpoint``)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["FSYNC_POLICIES", "FsyncPolicy", "StateError"]

FsyncPolicy = Literal["always", "interval", "never"]
FSYNC_POLICIES: tuple[FsyncPolicy, ...] = get_args(FsyncPolicy)


class StateError(Exception):
    """A state that cannot be used: unreadable, of a newer format, in use, or of another output."""
