"""A bounded queue between two stages that may live on different threads or on the event loop.

Both sides have a blocking face (any thread) and an awaitable face (on a loop). The bound is in units the
producer names (bytes, lines). Two backpressure policies: *block* (a producer waits for room) and *lag*
(the oldest items are dropped and counted; a producer never waits).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

from .stop import call_soon

__all__ = ["Handoff", "Policy"]

T = TypeVar("T")
Policy = Literal["block", "lag"]


class Handoff(Generic[T]):
    """FIFO of items with sizes. ``end()``: no more items (the consumer drains, then gets None).
    ``close()``: the consumer left (puts are dropped). ``release()``: stopping (puts never wait).
    A consumer may hold what it took (``take_nowait(hold=True)``) until ``done()``; ``wait_drained()``
    waits for that too."""

    def __init__(self, limit: int, policy: Policy = "block", on_change: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self.policy = policy
        self._on_change = on_change
        # re-entrant: a stop (release) may come from a signal handler in a thread that, interrupted, holds it
        self._cond = threading.Condition(threading.RLock())
        self._items: deque[tuple[T, int]] = deque()
        self.size = 0
        self.dropped = 0
        self.dropped_size = 0
        self.ended = False
        self.closed = False
        self.released = False
        self.holding = False  # the consumer took items with hold=True and has not called done()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    # -- producers ------------------------------------------------------------------------------

    def put(self, item: T, size: int) -> None:
        """Add ``item``; with the block policy, wait in this thread for room first."""
        with self._cond:
            while self._must_wait(size):
                self._cond.wait()
            self._add(item, size)
        self._changed(added=True)

    async def aput(self, item: T, size: int) -> None:
        """Add ``item``; with the block policy, await room first."""
        while True:
            with self._cond:
                if not self._must_wait(size):
                    self._add(item, size)
                    break
                waiter = self._waiter()
            await waiter
        self._changed(added=True)

    def _must_wait(self, size: int) -> bool:
        if self.policy == "lag" or self.closed or self.released or not self._items:
            return False
        return self.size + size > self.limit

    def _add(self, item: T, size: int) -> None:
        if self.closed:
            return
        self._items.append((item, size))
        self.size += size
        if self.policy == "lag":
            while self.size > self.limit and len(self._items) > 1:
                _, old = self._items.popleft()
                self.size -= old
                self.dropped += 1
                self.dropped_size += old

    # -- consumers ------------------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> list[T] | None:
        """Everything queued, waiting in this thread for at least one item; [] after ``timeout``;
        None once ended and drained."""
        with self._cond:
            if not self._items and not self.ended:
                self._cond.wait_for(lambda: self._items or self.ended, timeout)
            items = self._take()
        self._changed()
        return items

    async def aget(self) -> list[T] | None:
        """Everything queued, awaiting at least one item; None once ended and drained."""
        while True:
            with self._cond:
                if self._items or self.ended:
                    items = self._take()
                    break
                waiter = self._waiter()
            await waiter
        self._changed()
        return items

    def take_nowait(self, *, hold: bool = False) -> list[T] | None:
        """Everything queued now ([] if nothing); None once ended and drained. ``hold``: the consumer
        holds what it took until it calls ``done()``."""
        with self._cond:
            items = self._take()
            if hold and items:
                self.holding = True
        if items:
            self._changed()
        return items

    def done(self) -> None:
        """The consumer has finished with what it took with ``hold=True``."""
        with self._cond:
            self.holding = False
        self._changed()

    def wait_drained(self) -> None:
        """Wait in this thread until everything put has been taken, and finished with if held; at once
        when released or closed (a stop never waits here)."""
        with self._cond:
            self._cond.wait_for(lambda: not (self._items or self.holding) or self.released or self.closed)

    def _take(self) -> list[T] | None:
        if not self._items:
            return None if self.ended else []
        items = [item for item, _ in self._items]
        self._items.clear()
        self.size = 0
        return items

    async def await_drained(self) -> None:
        """As ``wait_drained``, awaiting."""
        while True:
            with self._cond:
                if not (self._items or self.holding) or self.released or self.closed:
                    return
                waiter = self._waiter()
            await waiter

    # -- state ----------------------------------------------------------------------------------

    def end(self) -> None:
        self._set("ended")

    def close(self) -> None:
        """The consumer left: drop what is queued and let every producer go."""
        with self._cond:
            self._items.clear()
            self.size = 0
        self._set("closed")

    def release(self) -> None:
        """Stopping: producers no longer wait for room (what was read is still queued, not dropped)."""
        self._set("released")

    def _set(self, name: str) -> None:
        with self._cond:
            setattr(self, name, True)
        self._changed(added=True)

    def wake(self) -> None:
        """Wake every waiter with nothing new: each looks again, then waits on."""
        self._changed()

    def _waiter(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append((loop, future))
        return future

    def _changed(self, added: bool = False) -> None:
        """Wake whoever waits; ``on_change`` only when there is something new for the consumer."""
        with self._cond:
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            call_soon(loop, _wake, future)
        if added and self._on_change is not None:
            self._on_change()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
