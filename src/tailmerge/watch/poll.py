"""The polling waker: no change notification; followers wait with a timeout and look again."""

from __future__ import annotations

from .table import Signal

__all__ = ["Watcher"]


class Watcher:
    """Polling, and the interface every waker has. A follower registers a *signal* (anything with
    ``set()``) and the waker sets it when the kernel reports a change; a False answer means: poll."""

    event_driven = False

    def watch_file(self, path: str, signal: Signal, real: str | None = None) -> bool:
        """Wake ``signal`` when ``path`` may have changed; False when the caller must poll it. ``real``:
        the path's real form (symlinks resolved) when the caller knows it."""
        return False

    def unwatch_file(self, path: str, signal: Signal) -> None:
        """Stop waking ``signal`` for ``path``."""

    def entry_changed(self, signal: Signal) -> bool:
        """Whether the entry of a path ``signal`` waits on may have changed (renamed, deleted, made)
        since this was last asked for it; always True when polled (nothing tells)."""
        return True

    def watch_dir(self, path: str, signal: Signal) -> bool:
        """Wake ``signal`` when an entry appears in directory ``path``; False when the caller must poll."""
        return False

    async def run(self) -> None:
        """Deliver notifications on the running event loop until cancelled."""

    def run_blocking(self) -> None:
        """Deliver notifications from this thread until ``stop_blocking()`` is called."""

    def stop_blocking(self) -> None:
        """End ``run_blocking()`` (from any thread)."""

    def close(self) -> None:
        """Release the kernel resources."""
