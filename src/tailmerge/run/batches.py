"""The mixed engine's legs on the workers: sent from the loop in jobs of a few legs each, and their lines
handed to the loop with ``asyncio.run_coroutine_threadsafe``."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from ..core import Follower, Wait

if TYPE_CHECKING:
    from ..sinks import Origin
    from .drivers import _Drive
    from .pipeline import Run
    from .routes import Route

__all__ = ["BATCH", "LegBatches", "ToLoop"]

BATCH = 16  # the most legs of the mixed engine that one job runs (well within the workers' STALL)

Parts = list[tuple["Origin", list[Any]]]
_End = tuple["asyncio.Future[Wait | None]", "Wait | None", "Parts | None"]


class ToLoop:
    """A follower's hand-over from a worker to the loop (mixed engine): each part crosses with
    ``asyncio.run_coroutine_threadsafe`` and the worker waits until the merge took it. A batch that
    caught up with its file is held back instead: the leg's next look almost always finds nothing and
    waits, and then the batch crosses with the leg's end (``LegBatches``), one crossing to the loop
    instead of two (a round trip between a worker and the loop costs 150-200 µs of CPU here). A look
    that finds more, or the follower's end, sends it first (``flush``)."""

    __slots__ = ("follower", "held", "loop", "merge", "route", "run")

    def __init__(self, run: Run, loop: asyncio.AbstractEventLoop, follower: Follower[Any], route: Route) -> None:
        self.run, self.merge, self.loop, self.follower, self.route = run, run.merge, loop, follower, route
        self.held: Parts | None = None

    def __call__(self, chunks: list[Any]) -> None:
        self.flush()
        parts = self.route(chunks)
        if self.follower.caught_up:
            self.held = parts
        else:
            self._cross(parts)

    def flush(self) -> None:
        """Hand over the held batch now (on the worker)."""
        if self.held is not None:
            parts, self.held = self.held, None
            self._cross(parts)

    def take(self) -> Parts | None:
        parts, self.held = self.held, None
        return parts

    def _cross(self, parts: Parts) -> None:
        for to, part in parts:
            # unbounded on purpose, yet never stuck: the loop outlives every follower (join_async awaits
            # them all), and a stop releases every sink's wait for room
            asyncio.run_coroutine_threadsafe(self.merge.aenter(to, part), self.loop).result()
            self.run.wait_room(to)


class LegBatches:
    """The mixed engine's legs, run in the workers. The legs that become ready in one turn of the loop go
    together, in jobs of at most ``BATCH`` legs: each crossing (a wake-up of a worker, then of the loop)
    costs 150-200 µs of CPU here, and 10,000 followers start, and stop, in the same turn. Following, a
    turn has a leg or two, and each is a job of its own. A leg in a batch holds back the ones after it
    while it waits, so with a time order (a leg may wait for room that only another follower can make)
    each leg is a job of its own (``batch=1``).

    A job goes back to the loop once, with its legs' ends and the batches their hand-overs held back
    (``ToLoop``), which enter the merge together (one write for them all: 10,000 files start in 625 writes,
    not 10,000). It is queued with ``Workers.run`` rather than ``loop.run_in_executor``, whose chain of a
    concurrent future to an asyncio future cost a quarter of the round trip."""

    def __init__(self, loop: asyncio.AbstractEventLoop, run: Run, batch: int = BATCH) -> None:
        self._loop, self._run, self._workers, self._batch = loop, run, run.workers, batch
        self._ready: list[tuple[_Drive[Any], asyncio.Future[Wait | None]]] = []

    def __call__(self, drive: _Drive[Any]) -> asyncio.Future[Wait | None]:
        """The next leg of ``drive`` (on the loop); the future is its ``Wait``, or None when it is done."""
        result: asyncio.Future[Wait | None] = self._loop.create_future()
        if not self._ready:
            self._loop.call_soon(self._send)  # after every leg this turn makes ready
        self._ready.append((drive, result))
        return result

    def _send(self) -> None:
        ready, self._ready = self._ready, []
        for i in range(0, len(ready), self._batch):
            self._workers.run(functools.partial(self._legs, ready[i : i + self._batch]))

    def _legs(self, part: list[tuple[_Drive[Any], asyncio.Future[Wait | None]]]) -> None:
        """On a worker: run the legs, then go back to the loop once."""
        ends: list[_End] = []
        error: BaseException | None = None
        try:
            for drive, result in part:
                wait = drive.leg()
                hand = drive.hand_over
                ends.append((result, wait, hand.take() if isinstance(hand, ToLoop) else None))
        except BaseException as e:  # not a leg's own error (it ends its follower): the rest of the job's
            error = e
        left = [result for _, result in part[len(ends) :]]
        try:
            if held := [each for *_, parts in ends if parts for each in parts]:
                asyncio.run_coroutine_threadsafe(self._enter_held(held, ends, left, error), self._loop)
            else:
                self._loop.call_soon_threadsafe(_settle, ends, left, error)
        except RuntimeError:  # the loop is closed: the run's tasks were cancelled with it
            pass

    async def _enter_held(
        self, held: Parts, ends: list[_End], left: list[asyncio.Future[Wait | None]], error: BaseException | None
    ) -> None:
        """On the loop: what the legs' hand-overs held back enters the merge, then the legs end."""
        merge = self._run.merge
        try:
            await merge.aenter_all(held)
            for to, _ in held:
                if merge.full(to):
                    await merge.await_room(to)
        except Exception as e:  # as a leg's own hand-over error: the run stops with it
            self._run.token.fail(e)
        _settle(ends, left, error)


def _settle(ends: list[_End], left: list[asyncio.Future[Wait | None]], error: BaseException | None) -> None:
    for result, wait, _ in ends:
        if not result.done():  # else its task was cancelled
            result.set_result(wait)
    for result in left:
        if not result.done():
            result.set_exception(error if error is not None else asyncio.CancelledError())
