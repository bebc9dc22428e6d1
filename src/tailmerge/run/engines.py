"""The three engines: launch strategies over one run. Each says only how a follower waits (a thread, a
worker of an executor, a task) and where it hands its lines over; ``Run`` holds everything else.

* threads: a thread per source blocks on a ``threading.Event``; the merge stage's lock keeps lines whole.
* mixed: the same blocking followers run in a dedicated executor and hand their lines to the event loop
  with ``asyncio.run_coroutine_threadsafe``, so the merge happens on the loop thread.
* asyncio: a task per source awaits an ``asyncio.Event``; reading and merging happen on the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..bridge import call_soon
from ..core import Chunk, Follower, Span
from ..sources import Discovery
from .pipeline import Run
from .routes import Route

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["AsyncioEngine", "MixedEngine", "ThreadsEngine", "run_async", "run_blocking", "run_to_end"]


class ThreadsEngine:
    """A thread per source, entering the merge under its lock (the note's ``run_threads``)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._waker: threading.Thread | None = None

    def launch(self, followers: Sequence[Follower[Any]]) -> None:
        for f in followers:
            thread = threading.Thread(
                target=self.run.drive_blocking, args=(f, self._hand_over(f)), name=f"tailmerge {f.path}", daemon=True
            )
            with self._lock:
                self._threads.append(thread)
            thread.start()

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
        joined = 0
        while joined < len(self._threads):  # discovery may have started more while we joined
            self._threads[joined].join()
            joined += 1
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
    """Blocking followers in a dedicated executor; their lines cross to the loop (the note's mixed step)."""

    def __init__(self, run: Run) -> None:
        super().__init__(run)
        # imported now, before the run opens its files, not when the fd limit may have been reached
        from concurrent.futures import ThreadPoolExecutor

        self._executor_type = ThreadPoolExecutor
        self._executors: list[ThreadPoolExecutor] = []

    def launch(self, followers: Sequence[Follower[Any]]) -> None:
        if not followers:
            return
        # sized to the followers: the default executor (min(32, cpus + 4) workers) would leave some files
        # never followed once there are more of them than workers
        executor = self._executor_type(len(followers), thread_name_prefix="tailmerge")
        self._executors.append(executor)
        for f in followers:
            self.followers.append(self.loop.run_in_executor(executor, self.run.drive_blocking, f, self._hand_over(f)))
        # once the run stops, each worker ends as soon as its follower has left, instead of idling until
        # the executor is shut down and then being woken with all the others (10,000 threads at once).
        # On the loop: a stop may come from a signal handler that interrupted this very submit, which
        # holds the executor's lock
        self.run.token.on_stop(lambda: call_soon(self.loop, executor.shutdown, False))

    def _hand_over(self, follower: Follower[Any]) -> Callable[[list[Any]], None]:
        if isinstance(follower, Discovery):

            def found(paths: list[str]) -> None:
                self.loop.call_soon_threadsafe(self.launch, self.run.new_sources(paths))

            return found
        aenter, run = self.run.merge.aenter, self.run
        route = run.routes.router(follower, run.origins[follower])  # type: ignore[index]

        def hand_over(chunks: list[Chunk | Span]) -> None:
            for to, part in route(chunks):
                # unbounded on purpose, yet never stuck: the loop outlives every follower (join_async awaits
                # them all), and a stop releases every sink's wait for room
                asyncio.run_coroutine_threadsafe(aenter(to, part), self.loop).result()
                run.wait_room(to)

        return hand_over

    async def join_async(self) -> None:
        await super().join_async()
        for executor in self._executors:
            executor.shutdown(wait=False)  # every worker has returned: they end at once


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
