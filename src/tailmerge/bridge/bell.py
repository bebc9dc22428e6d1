"""A bell the run's main thread sleeps on: rung from any thread, and by any signal, whichever thread the
kernel gives it to.

Python runs a signal handler in the main thread only, once that thread runs again. A process-directed
signal may be taken by any of the run's threads (a follower, the writer); the main thread, asleep in
``epoll_wait`` or on a lock with no timeout, would then not run the handler until something else woke it.
``signal.set_wakeup_fd`` makes the C-level handler write the signal's number to the bell, so the sleeper
wakes and the handler runs at once (asyncio's ``add_signal_handler`` does the same for its own handlers).
"""

from __future__ import annotations

import select
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from .stop import StopToken

__all__ = ["Bell", "signals_wake"]


class Bell:
    """``ring()`` from any thread (or a signal handler); ``wait()`` in the thread that sleeps, or give
    ``fileno()`` to an event loop. As a context manager, signals ring it too (in the main thread only, and
    only if nothing else, such as asyncio, has a wake-up descriptor set already)."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._signals = False
        self._poll = select.poll()  # not select.select: the descriptor may be past 1024 (10,000 files)
        self._poll.register(self._read, select.POLLIN)

    def __enter__(self) -> Bell:
        if threading.current_thread() is threading.main_thread():
            previous = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
            if previous != -1:  # someone else wakes this thread for signals: leave them to it
                signal.set_wakeup_fd(previous)
            else:
                self._signals = True
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._signals:
            if threading.current_thread() is not threading.main_thread():
                # only the main thread may unset it (a generator closed elsewhere): the sockets stay open,
                # so signals never write into a descriptor that a later file reuses
                return
            signal.set_wakeup_fd(-1)
            self._signals = False
        self._read.close()
        self._write.close()

    def fileno(self) -> int:
        return self._read.fileno()

    def ring(self) -> None:
        try:
            self._write.send(b"\0")
        except OSError:  # full (it is rung already) or closed (the run is over)
            pass

    def wait(self, timeout: float | None) -> None:
        """Sleep until rung (or ``timeout`` seconds), then clear it."""
        self._poll.poll(None if timeout is None else timeout * 1000)
        self.clear()

    def clear(self) -> None:
        try:
            while self._read.recv(4096):
                pass
        except OSError:  # empty
            pass


@contextmanager
def signals_wake(loop: asyncio.AbstractEventLoop, token: StopToken) -> Iterator[None]:
    """Signals wake the loop, whichever of the run's threads takes them (a ``Bell`` the loop watches),
    and the loop makes the stop a signal handler asked for."""

    def rung() -> None:
        bell.clear()
        token.take_request()

    with Bell() as bell:
        token.bell = bell.ring
        loop.add_reader(bell.fileno(), rung)
        try:
            yield
        finally:
            loop.remove_reader(bell.fileno())
            token.bell = None
