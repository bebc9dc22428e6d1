"""How one follower is followed until it is done or the run stops, in *legs*: a leg runs the plan until it
must wait (or is done), and the wait comes between two legs. Written once, ``_Drive``; an engine says only
where a leg runs and how the wait is waited:

* threads: a leg runs on one of the run's workers (``bridge.Workers``: two threads, up to eight while
  stuck) and hands over by blocking; between legs the follower holds no thread (``_Parked``: its signal
  queues its next leg);
* mixed: a coroutine per follower waits on the loop, and its legs run in the same workers
  (``LegBatches``), handing over with ``run_coroutine_threadsafe`` (``ToLoop``);
* asyncio: a coroutine per follower waits on the loop and runs its legs there, awaiting the hand-over.

The blocking and the awaiting leg are declared twins: the same steps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Generic, TypeVar

from ..bridge import StopToken, Timer, Workers, call_soon
from ..core import Follower, Wait, pace
from ..merge import Merge
from ..options import Options
from ..sinks import Origin, OutputClosed
from ..sources import Compressed, Discovery, Source, Stdin
from ..watch import Signal, Watcher
from .batches import ToLoop

__all__ = ["ACTIVE_FOLLOWERS", "AGAIN", "READS_AHEAD", "Drivers"]

ACTIVE_FOLLOWERS = 8  # blocking followers that may read or hand over at once (the most the workers grow to)
# followers on the loop that may hold lines read and not yet handed over (their turns): one hands over while
# the next has read (that read overlaps the writer thread's write), the others read only then. Each holds up
# to a step (8 MiB): with no bound, copying 8 files held all 8 and their formatted copies (labeled: 104 MB
# peak RSS; 49 MB now). The blocking engines' bound is their two workers.
READS_AHEAD = 2

T = TypeVar("T")

AGAIN = Wait(0.0)
"""A leg's end with more to read: its next leg is queued at once, behind the others waiting."""


class Drivers:
    """What a run drives its followers with; ``Run`` supplies the state below."""

    options: Options
    merge: Merge
    token: StopToken
    watcher: Watcher
    workers: Workers
    _turns: asyncio.Semaphore | None = None

    def _ended(self, follower: Follower[Any]) -> None:
        """``follower`` is no longer driven (however it ended)."""
        raise NotImplementedError

    @contextmanager
    def _launching(self) -> Iterator[None]:
        """No blocking follower reads while the first ones are launched: their first legs wait in the
        workers' queue, instead of taking the GIL from the thread that launches the next one."""
        with self.workers.held():
            yield
        # --idle-exit counts from here, not from when the merge was made: opening 2,000 files and starting
        # a thread for each took longer than 2 s under load, and such a run stopped before reading anything
        self.merge.last_activity = time.monotonic()

    def turns(self) -> asyncio.Semaphore:
        """The loop's turns to read (``READS_AHEAD``), made on first use on the run's loop."""
        if self._turns is None:
            self._turns = asyncio.Semaphore(READS_AHEAD)
        return self._turns

    async def await_room(self, origin: Origin) -> None:
        """A follower on the loop whose source holds too much in time order awaits room here, giving up
        its turn to the others meanwhile (one of them holds back what it waits for); ``Run.wait_room``'s
        twin."""
        if self.merge.full(origin) and not self.token.is_set():
            turns = self.turns()
            turns.release()
            try:
                await self.merge.await_room(origin)
            finally:
                await turns.acquire()

    def _plan(self, follower: Follower[T], event_driven: bool) -> Iterator[list[T] | Wait]:
        o = self.options
        return pace(
            follower, follow=o.follow, event_driven=event_driven, poll_interval=o.poll_interval, poll_max=o.poll_max
        )

    def _subscribe(self, follower: Follower[Any], signal: Signal, wake: Callable[[], None]) -> _Subscription:
        """Register ``signal`` with the waker, and ``wake`` with the stop token, until ``_unsubscribe``.
        Plain calls rather than a context manager: a suspended generator per follower is kilobytes at
        10,000 files."""
        handle = self.token.on_stop(wake)
        # a file is watched by name; discovery and standard input say themselves how they are woken (the
        # stdin reader is a thread of its own: it wakes through ``wake``, which is safe from any thread)
        # an archive is never watched: it does not grow
        # a stream source (``sources.stream``, imported only when one is read) wakes as standard input does
        threaded = isinstance(follower, Stdin) or getattr(follower, "reads_in_thread", False)
        watched: Any = follower if threaded or isinstance(follower, Discovery | Compressed) else None
        # a source's absolute path, taken when it was made: not asked again of the current folder
        path = follower.abspath if isinstance(follower, Source) else follower.path
        try:
            if watched is not None:
                event_driven = watched.watch(self.watcher, _Wake(wake) if threaded else signal)
            else:
                real = follower.real_path if isinstance(follower, Source) else None
                event_driven = self.watcher.watch_file(path, signal, real)
        except OSError:
            event_driven = False
        if event_driven and isinstance(follower, Source):  # the waker says when the path needs a look
            follower.path_news = _PathNews(self.watcher, signal)
        return _Subscription(event_driven, handle, watched, path)

    def _unsubscribe(self, sub: _Subscription, signal: Signal) -> None:
        if sub.watched is not None:
            sub.watched.unwatch(self.watcher, signal)
        else:
            self.watcher.unwatch_file(sub.path, signal)
        self.token.forget(sub.handle)

    def drive_blocking(
        self, follower: Follower[T], hand_over: Callable[[list[T]], None], on_end: Callable[[], None]
    ) -> None:
        """Follow on the run's workers until done or stopped (the threads engine; the note's ``tail_file``,
        a thread per *busy* file): the first leg is queued now, and each later one when the follower's
        signal is set or its wait times out. ``on_end``: called once the follower has ended."""
        parked = _Parked(self.workers, on_end)
        parked.drive = _Drive(self, follower, hand_over, parked, parked.set)
        parked.set()

    async def drive_async(
        self,
        follower: Follower[T],
        hand_over: Callable[[list[T]], Any],
        legs: Callable[[_Drive[Any]], Awaitable[Wait | None]] | None = None,
    ) -> None:
        """Follow until done or stopped, waiting on the loop between legs (the note's ``tail_async``). The
        legs run on the loop, awaiting ``hand_over`` (asyncio engine), or where ``legs`` runs them (the
        workers: ``LegBatches``), with a blocking ``hand_over`` (mixed engine)."""
        loop = asyncio.get_running_loop()
        signal = asyncio.Event()
        drive = _Drive(self, follower, hand_over, signal, lambda: call_soon(loop, signal.set))
        try:
            while True:
                wait = await (drive.aleg() if legs is None else legs(drive))
                if wait is None:
                    return
                if wait is AGAIN:
                    continue
                if wait.timeout is None:  # until signalled: no timer to arm and cancel
                    await signal.wait()
                else:
                    try:
                        async with asyncio.timeout(wait.timeout):
                            await signal.wait()
                    except TimeoutError:
                        pass
                signal.clear()
        except asyncio.CancelledError:
            drive.cancelled()
            raise


class _Drive(Generic[T]):
    """One follower from its first look to its end, in legs (slots: 10,000 files)."""

    __slots__ = ("done", "follower", "hand_over", "plan", "run", "signal", "sub", "wake")

    def __init__(
        self,
        run: Drivers,
        follower: Follower[T],
        hand_over: Callable[[list[T]], Any],
        signal: Signal,
        wake: Callable[[], None],
    ) -> None:
        self.run = run
        self.follower = follower
        self.hand_over = hand_over
        self.signal = signal
        self.wake = wake
        self.plan: Iterator[list[T] | Wait] | None = None
        self.sub: _Subscription | None = None
        self.done = False

    def _resume(self) -> Iterator[list[T] | Wait] | None:
        """The plan to go on with; None when the run stopped during the wait (the first leg always looks)."""
        if self.plan is None:
            self.sub = self.run._subscribe(self.follower, self.signal, self.wake)
            self.plan = self.run._plan(self.follower, self.sub.event_driven)
            return self.plan
        return None if self.run.token.is_set() else self.plan

    def leg(self) -> Wait | None:
        """Run the plan in this thread until it waits (the ``Wait``) or is done (None), handing over by
        blocking. Stopping is looked at after each hand-over and each wait, never between a read and its
        hand-over: lines read are always handed over, and nothing more is read once the run is stopping."""
        try:
            complete = False
            if (plan := self._resume()) is not None:
                while (action := next(plan, None)) is not None:
                    if isinstance(action, Wait):
                        return action
                    self.hand_over(action)
                    action = None  # handed over: not kept through the next read
                    if self.run.token.is_set():
                        break
                    if self.run.workers.queued and not self.follower.caught_up:
                        # others wait for a worker: this follower goes on behind them. Each file gets a turn
                        # per step, and the workers' clock sees legs end (a copy of eight big files in legs
                        # of a whole file looked stuck to it: eight workers, and a step held by each)
                        return AGAIN
                else:
                    complete = True
            if final := self.follower.finish(complete, _reader_left(self.run.token)):
                self.hand_over(final)
            _flush(self.hand_over)
        except BaseException as e:
            self.run.token.fail(e)
            _close(self.follower)
            with suppress(Exception):  # lines read are handed over, unless the hand-over is what failed
                _flush(self.hand_over)
        self._end()
        return None

    async def aleg(self) -> Wait | None:
        """As ``leg``, on the loop, awaiting the hand-over."""
        try:
            complete = False
            if (plan := self._resume()) is not None:
                turns = self.run.turns()
                busy = False  # the last action was a hand-over
                while True:
                    async with turns:  # a look that reads keeps its turn until what it read is handed over
                        action = next(plan, None)
                        if action is None:
                            complete = True
                            break
                        if isinstance(action, Wait):
                            return action
                        if busy:  # let the other followers have the loop between two batches (a wait does)
                            await asyncio.sleep(0)
                        await self.hand_over(action)
                        action = None  # handed over: not kept while this follower waits for a turn
                    busy = True
                    if self.run.token.is_set():
                        break
            if final := self.follower.finish(complete, _reader_left(self.run.token)):
                async with self.run.turns():  # as any hand-over: a wait for room in it gives this turn up
                    await self.hand_over(final)
        except Exception as e:
            self.run.token.fail(e)
            _close(self.follower)
        self._end()
        return None

    def cancelled(self) -> None:
        """The driving task was cancelled (the run's loop is closing)."""
        if not self.done:
            _close(self.follower)
            self._end()

    def _end(self) -> None:
        self.done = True
        if self.sub is not None:
            self.run._unsubscribe(self.sub, self.signal)
        self.run._ended(self.follower)


class _Parked:
    """A follower's signal on the workers (threads engine). ``set()`` (the waker, the stop token, any
    thread) queues its next leg, unless one is queued already; set while a leg runs, the leg is queued
    again when it ends instead of waiting. A leg that ends waiting gives the worker back; a wait with a
    timeout asks the workers' clock for a turn then."""

    __slots__ = ("_again", "_lock", "_on_end", "_timer", "_turn", "_workers", "drive", "state")

    def __init__(self, workers: Workers, on_end: Callable[[], None]) -> None:
        self._workers = workers
        self._on_end = on_end
        self._lock = threading.Lock()
        self.drive: _Drive[Any]
        self.state = "parked"  # or "queued", "running", "done"
        self._again = False
        self._turn = 0  # which wait a clock's call is for (a wait ended by the signal is over)
        self._timer: Timer | None = None  # the clock's turn for the current timed wait

    def set(self) -> None:
        with self._lock:
            if self.state == "running":
                self._again = True
                return
            if self.state != "parked":
                return
            self.state = "queued"
            self._turn += 1
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._workers.run(self._leg)

    def _timed_out(self, turn: int) -> None:
        with self._lock:
            if self.state != "parked" or turn != self._turn:
                return
            self.state = "queued"
            self._turn += 1
        self._workers.run(self._leg)

    def _leg(self) -> None:
        with self._lock:
            self.state = "running"
            self._again = False
        wait = self.drive.leg()
        with self._lock:
            if wait is None:
                self.state = "done"
            elif self._again or wait is AGAIN:  # signalled meanwhile, or more to read: after those queued
                self.state = "queued"
            else:
                self.state = "parked"
            state, turn = self.state, self._turn
        if state == "done":
            self._on_end()
        elif state == "queued":
            self._workers.run(self._leg)
        elif wait is not None and wait.timeout is not None:
            self._timer = self._workers.later(wait.timeout, lambda: self._timed_out(turn))


class _PathNews:
    """Whether the waker saw a change of a followed path's folder entry (slots, not a closure: 10,000 files)."""

    __slots__ = ("signal", "watcher")

    def __init__(self, watcher: Watcher, signal: Signal) -> None:
        self.watcher, self.signal = watcher, signal

    def __call__(self) -> bool:
        return self.watcher.entry_changed(self.signal)


class _Subscription:
    """What ``_subscribe`` registered for one follower."""

    __slots__ = ("event_driven", "handle", "path", "watched")

    def __init__(self, event_driven: bool, handle: Any, watched: Any, path: str) -> None:
        self.event_driven = event_driven
        self.handle = handle
        self.watched = watched
        self.path = path


class _Wake:
    """A signal whose ``set()`` is the follower's thread-safe wake-up."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.set = wake


def _reader_left(token: StopToken) -> bool:
    """The run stops because the reader of its output asked for no more: it closed the pipe (``| head``), or
    the API's consumer stopped iterating. What is left unread then is no news to warn about."""
    return token.reason == "consumer" or isinstance(token.error, OutputClosed)


def _flush(hand_over: Callable[[list[Any]], Any]) -> None:
    """Send what a hand-over held back for its leg's end (``ToLoop``): the follower ends after its lines."""
    if isinstance(hand_over, ToLoop):
        hand_over.flush()


def _close(follower: Follower[Any]) -> None:
    if isinstance(follower, Source | Compressed):
        follower.close()
