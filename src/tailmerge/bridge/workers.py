"""The blocking followers' threads: a small pool that a follower takes a worker from only while it has
something to do, and gives back when it waits.

A thread per file does not scale in Python: on this 2-core machine starting 10,000 threads that only wait
took 3 to 8 s, and ending them as long (each must take the GIL once to start and once to leave, and
10,000 of them queue for it). A follower that is caught up holds no thread here: its next leg is queued
when its signal is set (the waker, a stop) or its wait times out (the pool's clock); the queue is first
come, first served.

Few workers, more when they are stuck. Legs that read the page cache hold the GIL most of the time, so
each worker more mostly adds GIL hand-overs (at every system call): 10,000 first legs took about 2 s
with one or two workers and 3-4 s with eight. So ``base`` workers run (two: one may wait on a slow disk
while the other reads), and the clock adds one, up to ``size``, each ``STALL`` seconds in which work was
queued and no job ended (reads blocked on a hung network filesystem); the added ones retire once the
queue is empty. A leg that waits for another follower's progress (room in time order) lends its place
(``lend``): another worker may start at once, or the followers that would make room could never run.
``Workers`` is also a ``concurrent.futures.Executor``.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

__all__ = ["Timer", "Workers"]

log = logging.getLogger("tailmerge")

STALL = 0.05  # seconds with work queued and no job ended, after which one more worker starts (up to size)

P = ParamSpec("P")
T = TypeVar("T")
Job = Callable[[], object]


class Timer:
    """A job's turn on the workers' clock (``Workers.later``). A follower's timed wait that its signal
    ends first cancels its turn: at 2,000 wakes a second under rotation (every wait timed), the turns
    left to fire woke the clock and a worker 2,000 times a second for nothing."""

    __slots__ = ("job",)

    def __init__(self, job: Job) -> None:
        self.job: Job | None = job

    def cancel(self) -> None:
        """The job will not be queued (from any thread; it may be queued already)."""
        self.job = None


class Workers(Executor):
    """``base`` threads run queued jobs, up to ``size`` while they are stuck, and more only while some
    ``lend`` their place. Threads start when there is work and no idle worker, and are joined by
    ``shutdown``."""

    def __init__(self, size: int, base: int = 2, name: str = "tailmerge worker") -> None:
        self.size = size
        self.base = min(base, size)
        self._name = name
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # idle workers sleep here
        self._tick = threading.Condition(self._lock)  # the clock sleeps here
        self._ready: deque[Job] = deque()
        self._threads: set[threading.Thread] = set()
        self._idle = 0  # workers asleep on _work and not yet notified
        self._lent = 0
        self._held = 0
        self._ended = 0  # jobs ended: the clock's measure of progress
        self._retiring = 0  # idle workers told to end (the queue emptied after a stall)
        self._closed = False
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._clock: threading.Thread | None = None
        self._clock_asleep = False  # the clock sleeps with no timeout: a job queued behind busy workers wakes it

    # -- queueing -------------------------------------------------------------------------------

    def run(self, job: Job) -> None:
        """Run ``job`` on a worker after the jobs queued before it (from any thread). A job must not raise:
        what it raises is logged."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the workers were shut down")
            self._ready.append(job)
            self._dispatch()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """``run`` with a future for the result (an ``Executor``)."""
        future: Future[T] = Future()

        def job() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as e:
                    future.set_exception(e)
                else:
                    future.set_result(result)

        self.run(job)
        return future

    @property
    def queued(self) -> bool:
        """Jobs wait for a worker (a long job ends early then, and queues its rest behind them)."""
        return bool(self._ready)

    def later(self, delay: float, job: Job) -> Timer:
        """Queue ``job`` in ``delay`` seconds (the clock: one thread, started when first needed)."""
        timer = Timer(job)
        with self._lock:
            if self._closed:
                return timer
            self._seq += 1
            at = time.monotonic() + delay
            heapq.heappush(self._timers, (at, self._seq, timer))
            if self._clock is None:
                self._clock = self._start(self._keep_time, f"{self._name} clock")
            elif self._timers[0][0] == at:  # sooner than the clock sleeps
                self._tick.notify()
        return timer

    @contextmanager
    def held(self) -> Iterator[None]:
        """No queued job starts meanwhile (while the first followers are launched, so that each queued
        leg does not take the GIL from the thread that queues the next)."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                for _ in range(min(len(self._ready), self.base)):
                    self._dispatch()

    @contextmanager
    def lend(self) -> Iterator[None]:
        """This worker waits for other jobs' progress: another may run in its place meanwhile."""
        with self._lock:
            self._lent += 1
            if self._ready:
                self._dispatch()
        try:
            yield
        finally:
            with self._lock:
                self._lent -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more jobs; the workers end once the queue is empty (``wait``: join them)."""
        with self._lock:
            self._closed = True
            self._work.notify_all()
            self._tick.notify()
            threads = [*self._threads, *([self._clock] if self._clock is not None else [])]
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    # -- the threads ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """A job was queued (lock held): wake an idle worker, or start one if fewer than ``base`` run."""
        if self._held:
            return
        if self._idle:
            self._idle -= 1
            self._work.notify()
        elif self._running() < self.base:
            self._grow()
        elif self._clock_asleep:  # queued behind busy workers: the clock watches for a stall
            self._clock_asleep = False
            self._tick.notify()

    def _running(self) -> int:
        return len(self._threads) - self._lent - self._retiring

    def _grow(self) -> None:
        if self._closed:
            return
        self._threads.add(self._start(self._serve, self._name))
        if self._clock is None:  # it watches for stalls
            self._clock = self._start(self._keep_time, f"{self._name} clock")
        else:
            self._tick.notify()

    def _start(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                while self._held or not self._ready or self._retiring:
                    if self._closed or self._retiring:
                        if self._retiring:
                            self._retiring -= 1
                        self._threads.discard(me)
                        return
                    self._idle += 1
                    self._work.wait()
                job = self._ready.popleft()
            try:
                job()
            except BaseException:  # a job's own failure is its own to report; the worker goes on
                log.exception("a worker's job failed")
            with self._lock:
                self._ended += 1
                if len(self._threads) - self._lent > self.size:  # a lender is back: one worker too many
                    self._threads.discard(me)
                    return

    def _keep_time(self) -> None:
        """The clock: queues the jobs whose turn came, adds a worker when the queue stalls, and retires
        the added ones once it is empty. It sleeps without a timeout when nothing is due or queued."""
        ended, looked = -1, time.monotonic()
        with self._lock:
            while not self._closed:
                now = time.monotonic()
                # cancelled turns leave, however far off: the clock sleeps until the first live one
                while self._timers and (self._timers[0][0] <= now or self._timers[0][2].job is None):
                    if (job := heapq.heappop(self._timers)[2].job) is not None:
                        self._ready.append(job)
                        self._dispatch()
                queued = bool(self._ready) and not self._held
                if now - looked >= STALL:  # a look at progress, once a STALL however often it wakes
                    if queued and self._ended == ended and not self._idle and self._running() < self.size:
                        self._grow()  # nothing ended for STALL seconds: the workers are stuck
                    elif not queued and self._idle and self._running() > self.base:
                        self._idle -= 1  # the stall is over: one added worker ends
                        self._retiring += 1
                        self._work.notify()
                    ended, looked = self._ended, now
                timeout = self._timers[0][0] - now if self._timers else None
                if queued or self._running() > self.base:
                    timeout = STALL if timeout is None else min(timeout, STALL)
                self._clock_asleep = timeout is None
                self._tick.wait(timeout)
                if self._clock_asleep or timeout is None:  # slept until told: progress is measured from now
                    self._clock_asleep = False
                    ended, looked = self._ended, time.monotonic()
