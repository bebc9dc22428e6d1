"""Checkpoints (``--state``): the SQLite state file and the committer that keeps it true to the output."""

from .checkpoint import COMMIT_INTERVAL, FSYNC_POLICIES, Checkpoint, FsyncPolicy, open_checkpoint, trim_output
from .store import FORMAT_VERSION, Committed, StateError, StateStore

__all__ = [
    "COMMIT_INTERVAL",
    "FORMAT_VERSION",
    "FSYNC_POLICIES",
    "Checkpoint",
    "Committed",
    "FsyncPolicy",
    "StateError",
    "StateStore",
    "open_checkpoint",
    "trim_output",
]
