"""The output stream (a file or standard output): one descriptor, written with whole batches of lines.

``Output`` owns the descriptor: whole batches of complete lines go out with one ``writev``, so lines of
different sources never mix. A pipe is written through a non-blocking description of its own, so a
reader that stops reading never traps a write.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
from collections.abc import Callable, Sequence

from ..core import Identity

__all__ = ["Buffer", "Output", "OutputClosed", "OutputError", "WriteAbandoned"]

_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
Buffer = bytes | memoryview


class OutputError(Exception):
    """The output cannot be written (disk full, read-only, ...); the message says which and why."""


class OutputClosed(Exception):
    """The reader of the output went away (a closed pipe): stop quietly."""


class WriteAbandoned(Exception):
    """A write to an output whose reader stopped reading was given up (a stop's grace ran out)."""


class Output:
    """The one writer of the merged stream: a file descriptor written with whole batches of lines."""

    def __init__(self, path: str | None, *, append: bool = False) -> None:
        self.path = path
        self.name = path if path is not None else "standard output"
        self.fd = self._open(append) if path is not None else 1
        self._lock = threading.Lock()
        self.reopen_requested = False
        self.on_reopen: Callable[[], None] | None = None
        """Called when a reopen is asked for (the writer wakes to do it)."""
        self.bytes = 0
        self._own_pipe = -1
        _widen_pipe(self.fd)
        if _is_fifo(self.fd):
            # a pipe is written without blocking, through a description of our own (O_NONBLOCK on the
            # shared one would surprise the other writers of the pipe): a reader that stops reading
            # never traps a write, so a stop can give up on it, knowing exactly what went in
            try:
                self._own_pipe = os.open(f"/proc/self/fd/{self.fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                pass  # no /proc: blocking writes, and a stalled reader holds the writer thread
            else:
                self.fd = self._own_pipe

    def _open(self, append: bool) -> int:
        assert self.path is not None
        # O_APPEND always: a SIGHUP reopen or a resumed state goes on at the end; truncated only once
        # locked, so a second tailmerge on the same output refuses before it destroys anything
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_APPEND, 0o644)
        except OSError as e:
            raise OutputError(f"cannot open output {self.path}: {e.strerror}") from e
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if not append:
                    os.ftruncate(fd, 0)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"output {self.path}: written by another tailmerge (one writer per output)") from None
        except OSError as e:
            os.close(fd)
            raise OutputError(f"cannot open output {self.path}: {e.strerror}") from e
        return fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def identity(self) -> Identity | None:
        """The output's file identity when it is a regular file (so no input can be it), else None."""
        try:
            st = os.fstat(self.fd)
        except OSError:
            return None
        return Identity(st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None

    def is_stream(self) -> bool:
        """A pipe or a socket: its reader can go away."""
        try:
            mode = os.fstat(self.fd).st_mode
        except OSError:
            return False
        return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)

    @property
    def nonblocking(self) -> bool:
        return self._own_pipe >= 0

    def write(self, buffers: Sequence[Buffer], wait: Callable[[], bool] | None = None) -> list[Buffer]:
        """Write every buffer, in order, with as few system calls as the kernel allows (writev); return
        what was not written.

        A non-blocking output that is full calls ``wait()`` (which returns once it may be writable) and
        goes on; when ``wait()`` returns False the rest is given up: :class:`WriteAbandoned`. Without
        ``wait``, the rest is returned."""
        views = [memoryview(b) for b in buffers if b]
        with self._lock:
            while views:
                try:
                    n = os.writev(self.fd, views[:_IOV_MAX])
                except BlockingIOError:
                    if wait is None:
                        return list(views)  # views of the caller's buffers: nothing is copied
                    if not wait():
                        raise WriteAbandoned() from None
                    continue
                except BrokenPipeError as e:
                    raise OutputClosed() from e
                except OSError as e:
                    if e.errno == errno.EINTR:
                        continue
                    raise OutputError(f"cannot write to {self.name}: {e.strerror}") from e
                self.bytes += n
                done = 0  # buffers written whole: dropped at once, not one by one from the front
                while n and n >= len(views[done]):
                    n -= len(views[done])
                    done += 1
                del views[:done]
                if n:
                    views[0] = views[0][n:]
        return []

    def reopen(self) -> None:
        """Ask for the output path to be opened again (SIGHUP: logrotate moved our output away). Safe in a
        signal handler: it only asks; the writer does it between two writes (``reopen_now``)."""
        if self.path is None:
            return
        self.reopen_requested = True
        if self.on_reopen is not None:
            self.on_reopen()

    def reopen_now(self) -> bool:
        """Open the path again, unless it still names the file written; return whether it was reopened."""
        self.reopen_requested = False
        if self.path is None:
            return False
        try:
            st, here = os.stat(self.path), os.fstat(self.fd)
            if (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino):
                return False  # not moved: a second description would only fight our own lock
        except OSError:
            pass
        fd = self._open(append=True)
        with self._lock:  # never between two parts of one write
            old, self.fd = self.fd, fd
        os.close(old)
        return True

    def close(self) -> None:
        if (self.path is not None or self._own_pipe >= 0) and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _is_fifo(fd: int) -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


def _widen_pipe(fd: int) -> None:
    """A pipe of 1 MiB instead of 64 KiB: fewer wake-ups of both ends when copying fast."""
    try:
        import fcntl

        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ImportError):
        pass  # not permitted (pipe-max-size) or not Linux: the default size works, only slower
