"""The three engines: thin drivers that run the same followers and the same pacing.

``pace()`` is the whole follow loop as a plan (read, hand over, wait how long), with no threads and no
event loop in it. Each engine only decides *how* a step waits and *where* lines are handed over:

* threads: a thread per source blocks on a ``threading.Event``; a lock serialises the sink.
* mixed: the same blocking drivers run in a dedicated executor and hand their lines to the event loop
  with ``asyncio.run_coroutine_threadsafe``, so every write happens on the loop thread.
* asyncio: a task per source awaits an ``asyncio.Event``; reading and writing happen on the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol, TypeVar

from ._discovery import Discovery
from ._framing import Chunk
from ._options import Options
from ._source import Source
from ._watch import Signal, Watcher, make_watcher

__all__ = ["Engine", "Sink", "StopFlag", "Wait", "make_engine", "pace", "wait_bounded"]

log = logging.getLogger("tailmerge")

T = TypeVar("T")
STOP_POLL = 0.25  # how often a duck-typed stop flag is looked at
RELAY_WAIT = 5.0
ACTIVE_FOLLOWERS = 8


class Sink(Protocol):
    """Where an engine hands complete lines. ``deliver`` runs on the loop; ``deliver_sync`` on any thread."""

    def add_source(self, source: Source) -> None: ...

    async def deliver(self, source: Source, chunks: list[Chunk]) -> None: ...

    def deliver_sync(self, source: Source, chunks: list[Chunk]) -> None: ...


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


class Follower(Protocol[T]):
    """What an engine drives: a source (its items are chunks) or glob discovery (new paths)."""

    path: str

    @property
    def rotating(self) -> bool: ...

    def step(self) -> list[T]: ...

    def finish(self) -> list[T]: ...

    def next_deadline(self) -> float | None: ...


class Wait(NamedTuple):
    """Wait for the follower's signal, at most ``timeout`` seconds (None: until signalled)."""

    timeout: float | None


def pace(follower: Follower[T], options: Options, event_driven: bool) -> Iterator[list[T] | Wait]:
    """The follow loop as a plan: yields items to hand over, or how long to wait before looking again.

    A polled follower backs off from ``poll_interval`` to ``poll_max`` while nothing changes; an
    event-driven one waits for its signal, and only polls a rotated file until its deadline.
    """
    interval = options.poll_interval
    while True:
        try:
            items = follower.step()
        except OSError as e:
            log.error("%s: %s; no longer followed", follower.path, e)
            return
        if items:
            interval = options.poll_interval
            yield items
            continue
        if not options.follow:
            return
        timeout: float | None = None
        if not event_driven or follower.rotating:
            timeout = interval
            interval = min(interval * 2, options.poll_max)
        deadline = follower.next_deadline()
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        yield Wait(timeout)


class _Watched(Protocol):
    """Followers also say how the waker is to watch them."""

    def watch(self, watcher: Watcher, signal: Signal) -> bool: ...

    def unwatch(self, watcher: Watcher, signal: Signal) -> None: ...


class _SourceWatch:
    """Registers a source's path with the waker (sources themselves know nothing of wakers)."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def watch(self, watcher: Watcher, signal: Signal) -> bool:
        return watcher.watch_file(self.source.path, signal)

    def unwatch(self, watcher: Watcher, signal: Signal) -> None:
        watcher.unwatch_file(self.source.path, signal)


class Engine:
    """Shared state of one run: the sources, the waker, stopping, idle time and the first failure."""

    def __init__(self, options: Options, sink: Sink, stop_event: StopFlag | None = None) -> None:
        self.options = options
        self.sink = sink
        self.stop_event = stop_event
        self.watcher: Watcher = make_watcher(options.watch) if options.follow else Watcher()
        if options.watch == "inotify" and not self.watcher.event_driven:
            log.warning("--watch inotify: inotify could not be used; polling instead")
        self.sources: list[Source] = []
        self._paths: set[str] = set()
        self.last_activity = time.monotonic()
        self.failure: BaseException | None = None
        self.stopping = False
        self._signals: set[Signal] = set()  # a set: 10,000 followers leave it in any order
        # at most this many blocking followers read or hand over at once; the rest sleep on the
        # semaphore instead of fighting for the GIL (thousands of runnable threads starve the loop)
        self._active = threading.BoundedSemaphore(ACTIVE_FOLLOWERS)

    # -- sources --------------------------------------------------------------------------------

    def new_sources(self, paths: Sequence[str]) -> list[Source]:
        """Sources for ``paths``, leaving out any already followed by name or by identity (a hard link,
        a symlink, or a rotated file that a glob matches again under its new name)."""
        held = {(i.dev, i.ino) for s in self.sources for i in s.identities()}
        new = []
        for path in paths:
            key = os.path.abspath(path)
            if key in self._paths:
                continue
            try:
                st = os.stat(path)
                ident = (st.st_dev, st.st_ino)
                if ident in held:
                    continue
                held.add(ident)
            except OSError:
                pass  # missing or unreadable: the source itself reports it
            self._paths.add(key)
            source = Source(
                path,
                max_line_bytes=self.options.max_line_bytes,
                start_at_end=self.options.start_at_end,
                rotate_wait=self.options.rotate_wait,
                follow=self.options.follow,
            )
            self.sources.append(source)
            self.sink.add_source(source)
            new.append(source)
        return new

    def _watched(self, follower: Follower[Any]) -> _Watched:
        return follower if isinstance(follower, Discovery) else _SourceWatch(follower)  # type: ignore[arg-type]

    # -- stopping -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask every follower to finish. Thread-safe; called by signal handlers, idle time, failures."""
        self.stopping = True
        for sig in list(self._signals):
            self._wake(sig)

    def _wake(self, sig: Signal) -> None:
        sig.set()

    def fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
        self.stop()

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def supervise_timeout(self) -> float | None:
        """How long the supervisor may sleep before it must look at idle time or the stop event."""
        timeouts = []
        if self.options.idle_timeout is not None:
            timeouts.append(max(0.0, self.last_activity + self.options.idle_timeout - time.monotonic()))
        if self.stop_event is not None and not isinstance(self.stop_event, asyncio.Event | threading.Event):
            timeouts.append(STOP_POLL)  # a duck-typed stop flag can only be looked at
        return min(timeouts, default=None)

    def relay_stop_event(self) -> None:
        """A ``threading.Event`` stop: a thread waits on it and calls stop(), so nobody polls it."""
        event = self.stop_event
        if not isinstance(event, threading.Event):
            return

        def relay() -> None:
            while not self.stopping:  # the run may end first: then this thread ends within RELAY_WAIT
                if event.wait(RELAY_WAIT):
                    self.stop()

        threading.Thread(target=relay, name="tailmerge stop relay", daemon=True).start()

    def check_stop(self) -> None:
        """Stop when the caller's stop event is set or the sources have been idle too long."""
        if self.stop_event is not None and self.stop_event.is_set():
            self.stop()
        idle = self.options.idle_timeout
        if idle is not None and time.monotonic() - self.last_activity >= idle:
            log.info("no source grew for %g s; stopping", idle)
            self.stop()

    @contextmanager
    def _subscribed(self, follower: Follower[Any], signal: Signal) -> Iterator[bool]:
        """Register ``signal`` with the waker (and with stop()) for as long as ``follower`` is driven;
        yields whether the follower is event-driven (else it polls)."""
        self._signals.add(signal)
        watched = self._watched(follower)
        try:
            yield self.options.follow and watched.watch(self.watcher, signal)
        finally:
            if not self.stopping:  # when the run stops the waker is closed whole: no need to queue for its lock
                watched.unwatch(self.watcher, signal)
            self._signals.discard(signal)

    # -- the blocking driver (threads and mixed) -------------------------------------------------

    def drive_blocking(self, follower: Follower[T], hand_over: Callable[[list[T]], None]) -> None:
        """Follow until done or stopped, blocking this thread between looks. (The note's ``tail_file``.)"""
        signal = threading.Event()
        with self._subscribed(follower, signal) as event_driven:
            try:
                self._drive_blocking(follower, hand_over, signal, event_driven)
            except BaseException as e:
                self.fail(e)
                _close(follower)

    def _drive_blocking(
        self, follower: Follower[T], hand_over: Callable[[list[T]], None], signal: threading.Event, event_driven: bool
    ) -> None:
        # stopping is checked before the plan is resumed, never between a read and its hand-over:
        # lines read are always handed over, and nothing is read once the run is stopping
        active: _Gate = self._active
        active.acquire()
        try:
            for action in pace(follower, self.options, event_driven):
                if isinstance(action, Wait):
                    if self.stopping:
                        break
                    active.release()
                    signal.wait(action.timeout)
                    signal.clear()
                    if self.stopping:
                        # leave without queueing for the semaphore again: 10,000 followers stopping
                        # at once would otherwise take turns, eight at a time
                        active = _NO_GATE
                    active.acquire()
                else:
                    hand_over(action)
                if self.stopping:
                    break
            if self.failure is None:
                final = follower.finish()
                if final:
                    hand_over(final)
        finally:
            active.release()

    # -- the async driver (asyncio) --------------------------------------------------------------

    async def drive_async(self, follower: Follower[T], hand_over: Callable[[list[T]], Awaitable[None]]) -> None:
        """Follow until done or stopped, awaiting between looks; one task per follower."""
        signal = asyncio.Event()
        with self._subscribed(follower, signal) as event_driven:
            try:
                await self._drive_async(follower, hand_over, signal, event_driven)
            except asyncio.CancelledError:
                _close(follower)
                raise
            except Exception as e:
                self.fail(e)
                _close(follower)

    async def _drive_async(
        self,
        follower: Follower[T],
        hand_over: Callable[[list[T]], Awaitable[None]],
        signal: asyncio.Event,
        event_driven: bool,
    ) -> None:
        for action in pace(follower, self.options, event_driven):  # stopping: as in _drive_blocking
            if isinstance(action, Wait):
                if not self.stopping:
                    try:
                        async with asyncio.timeout(action.timeout):  # None: until signalled
                            await signal.wait()
                    except TimeoutError:
                        pass
                    signal.clear()
            else:
                await hand_over(action)
                await asyncio.sleep(0)  # let the other followers have the loop between batches
            if self.stopping:
                break
        if self.failure is None:
            final = follower.finish()
            if final:
                await hand_over(final)

    # -- running --------------------------------------------------------------------------------

    async def run(self, paths: Sequence[str], discovery: Discovery | None) -> None:
        raise NotImplementedError

    def _followers(self, paths: Sequence[str], discovery: Discovery | None) -> tuple[list[Source], Discovery | None]:
        sources = self.new_sources(paths)
        return sources, discovery if self.options.follow else None

    def _deliver_sync(self, source: Source) -> Callable[[list[Chunk]], None]:
        def hand_over(chunks: list[Chunk]) -> None:
            self.touch()
            self.sink.deliver_sync(source, chunks)

        return hand_over

    def _deliver_async(self, source: Source) -> Callable[[list[Chunk]], Coroutine[Any, Any, None]]:
        async def hand_over(chunks: list[Chunk]) -> None:
            self.touch()
            await self.sink.deliver(source, chunks)

        return hand_over

    async def _supervise_async(self, followers: list[asyncio.Future[None]]) -> None:
        """Wait until every follower is done, or stop the run on idle time or the caller's stop event."""
        stop_event = self.stop_event
        stop_waiter = asyncio.ensure_future(stop_event.wait()) if isinstance(stop_event, asyncio.Event) else None
        try:
            while not self.stopping:
                waiters: list[asyncio.Future[Any]] = [f for f in followers if not f.done()]
                if not waiters:
                    return
                if stop_waiter is not None:
                    waiters.append(stop_waiter)
                await asyncio.wait(waiters, timeout=self.supervise_timeout(), return_when=asyncio.FIRST_COMPLETED)
                self.check_stop()
        finally:
            if stop_waiter is not None:
                stop_waiter.cancel()

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure


class _Gate(Protocol):
    def acquire(self) -> object: ...

    def release(self) -> None: ...


class _NoGate:
    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass


_NO_GATE = _NoGate()


def _close(follower: Follower[Any]) -> None:
    if isinstance(follower, Source):
        follower.close()


class ThreadsEngine(Engine):
    """A thread per source; the sink's lock keeps lines from mixing."""

    def run_sync(self, paths: Sequence[str], discovery: Discovery | None) -> None:
        """Run in this thread until every source is done or the run is stopped."""
        followers: list[threading.Thread] = []
        lock = threading.Lock()
        alive = 0  # follower threads not yet ended (counted, not scanned: there may be 10,000)
        changed = threading.Event()  # a follower thread ended, or stop() was called
        self._signals.add(changed)

        def start(target: Callable[[], None], name: str) -> None:
            nonlocal alive

            def body() -> None:
                nonlocal alive
                try:
                    target()
                finally:
                    with lock:
                        alive -= 1
                    changed.set()

            thread = threading.Thread(target=body, name=name, daemon=True)
            with lock:
                followers.append(thread)
                alive += 1
            thread.start()

        def follow(source: Source) -> None:
            start(lambda: self.drive_blocking(source, self._deliver_sync(source)), f"tailmerge {source.path}")

        def add_paths(new: list[str]) -> None:
            for source in self.new_sources(new):
                follow(source)

        waker = None
        self.relay_stop_event()
        if self.watcher.event_driven:
            waker = threading.Thread(target=self.watcher.run_blocking, name="tailmerge waker", daemon=True)
            waker.start()
        try:
            sources, discovery = self._followers(paths, discovery)
            for source in sources:
                follow(source)
            if discovery is not None:
                start(lambda: self.drive_blocking(discovery, add_paths), "tailmerge discovery")
            while not self.stopping:
                with lock:
                    if not alive:
                        break
                # the main thread sleeps until a follower ends, stop() is called, or idle time is up
                changed.wait(self.supervise_timeout())
                changed.clear()
                self.check_stop()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            joined = 0
            while joined < len(followers):  # discovery may have started more while we joined
                followers[joined].join()
                joined += 1
            self.watcher.stop_blocking()
            if waker is not None:
                waker.join(timeout=1.0)
            self.watcher.close()
            self._signals.discard(changed)
        self._raise_failure()

    async def run(self, paths: Sequence[str], discovery: Discovery | None) -> None:
        relay = None
        if isinstance(self.stop_event, asyncio.Event):
            # the supervisor thread cannot await the caller's event: a task relays it as stop()
            relay = asyncio.create_task(_relay_stop(self.stop_event, self))
        try:
            await _in_thread(self, lambda: self.run_sync(paths, discovery))
        finally:
            if relay is not None:
                relay.cancel()


class MixedEngine(Engine):
    """Blocking followers in a dedicated executor; their lines cross to the loop, which does all writes."""

    async def run(self, paths: Sequence[str], discovery: Discovery | None) -> None:
        loop = asyncio.get_running_loop()
        executors: list[concurrent.futures.ThreadPoolExecutor] = []
        futures: list[asyncio.Future[None]] = []

        def to_loop(source: Source) -> Callable[[list[Chunk]], None]:
            deliver = self._deliver_async(source)

            def hand_over(chunks: list[Chunk]) -> None:
                future = asyncio.run_coroutine_threadsafe(deliver(chunks), loop)
                wait_bounded(future, loop.is_closed)

            return hand_over

        def launch(jobs: list[Callable[[], None]]) -> None:
            # sized to the followers: the default executor (min(32, cpus + 4) workers) would leave some
            # files never followed once there are more of them than workers
            if not jobs:
                return
            executor = concurrent.futures.ThreadPoolExecutor(len(jobs), thread_name_prefix="tailmerge")
            executors.append(executor)
            futures.extend(loop.run_in_executor(executor, job) for job in jobs)

        def add_paths(new: list[str]) -> None:
            sources = self.new_sources(new)
            loop.call_soon_threadsafe(launch, [_bind(self.drive_blocking, s, to_loop(s)) for s in sources])

        self.relay_stop_event()
        waker = asyncio.create_task(self.watcher.run()) if self.watcher.event_driven else None
        try:
            sources, discovery = self._followers(paths, discovery)
            jobs = [_bind(self.drive_blocking, s, to_loop(s)) for s in sources]
            if discovery is not None:
                jobs.append(_bind(self.drive_blocking, discovery, add_paths))
            launch(jobs)
            await self._supervise_async(futures)
        finally:
            self.stop()
            # the workers see the stop at their next look (at most one bounded wait away)
            await asyncio.gather(*futures, return_exceptions=True)
            for executor in executors:
                executor.shutdown(wait=False)
            if waker is not None:
                waker.cancel()
            self.watcher.close()
        self._raise_failure()


class AsyncioEngine(Engine):
    """A task per source: reading, waiting and writing all live on the event loop."""

    _loop: asyncio.AbstractEventLoop | None = None

    async def run(self, paths: Sequence[str], discovery: Discovery | None) -> None:
        self._loop = asyncio.get_running_loop()
        tasks: list[asyncio.Future[None]] = []

        def add_paths_now(new: list[str]) -> None:
            for source in self.new_sources(new):
                tasks.append(asyncio.create_task(self.drive_async(source, self._deliver_async(source))))

        async def add_paths(new: list[str]) -> None:
            add_paths_now(new)

        self.relay_stop_event()
        waker = asyncio.create_task(self.watcher.run()) if self.watcher.event_driven else None
        try:
            sources, discovery = self._followers(paths, discovery)
            for source in sources:
                tasks.append(asyncio.create_task(self.drive_async(source, self._deliver_async(source))))
            if discovery is not None:
                tasks.append(asyncio.create_task(self.drive_async(discovery, add_paths)))
            await self._supervise_async(tasks)
        finally:
            self.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            if waker is not None:
                waker.cancel()
            self.watcher.close()
        self._raise_failure()

    def _wake(self, sig: Signal) -> None:
        # stop() may come from another thread (a signal handler, a sync caller): asyncio.Event is not
        # thread-safe, so set it on the loop
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(sig.set)
        except RuntimeError:
            pass  # the loop is closing; its tasks are already done


async def _relay_stop(event: asyncio.Event, engine: Engine) -> None:
    await event.wait()
    engine.stop()


def _bind(drive: Callable[[Any, Any], None], follower: Any, hand_over: Any) -> Callable[[], None]:
    return lambda: drive(follower, hand_over)


def wait_bounded(future: concurrent.futures.Future[None], give_up: Callable[[], bool]) -> None:
    """Wait for the loop to run a hand-over, but never forever: a loop that has gone may never run it."""
    while True:
        try:
            future.result(timeout=0.5)
            return
        except concurrent.futures.TimeoutError:
            if give_up():
                future.cancel()
                return


async def _in_thread(engine: Engine, fn: Callable[[], None]) -> None:
    """Run a blocking engine from async code; cancelling the awaiting task stops it cleanly."""
    loop = asyncio.get_running_loop()
    thread_done: asyncio.Future[None] = loop.create_future()

    def body() -> None:
        try:
            fn()
        except BaseException as e:
            loop.call_soon_threadsafe(_settle, thread_done, e)
        else:
            loop.call_soon_threadsafe(_settle, thread_done, None)

    threading.Thread(target=body, name="tailmerge threads engine", daemon=True).start()
    try:
        await asyncio.shield(thread_done)
    except asyncio.CancelledError:
        engine.stop()
        await asyncio.wait([thread_done])
        raise


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


def make_engine(options: Options, sink: Sink, stop_event: StopFlag | None = None) -> Engine:
    cls = {"threads": ThreadsEngine, "mixed": MixedEngine, "asyncio": AsyncioEngine}[options.engine]
    return cls(options, sink, stop_event)
