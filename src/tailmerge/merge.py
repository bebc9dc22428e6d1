"""The central merge stage: every batch of every source passes through one object, in one order.

It gives each batch its place in the merged stream and fans it out to every sink, in that order. The
threads engine enters it from its follower threads under a lock (the design note's lock around the
writer); the asyncio and mixed engines enter it on the event loop. It sees every source's progress, so it
also keeps the run's activity clock (idle time) and what each source contributed.

With ``--order time`` (or a ``--since``/``--until`` window) each batch is first cut into units with their
times (``core.timing``); in time order they wait in a reorder buffer (``core.order``) and leave it as
runs of one source's units, each run placed and fanned out like any batch. The run asks ``tick`` when a
held unit's lateness runs out and ``flush`` at its end; a source that holds more than ``ROOM`` bytes
(and reads that much a step) waits for room (``wait_room``/``await_room``), so an exact merge holds a
bounded part of each file.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from .sinks.contract import Batch, Handed, Interleaved, Origin

if TYPE_CHECKING:
    import asyncio  # imported by the loop engines: ``tailmerge --version`` needs none of it

    from .bridge import StopToken
    from .core import Chunk, Span
    from .core.order import Release, TimeOrder  # imported by a timed run only (``Timing``'s maker)
    from .core.timing import SourceClock, Window
    from .sinks import Sink

__all__ = ["ROOM", "Merge", "Timing"]

Ready: TypeAlias = "tuple[Origin, Sequence[Chunk | Span]] | Release"
"""A source's lines to place as one batch, or a release of time order (the units of many sources)."""

# bytes of a source held in time order before its follower waits for room, and read per step then: it
# bounds what an exact merge holds (a release is one object, but keeps each released line's bytes twice)
ROOM = 256 << 10


@dataclass(frozen=True)
class Timing:
    """How units are timed: a parser per source, an optional window, and an order (None: arrival)."""

    parser: Callable[[], Callable[[bytes], float | None]]
    window: Window
    order: TimeOrder | None


class Merge:
    """Order, account and fan out. ``enter`` from threads; ``aenter`` on the loop (not both in one run)."""

    def __init__(self, sinks: Sequence[Sink], timing: Timing | None = None) -> None:
        self.sinks = list(sinks)
        self.timing = timing
        self.order = timing.order if timing is not None else None
        self._clocks: dict[int, SourceClock] = {}
        # sources that joined (key, when) or ended (key, None), from any thread; the order takes them in
        # where it is changed (under the merge lock, or on the loop), never from a follower's thread
        self._news: list[tuple[int, float | None]] = []
        self._lock = threading.Lock()
        self._room = threading.Condition()  # its own lock: notified while the merge lock is held
        self._room_waiters: list[asyncio.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._alock: asyncio.Lock | None = None
        self._token: StopToken | None = None
        self._seq = 0
        self.origins: list[Origin] = []
        self._consumed: dict[str, int] = {}
        self.last_activity = time.monotonic()
        self.on_due: Callable[[], None] = _nothing
        """Called (from any thread) when held units may be due sooner than the run last asked."""

    def start(self, token: StopToken) -> None:
        self._token = token
        if self.order is not None:
            token.on_stop(self._room_changed)
        for sink in self.sinks:
            sink.start(token)

    def add_sources(self, paths: Sequence[str]) -> list[Origin]:
        """Sources join the merge (thread-safe); every sink hears of them, together."""
        with self._lock:
            start = len(self.origins)
            origins = [Origin(i, path) for i, path in enumerate(paths, start)]
            self.origins.extend(origins)
            if self.timing is not None:
                from .core.timing import SourceClock

                now = time.monotonic()
                # an exact merge orders by the texts of times while every source's are of one layout
                keyed = None if self.order is None or self.order.lateness is not None else self._keyed
                for o in origins:
                    self._clocks[o.index] = SourceClock(self.timing.parser(), self.timing.window, keyed)
                    self._news.append((o.index, now))
            for sink in self.sinks:
                sink.add_sources(origins)
        return origins

    def _keyed(self) -> bool:
        return self.order is not None and self.order.keyed

    def _place(self, ready: Ready) -> Handed:
        self._seq += 1
        self.last_activity = time.monotonic()
        if not isinstance(ready, tuple):  # time order: the units of many sources as one (counted by the order)
            return Interleaved(self._seq, self.origins, ready)
        origin, chunks = ready
        batch = Batch(self._seq, origin, chunks)
        self._count(origin.path, batch.consumed)
        return batch

    def _count(self, path: str, size: int) -> None:
        self._consumed[path] = self._consumed.get(path, 0) + size

    @property
    def consumed(self) -> dict[str, int]:
        """Bytes of each source path merged (lines are not counted: raw output never looks at each line).
        Time order counts what it released itself, a run at a time (``TimeOrder.released_bytes``)."""
        consumed = dict(self._consumed)
        if self.order is not None:
            for origin in self.origins:
                if size := self.order.released_bytes(origin.index):
                    consumed[origin.path] = consumed.get(origin.path, 0) + size
        return consumed

    def _admit(self, origin: Origin, chunks: Sequence[Chunk | Span]) -> list[Ready]:
        """What may go out now, in order, once ``chunks`` came in (timed, windowed, reordered). Spans come
        only untimed (their bytes are never read)."""
        if self.timing is None:
            return [(origin, chunks)]
        if chunks:  # growth, even when its lines are held or left out by the window (--idle-exit)
            self.last_activity = time.monotonic()
        runs = self._clocks[origin.index].runs(chunks)  # type: ignore[arg-type]  # no spans when timed
        if self.order is None:
            return [(origin, [r.piece(0, len(r.times)) for r in runs])] if runs else []
        order, now = self._order(), time.monotonic()
        before = order.next_deadline()
        out = self._released(order.add(origin.index, runs, now) + order.release(now))
        if order.next_deadline() != before:
            self.on_due()
        return out

    def _released(self, releases: list[Release]) -> list[Ready]:
        if releases and self.order is not None:
            self._room_changed()
        return [*releases]

    def enter(self, origin: Origin, chunks: Sequence[Chunk | Span]) -> None:
        """Hand a source's lines over from a thread; a block sink may hold this thread (backpressure)."""
        with self._lock:
            self._put(self._admit(origin, chunks))

    async def aenter(self, origin: Origin, chunks: Sequence[Chunk | Span]) -> None:
        """Hand a source's lines over on the loop; awaits room in block sinks."""
        async with self._aenter_lock():
            await self._aput(self._admit(origin, chunks))

    async def aenter_all(self, parts: Sequence[tuple[Origin, Sequence[Chunk | Span]]]) -> None:
        """Hand several sources' lines over at once on the loop, in this order: the sinks take them
        together (a file sink in one write)."""
        async with self._aenter_lock():
            await self._aput([ready for origin, chunks in parts for ready in self._admit(origin, chunks)])

    def _put(self, ready: list[Ready]) -> None:
        if ready:
            batches = [self._place(r) for r in ready]
            for sink in self.sinks:
                sink.put(batches)

    async def _aput(self, ready: list[Ready]) -> None:
        if ready:
            batches = [self._place(r) for r in ready]
            for sink in self.sinks:
                await sink.aput(batches)

    def _aenter_lock(self) -> asyncio.Lock:
        if self._alock is None:
            import asyncio

            self._alock = asyncio.Lock()
            self._loop = asyncio.get_running_loop()
        return self._alock

    # -- time order -----------------------------------------------------------------------------

    def _order(self) -> TimeOrder:
        """The order, with the sources that joined or ended since it was last looked at."""
        assert self.order is not None
        if self._news:
            with self._lock if self._alock is not None else _NO_LOCK:  # the threads engine holds it already
                news, self._news = self._news, []
            for key, joined in news:
                if joined is not None:
                    self.order.add_source(key, joined)
                else:
                    self.order.end(key)
        return self.order

    def next_deadline(self) -> float | None:
        """When held units are due by the clock (monotonic); None: nothing waits for the clock. Asked on
        the thread that runs the merge's loop (the run's), never by a follower."""
        if self.order is None:
            return None
        if self._alock is not None:
            return self._order().next_deadline()
        with self._lock:
            return self._order().next_deadline()

    def ended(self, origin: Origin) -> None:
        """A source has finished: it holds no other source's units back any more (any thread)."""
        if self.order is not None:
            with self._lock:
                self._news.append((origin.index, None))
            self.on_due()

    def tick(self) -> None:
        """Send what is due (from a thread)."""
        if self.order is not None:
            with self._lock:
                self._put(self._released(self._order().release(time.monotonic())))

    async def atick(self) -> None:
        """Send what is due (on the loop)."""
        if self.order is not None:
            async with self._aenter_lock():
                await self._aput(self._released(self._order().release(time.monotonic())))

    def flush(self) -> None:
        """The run is over: send every held unit, in order (from a thread)."""
        if self.order is not None:
            with self._lock:
                self._put(self._released(self._order().flush()))

    async def aflush(self) -> None:
        """The run is over: send every held unit, in order (on the loop)."""
        if self.order is not None:
            async with self._aenter_lock():
                await self._aput(self._released(self._order().flush()))

    def full(self, origin: Origin) -> bool:
        """Whether the source holds so much in time order that its follower should wait for room."""
        return self.order is not None and self.order.held(origin.index) > ROOM

    def wait_room(self, origin: Origin) -> None:
        """Block until ``origin`` has room again, or the run stops."""
        with self._room:
            while self.full(origin) and not (self._token is not None and self._token.is_set()):
                self._room.wait()

    async def await_room(self, origin: Origin) -> None:
        """Await until ``origin`` has room again, or the run stops."""
        import asyncio

        loop = asyncio.get_running_loop()
        while self.full(origin) and not (self._token is not None and self._token.is_set()):
            waiter = loop.create_future()
            self._room_waiters.append(waiter)
            await waiter

    def _room_changed(self) -> None:
        """Units left the buffer (or the run stopped): waiters for room look again."""
        with self._room:
            self._room.notify_all()
        if self._room_waiters and self._loop is not None:
            from .bridge import call_soon

            waiters, self._room_waiters = self._room_waiters, []
            for waiter in waiters:
                call_soon(self._loop, _settle, waiter)

    def finish(self, timeout: float | None = None) -> int:
        """No more batches: let each sink deliver what it holds (at most ``timeout`` seconds in all);
        return the bytes that could not be delivered."""
        deadline = None if timeout is None else time.monotonic() + timeout
        unwritten = 0
        for sink in self.sinks:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            unwritten += sink.finish(left)
        return unwritten


def _nothing() -> None:
    pass


_NO_LOCK = contextlib.nullcontext()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
