"""One stop token per run: set from any thread, a signal handler or the loop; wakes every waiter.

It carries the reason (the first one wins) and the first error, and replaces flags, relay threads and
polling: blocking waiters wait on it, coroutines await it, and followers' own wake-up signals are set
through callbacks registered with it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

__all__ = ["Reason", "StopFlag", "StopToken", "call_soon"]

Reason = Literal["done", "signal", "idle", "stop_event", "error", "consumer"]
FLAG_POLL = 0.1  # how often a stop flag that can only be looked at (no threading/asyncio Event) is looked at


class StopFlag(Protocol):
    """What callers may pass as ``stop_event``: anything with ``is_set()``."""

    def is_set(self) -> bool: ...


class StopToken:
    """Stop a whole run. Thread-safe; ``stop()`` may be called from a signal handler."""

    def __init__(self) -> None:
        # re-entrant: a signal handler may stop the token in the main thread while that thread, interrupted,
        # holds this lock (registering a callback)
        self._lock = threading.RLock()
        self._event = threading.Event()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next = 0
        self.reason: Reason | None = None
        self.requested: Reason | None = None  # by a signal handler (``request``), made by the run
        self.bell: Callable[[], None] | None = None  # rung by ``request``: wakes the run's main thread
        self.error: BaseException | None = None
        self.stopped_at: float | None = None  # monotonic time of the stop

    def is_set(self) -> bool:
        return self._event.is_set()

    def stop(self, reason: Reason, error: BaseException | None = None) -> None:
        """Stop for ``reason``; the first reason and the first error are kept."""
        with self._lock:
            if error is not None and self.error is None:
                self.error = error
            if self.reason is not None:
                return
            self.reason = reason
            self.stopped_at = time.monotonic()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        self._event.set()
        for callback in callbacks:
            callback()

    def request(self, reason: Reason) -> None:
        """Ask for a stop from a signal handler. The handler runs in a thread it interrupted, which may
        hold any lock a stop takes (a follower's event, a queue's condition), so it only leaves the reason
        and rings the bell; the run's main loop, woken, makes the stop (``take_request``)."""
        if self.requested is None:
            self.requested = reason
        bell = self.bell
        if bell is not None:
            bell()

    def take_request(self) -> None:
        """Make the stop a signal handler asked for, if any (in the run's main loop)."""
        if self.requested is not None and self.reason is None:
            self.stop(self.requested)

    def fail(self, error: BaseException) -> None:
        self.stop("error", error)

    def on_stop(self, callback: Callable[[], None]) -> int:
        """Call ``callback`` (from the stopping thread) when stopped, at once if stopped already."""
        with self._lock:
            if self.reason is None:
                self._next += 1
                self._callbacks[self._next] = callback
                return self._next
        callback()
        return 0

    def forget(self, handle: int) -> None:
        with self._lock:
            self._callbacks.pop(handle, None)

    def wait(self, timeout: float | None = None) -> bool:
        """Block this thread until stopped or ``timeout``; return whether stopped."""
        return self._event.wait(timeout)

    async def wait_async(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - a bounded look, like wait()
        """Await until stopped or ``timeout``; return whether stopped."""
        if self.is_set():
            return True
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        handle = self.on_stop(lambda: call_soon(loop, _settle, done))
        try:
            async with asyncio.timeout(timeout):
                await done
        except TimeoutError:
            pass
        finally:
            self.forget(handle)
        return self.is_set()

    def link(self, flag: StopFlag | None) -> Callable[[], None]:
        """Stop with reason ``stop_event`` when ``flag`` is set; returns the function that unlinks it.

        An ``asyncio.Event`` is awaited by a task (call this on its loop); a ``threading.Event`` by a thread
        that sleeps on the event's own condition and is woken when the run ends; any other flag can only be
        looked at, every FLAG_POLL seconds.
        """
        if flag is None:
            return _nothing
        if isinstance(flag, asyncio.Event):
            task = asyncio.get_running_loop().create_task(self._await_flag(flag))

            def cancel() -> None:
                task.cancel()

            return cancel
        cond = getattr(flag, "_cond", None) if isinstance(flag, threading.Event) else None
        if isinstance(cond, threading.Condition):
            return self._relay(flag, cond)
        return self._relay(flag, None)

    async def _await_flag(self, flag: asyncio.Event) -> None:
        await flag.wait()
        self.stop("stop_event")

    def _relay(self, flag: StopFlag, cond: threading.Condition | None) -> Callable[[], None]:
        ended = threading.Event()

        def wake() -> None:
            ended.set()
            if cond is not None:
                with cond:
                    cond.notify_all()

        def body() -> None:
            if cond is not None:
                with cond:  # threading.Event.set() notifies this condition; so does wake()
                    while not flag.is_set() and not ended.is_set():
                        cond.wait()
            else:
                while not flag.is_set() and not ended.wait(FLAG_POLL):
                    pass
            if flag.is_set():
                self.stop("stop_event")

        handle = self.on_stop(wake)
        thread = threading.Thread(target=body, name="tailmerge stop_event", daemon=True)
        thread.start()

        def unlink() -> None:
            self.forget(handle)
            wake()
            thread.join()

        return unlink


def call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., object], *args: object) -> None:
    """Run ``fn`` on ``loop`` from any thread; a loop that has closed has nothing left to wake."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _nothing() -> None:
    pass
