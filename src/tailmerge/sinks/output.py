"""The output stream (a file or standard output) and the sink that writes the merge into it.

``Output`` owns the descriptor: whole batches of complete lines go out with one ``writev``, so lines of
different sources never mix. ``FileSink`` formats batches and hands them to its own writer thread through
a bounded queue (the block policy): a full pipe stalls that thread, never the event loop, and a stop can
give up on a stalled reader after a deadline and count what was not written.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import stat
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from ..bridge.handoff import Handoff
from ..core import Identity
from .contract import Batch, Origin
from .formats import Formatter, Labels

log = logging.getLogger("tailmerge")

if TYPE_CHECKING:
    from ..bridge.stop import StopToken
    from ..state.checkpoint import Checkpoint, Mark

__all__ = ["FileSink", "Output", "OutputClosed", "OutputError"]

_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
Buffer = bytes | memoryview
WRITE_AHEAD = 1 << 20  # formatted bytes queued for a full pipe before producers wait (as much as the pipe holds)


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
                while n:
                    if n >= len(views[0]):
                        n -= len(views.pop(0))
                    else:
                        views[0] = views[0][n:]
                        n = 0
        return []

    def reopen(self) -> None:
        """Open the output path again (after logrotate moved our own output away: SIGHUP)."""
        if self.path is None:
            return
        fd = self._open(append=True)
        with self._lock:  # never between two parts of one write
            old, self.fd = self.fd, fd
        os.close(old)

    def close(self) -> None:
        if (self.path is not None or self._own_pipe >= 0) and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class FileSink:
    """The merge into an :class:`Output`, in one of the formats; block policy."""

    policy: Literal["block", "lag"] = "block"

    def __init__(
        self,
        output: Output,
        fmt: str,
        *,
        colour: bool = False,
        progress: Callable[[int], None] | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.output = output
        self.checkpoint = checkpoint
        self._fmt = fmt
        self._colour = colour
        self._progress = progress
        self._labels = Labels()
        self._origins: list[Origin] = []
        self._formatters: list[Formatter] = []
        self._last_origin = -1  # the source of the last batch (headers format)
        self._wake_r = self._wake_w = -1  # the writer's wake-up pipe, made by start()
        self._queue: Handoff[tuple[Sequence[Buffer], Mark | None]] = Handoff(WRITE_AHEAD, on_change=self._wake)
        self._submitted = 0
        self._written_before = output.bytes
        self._thread = threading.Thread(target=self._write_loop, name="tailmerge writer", daemon=True)
        self._token: StopToken | None = None
        self._give_up = False
        self._writing = threading.Lock()  # held by whoever writes the output: the writer thread or _write_now
        # written at once where that never waits on a reader: a pipe of our own (non-blocking) or a file;
        # with a checkpoint every write goes through the writer thread, which commits (and syncs) after it
        self._direct = checkpoint is None and (output.nonblocking or output.identity() is not None)

    def start(self, token: StopToken) -> None:
        self._token = token
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        token.on_stop(self._queue.release)  # stopping: what was read is queued whatever the bound
        self._thread.start()

    def add_sources(self, origins: Sequence[Origin]) -> None:
        """Sources joining together are labelled together (one pass for 10,000 files)."""
        width = self._labels.width
        changed = self._labels.add([o.path for o in origins])
        self._origins.extend(origins)
        if self._labels.width != width:
            changed = list(range(len(self._formatters)))  # every label is padded anew
        for i, origin in enumerate(origins, len(self._formatters)):
            self._formatters.append(self._formatter(origin, i))
        for i in changed:
            self._formatters[i] = self._formatter(self._origins[i], i)

    def _formatter(self, origin: Origin, i: int) -> Formatter:
        colour = i if self._colour else None
        label = self._labels.labels[i].ljust(self._labels.width)
        return Formatter(self._fmt, origin.path, label, colour=colour)

    def _format(self, batch: Batch) -> tuple[list[bytes], int]:
        """The batch's bytes in the output format, and their size."""
        formatter = self._formatters[batch.origin.index]
        buffers = formatter.format(batch.chunks)
        if self._fmt == "headers" and batch.origin.index != self._last_origin:
            # tail's headers: a blank line between groups, none before the first
            buffers.insert(0, (b"\n" if self._last_origin >= 0 else b"") + formatter.header())
            self._last_origin = batch.origin.index
        if self._progress is not None:
            self._progress(batch.consumed)
        size = sum(map(len, buffers))
        self._submitted += size
        return buffers, size

    def put(self, batch: Batch) -> None:
        buffers, size = self._format(batch)
        if not self._write_now(buffers):
            self._queue.put((buffers, self._mark(batch)), size)

    async def aput(self, batch: Batch) -> None:
        buffers, size = self._format(batch)
        if not self._write_now(buffers):
            await self._queue.aput((buffers, self._mark(batch)), size)

    def _mark(self, batch: Batch) -> Mark | None:
        return None if self.checkpoint is None else self.checkpoint.mark(batch)

    def _write_now(self, buffers: list[bytes]) -> bool:
        """Write on the caller's thread when nothing is queued and the output takes the bytes without
        waiting (a pipe with room, a regular file): one thread hop fewer per batch when following. What a
        full pipe does not take goes to the writer thread. False: not written, queue it."""
        if not self._direct or self._queue.size or not self._writing.acquire(blocking=False):
            return False
        try:
            if self._queue.size or self._queue.closed:
                return False
            rest = self.output.write(buffers)
            if rest:
                self._queue.put((rest, None), sum(map(len, rest)))  # the queue is empty: this never waits
        except (OutputError, OutputClosed) as e:
            self._fail(e)
        finally:
            self._writing.release()
        return True

    def _fail(self, error: Exception) -> None:
        self._queue.close()
        if self._token is not None:
            self._token.fail(error)

    def finish(self, timeout: float | None) -> int:
        self._queue.end()
        if self.output.identity() is not None:
            timeout = None  # a regular file does not stall: everything read is written, whatever the grace
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive() and self.output.nonblocking:
            self._give_up = True  # the grace is over: the writer leaves its wait for room
            self._wake()
            self._thread.join()
        if self._thread.is_alive():
            return self.unwritten  # stalled in a blocking write: its descriptors stay open for it
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        return 0 if self._queue.closed else self.unwritten

    @property
    def stalled(self) -> bool:
        """The writer is still inside a write that does not return (a reader that stopped reading)."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Close the output, unless a stalled writer still uses it (it goes with the process)."""
        if not self.stalled:
            self.output.close()

    @property
    def unwritten(self) -> int:
        """Bytes handed to this sink and not written (yet)."""
        return self._submitted - (self.output.bytes - self._written_before)

    def _wake(self) -> None:
        if self._wake_w < 0:
            return  # not started, or finished
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already
        except OSError:
            pass  # closed: the writer has finished

    def _drain_wakes(self) -> None:
        try:
            os.read(self._wake_r, 4096)
        except BlockingIOError:
            pass

    def _wait_writable(self) -> bool:
        """Sleep until the full output has room, or the stop's grace is over (then: False)."""
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        poller.register(self.output.fd, select.POLLOUT)
        while not self._give_up:
            if any(fd == self.output.fd for fd, _ in poller.poll()):
                return True  # writable, or an error that the next write reports
            self._drain_wakes()
        return False

    def _write_loop(self) -> None:
        # the writer sleeps in poll() on its wake-up pipe and on the output itself, so a reader that goes
        # away (`| head -1`) is noticed at once even while no line comes
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        if self.output.is_stream():
            poller.register(self.output.fd, 0)  # 0: only errors and hang-ups are reported
        checkpoint = self.checkpoint
        try:
            while True:
                with self._writing:  # a direct write and this one never interleave
                    items = self._queue.take_nowait()
                    if items:
                        before = self.output.bytes
                        self.output.write([b for buffers, _ in items for b in buffers], self._wait_writable)
                        if checkpoint is not None:
                            self._delivered(checkpoint, items, before)
                    wait = checkpoint.wait() if checkpoint is not None else None
                    if checkpoint is not None and wait == 0:
                        checkpoint.commit(self.output.fd, self.output.path, written=self.output.bytes)
                        wait = checkpoint.wait()
                if items is None:
                    return
                if items:
                    continue
                timeout = None if wait is None else max(1, int(wait * 1000))
                for fd, events in poller.poll(timeout):
                    if fd == self.output.fd and events & (select.POLLERR | select.POLLHUP):
                        raise OutputClosed()
                self._drain_wakes()
        except WriteAbandoned:
            pass  # counted in unwritten
        except (OutputError, OutputClosed) as e:
            self._fail(e)
        except Exception as e:  # a commit that failed (the state's disk is full...): the run stops on it
            self._fail(e)
        finally:
            if checkpoint is not None:
                self._commit_last(checkpoint)

    def _delivered(self, checkpoint: Checkpoint, items: list[tuple[Sequence[Buffer], Mark | None]], at: int) -> None:
        """Tell the checkpoint what each written batch holds; through a pipe, where it ends in the stream."""
        stream = self.output.is_stream()
        for buffers, mark in items:
            at += sum(map(len, buffers))
            if mark:
                checkpoint.delivered(mark, at if stream else None)

    def _commit_last(self, checkpoint: Checkpoint) -> None:
        """What was delivered before the end (or a failure) is committed, synced whatever the policy."""
        try:
            with self._writing:
                fd = self.output.fd if self.output.fd >= 0 else None
                checkpoint.commit(fd, self.output.path, written=self.output.bytes, final=True)
        except Exception as e:  # reported; the next start reads again what was not committed
            log.error("%s: the last commit failed: %s", self.output.name, e)


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
