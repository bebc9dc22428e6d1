"""The three engines: launch strategies over one run. Each says only where a follower's legs run (a worker,
a worker with the wait on the loop, the loop) and where it hands its lines over; ``Run`` holds everything
else (``run.drivers``: the legs and the waits).

* threads: the run's workers (two threads, up to eight while stuck) run the legs of the followers that
  have something to read, a thread per busy file; the merge stage's lock keeps lines whole.
* mixed: a coroutine per source waits on the loop and runs each leg in the same workers
  (``LegBatches``); the legs hand their lines to the loop with
  ``asyncio.run_coroutine_threadsafe``, so the merge happens on the loop thread.
* asyncio: a task per source awaits an ``asyncio.Event``; reading and merging happen on the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..bridge import call_soon
from ..core import Chunk, Follower, Span
from ..sources import Discovery
from .batches import BATCH, LegBatches, ToLoop
from .pipeline import Run
from .routes import Route

__all__ = ["AsyncioEngine", "MixedEngine", "ThreadsEngine", "run_async", "run_blocking", "run_to_end"]


class ThreadsEngine:
    """Followers on the run's workers, entering the merge under its lock (the note's ``run_threads``, with a
    thread per busy file rather than per file)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._driving = 0  # followers launched and not yet ended
        self._ended = threading.Condition()
        self._waker: threading.Thread | None = None

    def launch(self, followers: Sequence[Follower[Any]]) -> None:
        with self._ended:
            self._driving += len(followers)
        for f in followers:
            self.run.drive_blocking(f, self._hand_over(f), self._one_ended)

    def _one_ended(self) -> None:
        with self._ended:
            self._driving -= 1
            if not self._driving:
                self._ended.notify_all()

    def _hand_over(self, follower: Follower[Any]) -> Callable[[list[Any]], None]:
        if isinstance(follower, Discovery):
            return lambda paths: self.launch(self.run.new_sources(paths))
        enter, run = self.run.merge.enter, self.run
        route = run.routes.router(follower, run.origins[follower])  # type: ignore[index]

        def hand_over(chunks: list[Chunk | Span]) -> None:
            for to, part in route(chunks):
                enter(to, part)
                run.wait_room(to)

        return hand_over

    def start_waker(self) -> None:
        if self.run.watcher.event_driven:
            self._waker = threading.Thread(target=self.run.watcher.run_blocking, name="tailmerge waker", daemon=True)
            self._waker.start()

    def join_blocking(self) -> None:
        with self._ended:  # discovery may launch more meanwhile: they count before the one that found them ends
            while self._driving:
                self._ended.wait()
        self.run.watcher.stop_blocking()
        if self._waker is not None:
            self._waker.join()

    async def join_async(self) -> None:  # pragma: no cover - the threads engine runs the blocking sequence
        raise NotImplementedError


class _LoopEngine:
    """What the two loop engines share: the waker is a task, and followers are awaited on the loop."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.loop = asyncio.get_running_loop()
        self.followers: list[asyncio.Future[None]] = []
        self._waker: asyncio.Task[None] | None = None

    def start_waker(self) -> None:
        if self.run.watcher.event_driven:
            self._waker = asyncio.create_task(self.run.watcher.run())

    def join_blocking(self) -> None:  # pragma: no cover - loop engines run the awaiting sequence
        raise NotImplementedError

    async def join_async(self) -> None:
        while not all(f.done() for f in self.followers):  # discovery may add followers meanwhile
            await asyncio.gather(*self.followers, return_exceptions=True)
        if self._waker is not None:
            self._waker.cancel()
            await asyncio.gather(self._waker, return_exceptions=True)


class MixedEngine(_LoopEngine):
    """A coroutine per source waits on the loop; its legs run in the run's workers and their lines cross to
    the loop (the note's mixed step: the run's workers for its executor, and ``run_coroutine_threadsafe``)."""

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        # in time order a leg may wait for room that a leg behind it in a batch would make: one by one
        self._legs = LegBatches(self.loop, run, 1 if run.merge.order is not None else BATCH)

    def launch(self, followers: Sequence[Follower[Any]]) -> None:
        for f in followers:
            self.followers.append(asyncio.create_task(self.run.drive_async(f, self._hand_over(f), self._legs)))

    def _hand_over(self, follower: Follower[Any]) -> Callable[[list[Any]], None]:
        if isinstance(follower, Discovery):

            def found(paths: list[str]) -> None:
                self.loop.call_soon_threadsafe(self.launch, self.run.new_sources(paths))

            return found
        return ToLoop(self.run, self.loop, follower, self.run.routes.router(follower, self.run.origins[follower]))  # type: ignore[index]


class AsyncioEngine(_LoopEngine):
    """A task per source: waiting, reading and merging on the loop (the note's ``run_tasks``)."""

    def launch(self, followers: Sequence[Follower[Any]]) -> None:
        for f in followers:
            self.followers.append(asyncio.create_task(self.run.drive_async(f, self._hand_over(f))))

    def _hand_over(self, follower: Follower[Any]) -> Callable[[list[Any]], Awaitable[None]]:
        if isinstance(follower, Discovery):

            async def found(paths: list[str]) -> None:
                self.launch(self.run.new_sources(paths))

            return found
        return _AsyncHandOver(self.run, self.run.routes.router(follower, self.run.origins[follower]))  # type: ignore[index]


class _AsyncHandOver:
    """A follower's hand-over on the loop (an object with slots, not a closure: 10,000 files)."""

    __slots__ = ("merge", "route", "run")

    def __init__(self, run: Run, route: Route) -> None:
        self.run, self.merge, self.route = run, run.merge, route

    async def __call__(self, chunks: list[Chunk | Span]) -> None:
        merge = self.merge
        for to, part in self.route(chunks):
            await merge.aenter(to, part)
            if merge.full(to):
                await self.run.await_room(to)


def run_to_end(run: Run) -> None:
    """The whole run in this thread on its engine: the threads engine without an event loop, the others in
    one of their own (``asyncio.run``)."""
    if run.options.engine == "threads":
        run_blocking(run)
    else:
        asyncio.run(run_async(run))


def run_blocking(run: Run) -> None:
    """The whole run with the threads engine in this thread, with no event loop at all: the sinks start,
    the sources are followed until done or stopped, then the sinks deliver what they hold."""
    run.merge.start(run.token)
    try:
        run.execute_blocking(ThreadsEngine(run))
    finally:
        run.unwritten = run.merge.finish(run.grace())
    run.raise_failure()


async def run_async(run: Run) -> None:
    """The whole run with any engine, from the event loop, as ``run_blocking``; the sinks deliver off the
    loop (a file sink joins its writer thread). Cancelling the awaiting task stops the run first."""
    run.merge.start(run.token)
    try:
        await _run_engine(run)
    finally:
        run.unwritten = await asyncio.to_thread(run.merge.finish, run.grace())
    run.raise_failure()


async def _run_engine(run: Run) -> None:
    if run.options.engine != "threads":
        engine = MixedEngine(run) if run.options.engine == "mixed" else AsyncioEngine(run)
        await run.execute_async(engine)
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def body() -> None:
        try:
            run.execute_blocking(ThreadsEngine(run))
        except BaseException as e:
            call_soon(loop, _settle, done, e)
        else:
            call_soon(loop, _settle, done, None)

    threading.Thread(target=body, name="tailmerge threads engine", daemon=True).start()
    try:
        await asyncio.shield(done)
    except asyncio.CancelledError:
        run.token.stop("consumer")
        await asyncio.wait([done])
        raise


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if not future.done():
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)
