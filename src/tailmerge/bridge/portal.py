"""A blocking portal: an event loop in a helper thread that synchronous code runs coroutines on."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .bell import Bell

__all__ = ["Portal", "refuse_in_loop"]

T = TypeVar("T")


class Portal:
    """An event loop in a helper thread (the bottom-up bridge: sync callers, async core).

    ``on_signal``: called on the loop when a signal comes, whichever thread the kernel gave it to. Python
    runs the handler in the main thread only, once that thread runs again; a caller asleep on a lock (for
    the next lines) would not, if another thread took the signal. ``on_signal`` wakes it."""

    def __init__(self, on_signal: Callable[[], None] | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._bell: Bell | None = None
        if on_signal is not None:
            bell = self._bell = Bell().__enter__()  # rung by signals only when made in the main thread

            def rung() -> None:
                bell.clear()
                on_signal()

            self._loop.add_reader(bell.fileno(), rung)
        self._thread = threading.Thread(target=self._loop.run_forever, name="tailmerge loop", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the portal's loop (from the loop into nothing: the caller's thread goes on)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def close(self) -> None:
        """Stop the loop and join its thread; every task on it must have ended."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        if self._bell is not None:
            self._loop.remove_reader(self._bell.fileno())
            self._bell.__exit__(None, None, None)
        self._loop.close()


def refuse_in_loop(name: str, async_name: str) -> None:
    """Raise if called on a thread running an event loop: a blocking call there would freeze the loop
    it waits on (asgiref's rule)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"tailmerge.{name}() cannot be called from a running event loop (it would block the loop it "
        f"waits on); use tailmerge.{async_name}() there instead"
    )
