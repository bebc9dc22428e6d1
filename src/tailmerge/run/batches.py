"""The mixed engine's legs on the workers: sent from the loop in executor jobs of a few legs each."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from ..core import Wait

if TYPE_CHECKING:
    from ..bridge import Workers
    from .drivers import _Drive

__all__ = ["BATCH", "LegBatches"]

BATCH = 16  # the most legs of the mixed engine that one executor job runs (well within the workers' STALL)


class LegBatches:
    """The mixed engine's legs, run in the workers with ``loop.run_in_executor``. The legs that become
    ready in one turn of the loop go together, in executor jobs of at most ``BATCH`` legs: each crossing
    (a future each way, a wake-up of the loop) costs about 65 µs here, and 10,000 followers start, and stop,
    in the same turn. Following, a turn has a leg or two, and each is a job of its own. A leg in a batch
    holds back the ones after it while it waits, so with a time order (a leg may wait for room that only
    another follower can make) each leg is a job of its own (``batch=1``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, workers: Workers, batch: int = BATCH) -> None:
        self._loop, self._workers, self._batch = loop, workers, batch
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
            part = ready[i : i + self._batch]
            job = self._loop.run_in_executor(self._workers, _legs, [drive for drive, _ in part])
            job.add_done_callback(functools.partial(_settle, part))


def _legs(drives: list[_Drive[Any]]) -> list[Wait | None]:
    return [drive.leg() for drive in drives]


def _settle(
    part: list[tuple[_Drive[Any], asyncio.Future[Wait | None]]], job: asyncio.Future[list[Wait | None]]
) -> None:
    error = job.exception() if not job.cancelled() else asyncio.CancelledError()
    for i, (_, result) in enumerate(part):
        if result.done():  # its task was cancelled
            continue
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(job.result()[i])
