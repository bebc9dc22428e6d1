"""The output stream (a file or standard output): one descriptor, written with whole batches of lines.

``Output`` owns the descriptor: whole batches of complete lines go out with one ``writev``, so lines of
different sources never mix. A pipe is written through a non-blocking description of its own, so a
reader that stops reading never traps a write. Raw lines that stayed in their file (``Span``s) are moved by
the kernel: ``copy_file_range`` into a regular file, ``splice`` into a pipe; where the kernel refuses (an
output opened with ``O_APPEND``, another filesystem, an old kernel), they are read and written as before,
from then on for this output, said once (``-v``).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import threading
from collections.abc import Callable, Sequence

from ..core import Identity, Span, Spans

__all__ = ["Buffer", "Output", "OutputClosed", "OutputError", "Piece", "WriteAbandoned"]

log = logging.getLogger("tailmerge")

_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
Buffer = bytes | memoryview
Piece = bytes | memoryview | Span
"""What an output writes: bytes, or a span of a file that the kernel moves."""

# the kernel will not move between these two (the output's kind, filesystem or flags; the kernel's age)
_REFUSED = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF, errno.EPERM, errno.ETXTBSY}
_READ_SIZE = 1 << 20  # a span read when the kernel refused it: in pieces, as sources read
# the most one write takes: writes of 3-4 MiB or more into ext4 cost 3-4x the system time of the same bytes
# in writes of up to 2 MiB (Linux 6.18 here: 800 MB in 8 MiB writes 2.2-2.5 s, in 1 MiB writes 0.5-0.6 s;
# bench/write_sizes.py)
_WRITE_MAX = 1 << 20


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
        self.moved = 0
        """Of ``bytes``, those the kernel moved from an input file (spans)."""
        self.dropped = 0
        """Bytes of spans not written because their file was cut short first (their sources read them again)."""
        self.spans: Spans | None = None
        """The run's switch for spans, when its sources make them (turned off when the kernel refuses)."""
        self._mover: str | None = None  # "copy_file_range" or "splice" once the kernel took a span; "" refused
        self._copy_fd = -1  # a description of the output file without O_APPEND, which copy_file_range refuses
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
        self._pipe = _is_fifo(self.fd)

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
                # not an empty file: ext4 takes any truncation to 0 for a file being replaced, and its last
                # close then writes every page out before it returns (0.44 s at the end of an 800 MB copy)
                if not append and os.fstat(fd).st_size:
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
        mode = self._mode()
        return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)

    def movable(self) -> bool:
        """A regular file or a pipe: the kernel may move spans into it (copy_file_range, splice)."""
        mode = self._mode()
        return stat.S_ISREG(mode) or stat.S_ISFIFO(mode)

    def _mode(self) -> int:
        """The output's file type (0, which is none of them, when it cannot be told)."""
        try:
            return os.fstat(self.fd).st_mode
        except OSError:
            return 0

    @property
    def nonblocking(self) -> bool:
        return self._own_pipe >= 0

    def write(self, buffers: Sequence[Piece], wait: Callable[[], bool] | None = None) -> list[Piece]:
        """Write every buffer, in order, with as few system calls as the kernel allows (writev; a span with
        one ``copy_file_range`` or ``splice``); return what was not written.

        A non-blocking output that is full calls ``wait()`` (which returns once it may be writable) and
        goes on; when ``wait()`` returns False the rest is given up: :class:`WriteAbandoned`. Without
        ``wait``, the rest is returned."""
        views: list[memoryview | Span] = [b if isinstance(b, Span) else memoryview(b) for b in buffers if len(b)]
        spans = any(isinstance(v, Span) for v in views)
        with self._lock:
            while views:
                head = views[0]
                try:
                    if isinstance(head, Span):
                        moved = self._move(head)
                        if moved is None:  # refused: its bytes are read and written instead
                            views[0:1] = self._read_span(head)
                            continue
                        if not moved:  # cut short in its file
                            del views[0]
                            continue
                        n = moved
                    else:
                        batch = views[:_IOV_MAX]
                        if spans:  # bytes up to the next span
                            batch = batch[: next((i for i, v in enumerate(batch) if isinstance(v, Span)), len(batch))]
                        n = os.writev(self.fd, _at_most(batch, _WRITE_MAX))  # type: ignore[arg-type]  # no spans
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
                if isinstance(head, Span):
                    self.moved += n
                    if n < len(head):  # the rest waits for room: from its next line on, as a span
                        views[0:1] = self._line_end(head.rest(n))
                    else:
                        head.handle.close()
                        del views[0]
                    continue
                done = 0  # buffers written whole: dropped at once, not one by one from the front
                while n and n >= len(views[done]):
                    n -= len(views[done])
                    done += 1
                del views[:done]
                if n:
                    views[0] = views[0][n:]  # type: ignore[index]  # bytes, as written
        return []

    def _move(self, span: Span) -> int | None:
        """Move (the start of) ``span`` into the output in the kernel; None: the kernel refuses (from now on,
        for this output, its spans are read and written). Raises what a write raises (a full pipe...)."""
        if self._mover == "":
            return None
        if not span.handle.intact(span.end):  # cut, or cut and written again, since it was decided
            return self._gone(span)
        kind = "splice" if self._pipe else "copy_file_range"
        try:
            if self._pipe:
                n = os.splice(span.handle.fd, self.fd, len(span), offset_src=span.start)
            else:
                dst, at = self._copy_target()
                n = os.copy_file_range(span.handle.fd, dst, len(span), span.start, at)
        except OSError as e:
            if e.errno not in _REFUSED or self._mover:  # refused once it worked: a real error
                raise
            self._refused(kind, e)
            return None
        if n == 0:  # the file is shorter than the span now (truncated since): nothing more of it to move
            return self._gone(span)
        if self._mover is None:
            self._mover = kind
            log.info("%s: complete lines are moved by the kernel (%s)", self.name, kind)
        return n

    def _line_end(self, span: Span) -> list[memoryview | Span]:
        """A span moved in part, cut mid-line: the end of that line as bytes (read now), then the span from
        the next line on. Should its file be truncated before the rest can be moved, the rest's source takes
        it up again from a line's start, and a half line never waits in the output for its other half."""
        data, size = b"", 0
        while size < len(span):
            size = min(len(span), max(4096, 2 * size))
            data = os.pread(span.handle.fd, size, span.start)
            nl = data.find(b"\n")
            if nl >= 0:
                data = data[: nl + 1]
                break
            if len(data) < size:
                break  # shorter now: the rest is gone (moved no further)
        if not data or not span.handle.intact(span.end):
            return [span]  # cut since: the next move says so
        if len(data) == len(span):
            span.handle.close()
            return [memoryview(data)]
        return [memoryview(data), span.rest(len(data))]

    def _copy_target(self) -> tuple[int, int | None]:
        """Where copy_file_range writes: a file opened by path is opened O_APPEND, which copy_file_range
        refuses; a description of our own without it is written at the file's end instead (one writer:
        the output is locked), as O_APPEND would. Standard output is written at its own position."""
        if self.path is None:
            return self.fd, None
        if self._copy_fd < 0:
            try:
                self._copy_fd = os.open(f"/proc/self/fd/{self.fd}", os.O_WRONLY | os.O_CLOEXEC)
            except OSError:
                return self.fd, None  # no /proc: the kernel refuses O_APPEND, and spans are read instead
        return self._copy_fd, os.fstat(self._copy_fd).st_size

    def _refused(self, kind: str, error: OSError) -> None:
        self._mover = ""
        if self.spans is not None:
            self.spans.on = False  # sources read their lines again, as before
        code = errno.errorcode.get(error.errno or 0, str(error.errno))
        log.info("%s: %s refused (%s: %s); lines are read and written instead", self.name, kind, code, error.strerror)

    def _read_span(self, span: Span) -> list[memoryview | Span]:
        """The next bytes of a span the kernel would not move (whole lines), and what is left of it."""
        data = os.pread(span.handle.fd, min(len(span), _READ_SIZE), span.start)
        if not data or not span.handle.intact(span.end):
            self._gone(span)
            return []
        if len(data) < len(span) and (nl := data.rfind(b"\n")) >= 0:
            data = data[: nl + 1]  # the rest from a line's start (see _line_end)
        if len(data) == len(span):
            span.handle.close()
            return [memoryview(data)]
        return [memoryview(data), span.rest(len(data))]

    def _gone(self, span: Span) -> int:
        """A span whose file was cut short before it could be moved: what is gone is not written, and its
        source is told where its lines stopped (it takes them up again there: from the file's copy)."""
        log.info(
            "%s: an input was truncated before %d bytes of it were moved; its source reads them again",
            self.name,
            len(span),
        )
        span.handle.fell_short(span.start)
        span.handle.close()
        self.dropped += len(span)
        return 0

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
            copy, self._copy_fd = self._copy_fd, -1
        os.close(old)
        if copy >= 0:
            os.close(copy)
        return True

    def close(self) -> None:
        if self._copy_fd >= 0:
            os.close(self._copy_fd)
            self._copy_fd = -1
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


def _at_most(views: list[memoryview | Span], limit: int) -> list[memoryview | Span]:
    """The front of ``views`` that holds at most ``limit`` bytes (the last view cut to fit)."""
    total = 0
    for i, view in enumerate(views):
        total += len(view)
        if total >= limit:
            return [*views[:i], view[: len(view) - (total - limit)]]  # type: ignore[index]  # bytes, no span
    return views
