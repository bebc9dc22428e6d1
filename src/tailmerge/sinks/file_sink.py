"""The sink that writes the merge into an :class:`Output`.

``FileSink`` formats batches and hands them to its own writer thread through a bounded queue (the block
policy): a full pipe stalls that thread, never the event loop, and a stop can give up on a stalled reader
after a deadline and count what was not written. With a checkpoint, that thread also syncs and commits.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from ..bridge.handoff import Handoff
from .contract import Batch, Handed, Interleaved, Origin, as_chunks
from .formats import Formatter, Labels, jsonl_release, labeled_release, raw_pieces
from .output import Output, OutputClosed, OutputError, Piece, WriteAbandoned

if TYPE_CHECKING:
    from ..bridge.stop import StopToken
    from ..state.checkpoint import Checkpoint, Mark

__all__ = ["WRITE_AHEAD", "FileSink"]

log = logging.getLogger("tailmerge")

WRITE_AHEAD = 1 << 20  # formatted bytes queued for a full pipe before producers wait (as much as the pipe holds)


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
        self._queue: Handoff[tuple[Sequence[Piece], Mark | None]] = Handoff(WRITE_AHEAD, on_change=self._wake)
        self._submitted = 0
        self._written_before = output.bytes + output.dropped
        self._thread = threading.Thread(target=self._write_loop, name="tailmerge writer", daemon=True)
        self._token: StopToken | None = None
        self._size: int | None = None  # with a checkpoint: the output's size after its last whole write
        self._give_up = False
        self._writing = threading.Lock()  # held by whoever writes the output: the writer thread or _write_now
        # written at once where that never waits on a reader: a pipe of our own (non-blocking) or a file;
        # with a checkpoint every write goes through the writer thread, which commits (and syncs) after it
        self._direct = checkpoint is None and (output.nonblocking or output.identity() is not None)

    def span_output(self) -> Output | None:
        """The output, when spans may be written to it: raw output into a regular file or a pipe."""
        return self.output if self._fmt == "raw" and self.output.movable() else None

    def start(self, token: StopToken) -> None:
        self._token = token
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        token.on_stop(self._queue.release)  # stopping: what was read is queued whatever the bound
        self.output.on_reopen = self._wake
        if self.checkpoint is not None:
            self.checkpoint.ledger.on_news = self._wake  # a file opened or finished is committed at once
            self._size = self._file_size()
        self._thread.start()

    def add_sources(self, origins: Sequence[Origin]) -> None:
        """Sources joining together are labelled together (one pass for 10,000 files). Raw output needs
        neither labels nor formatters (none is kept: 10,000 files)."""
        if self._fmt == "raw":
            return
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

    def _format(self, batch: Batch) -> tuple[list[Piece], int]:
        """The batch's bytes in the output format, and their size."""
        buffers: list[Piece]
        if self._fmt == "raw":
            buffers = raw_pieces(batch.chunks)  # spans too: the output moves them
        else:
            formatter = self._formatters[batch.origin.index]
            buffers = list(formatter.format(as_chunks(batch.chunks)))
        if self._fmt == "headers" and batch.origin.index != self._last_origin:
            # tail's headers: a blank line between groups, none before the first
            buffers.insert(0, (b"\n" if self._last_origin >= 0 else b"") + formatter.header())
            self._last_origin = batch.origin.index
        if self._progress is not None:
            self._progress(batch.consumed)
        size = sum(map(len, buffers))
        self._submitted += size
        return buffers, size

    def _format_all(self, batches: Sequence[Handed]) -> tuple[list[Piece], int]:
        if len(batches) == 1 and isinstance(batches[0], Batch):
            return self._format(batches[0])
        buffers: list[Piece] = []
        size = 0
        for batch in batches:
            if isinstance(batch, Interleaved):
                if self._fmt != "headers":  # the units joined once, in C: no Python work per line
                    more, n = self._joined(batch)
                    buffers += more
                    size += n
                    continue
                more, n = self._format_all(batch.batches())
            else:
                more, n = self._format(batch)
            buffers += more
            size += n
        return buffers, size

    def _joined(self, batch: Interleaved) -> tuple[list[Piece], int]:
        if self._fmt == "raw":
            buffers: list[Piece] = [b"\n".join(batch.release.lines()), b"\n"]
        else:
            origins, formatters = batch.origins, self._formatters

            def formatter(key: int) -> Formatter:
                return formatters[origins[key].index]

            if self._fmt == "labeled":
                buffers = [labeled_release(batch.release, formatter)]
            else:
                buffers = list(jsonl_release(batch.release, formatter))
        if self._progress is not None:
            self._progress(batch.consumed)
        size = sum(map(len, buffers))
        self._submitted += size
        return buffers, size

    def put(self, batches: Sequence[Handed]) -> None:
        buffers, size = self._format_all(batches)
        if not self._write_now(buffers):
            self._queue.put((buffers, self._mark(batches)), size)
        # the follower reads on only once its batch is written: reading while the writer thread still
        # holds the last one kept two batches in each thread's malloc arena, and arenas keep their peak
        # (copying with the threads engine: peak RSS up to 1.8x). A stop or a closed output never waits.
        self._queue.wait_drained()

    async def aput(self, batches: Sequence[Handed]) -> None:
        buffers, size = self._format_all(batches)
        if not self._write_now(buffers):
            await self._queue.aput((buffers, self._mark(batches)), size)
        await self._queue.await_drained()

    def _mark(self, batches: Sequence[Handed]) -> Mark | None:
        if self.checkpoint is None:
            return None
        return [position for batch in batches for position in self.checkpoint.mark(batch)]

    def _write_now(self, buffers: list[Piece]) -> bool:
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
        # the run stops first, then the producers waiting on the queue are let go: the other way round, one
        # looked at the stop before it was made, and read a step more (8 MiB) for an output that was gone
        if self._token is not None:
            self._token.fail(error)
        self._queue.close()

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
        """Bytes handed to this sink and not written (yet); a span whose file was cut short first is not
        counted (its source hands its lines over again)."""
        return self._submitted - (self.output.bytes + self.output.dropped - self._written_before)

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
        stream = self.output.is_stream()
        if stream:
            poller.register(self.output.fd, 0)  # 0: only errors and hang-ups are reported
        checkpoint = self.checkpoint
        try:
            while True:
                with self._writing:  # a direct write and this one never interleave
                    if self.output.reopen_requested:
                        self._reopen(checkpoint)
                    items = self._queue.take_nowait(hold=True)
                    if items:
                        before = self.output.bytes
                        try:
                            self.output.write([b for buffers, _ in items for b in buffers], self._wait_writable)
                        finally:
                            self._queue.done()
                        if checkpoint is not None:
                            if self._size is not None:  # O_APPEND, one writer: it grew by what went in
                                self._size += self.output.bytes - before
                            self._delivered(checkpoint, items, before, stream)
                    wait = checkpoint.wait() if checkpoint is not None else None
                    if checkpoint is not None and wait == 0:
                        self._commit(checkpoint)
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

    def _delivered(
        self, checkpoint: Checkpoint, items: list[tuple[Sequence[Piece], Mark | None]], at: int, stream: bool
    ) -> None:
        """Tell the checkpoint what each written batch holds; through a pipe, where it ends in the stream."""
        for buffers, mark in items:
            at += sum(map(len, buffers))
            if mark:
                checkpoint.delivered(mark, at if stream else None)

    def _commit(self, checkpoint: Checkpoint, *, final: bool = False) -> None:
        """Commit what was delivered; the output's size is the one after its last whole write (a write that
        failed half way, on a full disk, is cut off by the next start)."""
        fd = self.output.fd if self.output.fd >= 0 else None
        checkpoint.commit(fd, self.output.path, size=self._size, written=self.output.bytes, final=final)

    def _file_size(self) -> int | None:
        try:
            return os.fstat(self.output.fd).st_size
        except OSError:
            return None

    def _reopen(self, checkpoint: Checkpoint | None) -> None:
        """SIGHUP: the file written so far is synced and committed first, then the new one is committed at
        once, so a crash right after the switch resumes into the new file."""
        if checkpoint is not None:
            self._commit(checkpoint, final=True)
        try:
            reopened = self.output.reopen_now()
        except OutputError as e:
            log.error("%s", e)
            return
        if reopened:
            log.info("%s: reopened (SIGHUP)", self.output.name)
            if checkpoint is not None:
                self._size = self._file_size()
                self._commit(checkpoint)

    def _commit_last(self, checkpoint: Checkpoint) -> None:
        """What was delivered before the end (or a failure) is committed, synced whatever the policy."""
        try:
            with self._writing:
                self._commit(checkpoint, final=True)
        except Exception as e:  # reported; the next start reads again what was not committed
            log.error("%s: the last commit failed: %s", self.output.name, e)
