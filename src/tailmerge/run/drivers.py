"""The two drivers: how one follower is followed until it is done or the run stops, blocking a thread
between looks (threads, mixed) or awaiting on the loop (asyncio). They are declared twins: the same
steps, one waiting on a ``threading.Event``, the other on an ``asyncio.Event``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..bridge import StopToken, WakeRelay, call_soon
from ..core import Follower, Wait, pace
from ..merge import Merge
from ..options import Options
from ..sinks import Origin
from ..sources import Compressed, Discovery, Source, Stdin
from ..watch import Signal, Watcher

__all__ = ["ACTIVE_FOLLOWERS", "Drivers"]

# followers that may hold lines read and not yet handed over, blocking (the gate) or on the loop (turns):
# one hands over while the next has read (that read overlaps the writer thread's write), the others read
# only then. Each holds up to a step (8 MiB): with a turn per follower, copying 8 files held all 8 and their
# formatted copies (labeled: 104 MB peak RSS on the loop, 168 MB with threads; now 51 and 64-76 MB). It also
# keeps thousands of runnable threads from fighting for the GIL.
ACTIVE_FOLLOWERS = 2

T = TypeVar("T")


class Drivers:
    """What a run drives its followers with; ``Run`` supplies the state below."""

    options: Options
    merge: Merge
    token: StopToken
    watcher: Watcher
    gate: threading.BoundedSemaphore
    relay: WakeRelay
    _turns: asyncio.Semaphore | None = None

    def _ended(self, follower: Follower[Any]) -> None:
        """``follower`` is no longer driven (however it ended)."""
        raise NotImplementedError

    @contextmanager
    def _gate_closed(self) -> Iterator[None]:
        """No blocking follower reads while the first ones are launched: each new thread then sleeps on the
        gate at once, instead of taking the GIL from the thread that starts the next one (10,000 threads
        started in 10 s, most of it waiting for the GIL back after each start)."""
        for _ in range(ACTIVE_FOLLOWERS):
            self.gate.acquire()
        try:
            yield
        finally:
            for _ in range(ACTIVE_FOLLOWERS):
                self.gate.release()
            # --idle-exit counts from here, not from when the merge was made: opening 2,000 files and starting
            # a thread for each took longer than 2 s under load, and such a run stopped before reading anything
            self.merge.last_activity = time.monotonic()

    async def await_room(self, origin: Origin) -> None:
        """A follower on the loop whose source holds too much in time order awaits room here, giving up
        its turn to the others meanwhile (one of them holds back what it waits for); ``Run.wait_room``'s
        twin."""
        if self.merge.full(origin) and not self.token.is_set():
            turns = self._turns
            assert turns is not None  # taken by drive_async, which hands over
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

    def _subscribe(
        self, follower: Follower[Any], signal: Signal, wake: Callable[[], None], relay: WakeRelay | None = None
    ) -> _Subscription:
        """Register ``signal`` with the waker, and ``wake`` with the stop token (through ``relay`` for a
        blocking follower: woken a few at a time), until ``_unsubscribe``. Plain calls rather than a context
        manager: a suspended generator per follower is kilobytes at 10,000 files."""
        handle = relay.add(wake) if relay is not None else self.token.on_stop(wake)
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
                event_driven = self.watcher.watch_file(path, signal)
        except OSError:
            event_driven = False
        if event_driven and isinstance(follower, Source):  # the waker says when the path needs a look
            follower.path_news = _PathNews(self.watcher, signal)
        return _Subscription(event_driven, handle, watched, path, relay)

    def _unsubscribe(self, sub: _Subscription, signal: Signal) -> None:
        if sub.watched is not None:
            sub.watched.unwatch(self.watcher, signal)
        else:
            self.watcher.unwatch_file(sub.path, signal)
        if sub.relay is not None:
            sub.relay.leave(sub.handle)
        else:
            self.token.forget(sub.handle)

    def drive_blocking(self, follower: Follower[T], hand_over: Callable[[list[T]], None]) -> None:
        """Follow until done or stopped, blocking this thread between looks (the note's ``tail_file``).

        Stopping is looked at before the plan is resumed, never between a read and its hand-over: lines
        read are always handed over, and nothing more is read once the run is stopping."""
        signal = threading.Event()
        gate = self.gate
        gate.acquire()  # before subscribing: a thread just started sleeps here at once (Run._gate_closed)
        try:
            sub = self._subscribe(follower, signal, signal.set, self.relay)
            try:
                complete = True
                plan = self._plan(follower, sub.event_driven)
                while (action := next(plan, None)) is not None:
                    if isinstance(action, Wait):
                        gate.release()
                        signal.wait(action.timeout)
                        signal.clear()
                        if self.token.is_set():
                            # leave without queueing for the gate: 10,000 followers stopping at once
                            # would otherwise take turns, two at a time
                            gate = _NO_GATE
                        gate.acquire()
                    else:
                        hand_over(action)
                        action = None  # handed over: not kept through the next read
                    if self.token.is_set():
                        complete = False
                        break
                if final := follower.finish(complete):
                    hand_over(final)
            except BaseException as e:
                self.token.fail(e)
                _close(follower)
            finally:
                self._unsubscribe(sub, signal)
        finally:
            self._ended(follower)
            gate.release()

    async def drive_async(self, follower: Follower[T], hand_over: Callable[[list[T]], Awaitable[None]]) -> None:
        """Follow until done or stopped, awaiting between looks; as ``drive_blocking``. A look that reads
        takes one of ``ACTIVE_FOLLOWERS`` turns, kept until what it read is handed over."""
        signal = asyncio.Event()
        loop = asyncio.get_running_loop()
        if self._turns is None:
            self._turns = asyncio.Semaphore(ACTIVE_FOLLOWERS)
        turns = self._turns
        try:
            sub = self._subscribe(follower, signal, lambda: call_soon(loop, signal.set))
            try:
                complete = True
                busy = False  # the last action was a hand-over
                plan = self._plan(follower, sub.event_driven)
                while True:
                    async with turns:
                        action = next(plan, None)
                        if action is None:
                            break
                        if not isinstance(action, Wait):
                            if busy:  # let the other followers have the loop between two batches (a wait does)
                                await asyncio.sleep(0)
                            await hand_over(action)
                            action = None  # handed over: not kept while this follower waits for a turn
                    busy = action is None
                    if isinstance(action, Wait):
                        if action.timeout is None:  # until signalled: no timer to arm and cancel
                            await signal.wait()
                        else:
                            try:
                                async with asyncio.timeout(action.timeout):
                                    await signal.wait()
                            except TimeoutError:
                                pass
                        signal.clear()
                    if self.token.is_set():
                        complete = False
                        break
                if final := follower.finish(complete):
                    await hand_over(final)
            except asyncio.CancelledError:
                _close(follower)
                raise
            except Exception as e:
                self.token.fail(e)
                _close(follower)
            finally:
                self._unsubscribe(sub, signal)
        finally:
            self._ended(follower)


class _PathNews:
    """Whether the waker saw a change of a followed path's folder entry (slots, not a closure: 10,000 files)."""

    __slots__ = ("signal", "watcher")

    def __init__(self, watcher: Watcher, signal: Signal) -> None:
        self.watcher, self.signal = watcher, signal

    def __call__(self) -> bool:
        return self.watcher.entry_changed(self.signal)


class _Subscription:
    """What ``_subscribe`` registered for one follower."""

    __slots__ = ("event_driven", "handle", "path", "relay", "watched")

    def __init__(self, event_driven: bool, handle: Any, watched: Any, path: str, relay: WakeRelay | None) -> None:
        self.event_driven = event_driven
        self.handle = handle
        self.watched = watched
        self.path = path
        self.relay = relay


class _Wake:
    """A signal whose ``set()`` is the follower's thread-safe wake-up."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.set = wake


class _NoGate:
    def acquire(self) -> None:
        pass

    def release(self) -> None:
        pass


_NO_GATE: Any = _NoGate()


def _close(follower: Follower[Any]) -> None:
    if isinstance(follower, Source | Compressed):
        follower.close()
