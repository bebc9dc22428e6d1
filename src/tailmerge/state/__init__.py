"""Checkpoints (``--state``): the SQLite state file and the committer that keeps it true to the output."""

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .checkpoint import COMMIT_INTERVAL, Checkpoint, open_checkpoint, trim_output
    from .policy import FSYNC_POLICIES, FsyncPolicy, StateError
    from .store import FORMAT_VERSION, Committed, StateStore

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

if not TYPE_CHECKING:  # SQLite only when a state is used
    __getattr__, __dir__ = exports(
        __name__,
        {
            **dict.fromkeys(("COMMIT_INTERVAL", "Checkpoint", "open_checkpoint", "trim_output"), ".checkpoint"),
            **dict.fromkeys(("FSYNC_POLICIES", "FsyncPolicy", "StateError"), ".policy"),
            **dict.fromkeys(("FORMAT_VERSION", "Committed", "StateStore"), ".store"),
        },
    )
