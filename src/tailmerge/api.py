"""The public API: a sync face and an async face over the same pipeline.

The async face (``afollow``, ``amerge``) runs an engine on the caller's loop. The sync face runs the
asyncio core too (bottom-up): ``merge`` with ``asyncio.run``, ``follow`` through a portal (an event loop in
a helper thread) that hands batches of lines to the caller's thread. Only ``merge(engine="threads")`` runs
without an event loop at all, as the note's thread-per-file design does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from typing_extensions import Unpack

from .bridge import Portal, StopFlag, StopToken, refuse_in_loop
from .opening import PathArg, as_paths, colour_auto, prepare_merge
from .options import OptionArgs, Options
from .run import Run, make_run, run_async, run_blocking
from .sinks import FileSink, Line, LineQueue, Output

if TYPE_CHECKING:
    from .state import Checkpoint, FsyncPolicy

__all__ = ["Line", "MergeStats", "afollow", "amerge", "follow", "make_run", "merge"]


@dataclass
class MergeStats:
    """What a merge did."""

    bytes: int = 0
    """Bytes written to the output."""
    sources: int = 0
    """Sources followed (files found later by a glob included)."""
    elapsed: float = 0.0
    per_source: dict[str, int] = field(default_factory=dict)
    """Bytes read from each source path (lines are not counted: raw output never looks at each line)."""
    late: int = 0
    """With ``order="time"``: lines that came after later ones had been written (beyond ``lateness``)."""


# -- merge --------------------------------------------------------------------------------------------


def _merge_run(
    paths: Iterable[PathArg],
    output: PathArg | Output | None,
    fmt: str,
    append: bool,
    colour: bool | None,
    progress: Callable[[int], None] | None,
    opts: Options,
    state: PathArg | None,
    fsync: FsyncPolicy,
) -> tuple[Run, FileSink]:
    args, out, checkpoint = prepare_merge(paths, output, fmt, append=append, state=state, fsync=fsync)
    try:
        colour = colour_auto(out) if colour is None else colour
        sink = FileSink(out, fmt, colour=colour, progress=progress, checkpoint=checkpoint)
        return make_run(args, opts, [sink], out, checkpoint.ledger if checkpoint else None), sink
    except BaseException:
        out.close()
        if checkpoint is not None:
            checkpoint.close()
        raise


def _stats(run: Run, sink: FileSink, started: float, written_before: int) -> MergeStats:
    return MergeStats(
        bytes=sink.output.bytes - written_before,
        sources=len(run.merge.origins),
        elapsed=time.monotonic() - started,
        per_source=dict(run.merge.consumed),
        late=run.merge.order.late if run.merge.order is not None else 0,
    )


# amerge/merge and afollow/follow are declared twins: the same parameters, written out in each so that
# each signature reads whole (tests/test_api.py checks that they match)
async def amerge(
    paths: Iterable[PathArg],
    output: PathArg | Output | None = None,
    *,
    format: str = "raw",
    append: bool = False,
    colour: bool | None = None,
    progress: Callable[[int], None] | None = None,
    stop_event: StopFlag | None = None,
    state: PathArg | None = None,
    fsync: FsyncPolicy = "interval",
    **options: Unpack[OptionArgs],
) -> MergeStats:
    """Follow ``paths`` and merge their complete lines into ``output`` (a path; None: standard output).

    ``format`` is ``raw``, ``labeled``, ``jsonl`` or ``headers``. An existing output file is truncated
    unless ``append``; an output that is one of the inputs is refused (ValueError) before it is opened.
    ``colour`` colours labels (default: when the output is a terminal and NO_COLOR is not set).
    ``progress`` is called with the input bytes consumed by each write. Returns when the sources are
    done (``follow=False``), idle (``idle_timeout``), ``stop_event`` is set, or on cancellation. Output
    errors raise :class:`tailmerge.OutputError`.

    ``state``: a state file (created if missing) that makes the merge resumable: a later merge with the same
    state and output goes on where this one stopped, even after a crash (kill -9), with no line lost or
    written twice into an output file (into standard output: none lost, some may be written again).
    ``fsync``: ``interval`` (sync the output at most once a second before each commit), ``always`` (before
    every commit) or ``never`` (exactly-once across process crashes, not power loss). An unusable state
    raises :class:`tailmerge.StateError` before the output is touched.
    """
    opts = Options(**options)
    started = time.monotonic()
    run, sink = _merge_run(paths, output, format, append, colour, progress, opts, state, fsync)
    return await _amerge_run(run, sink, stop_event, started)


def merge(
    paths: Iterable[PathArg],
    output: PathArg | Output | None = None,
    *,
    format: str = "raw",
    append: bool = False,
    colour: bool | None = None,
    progress: Callable[[int], None] | None = None,
    stop_event: StopFlag | None = None,
    state: PathArg | None = None,
    fsync: FsyncPolicy = "interval",
    **options: Unpack[OptionArgs],
) -> MergeStats:
    """Blocking :func:`amerge`. The threads engine runs here without an event loop; the others run the
    asyncio core with ``asyncio.run``. Ctrl-C stops the merge, closes everything, then raises
    KeyboardInterrupt. Raises RuntimeError inside a running event loop."""
    refuse_in_loop("merge", "amerge")
    opts = Options(**options)
    started = time.monotonic()
    run, sink = _merge_run(paths, output, format, append, colour, progress, opts, state, fsync)
    with interrupts_stop(run.token):
        if opts.engine != "threads":
            return asyncio.run(_amerge_run(run, sink, stop_event, started))
        _refuse_async_flag(stop_event, "merge")
        before = sink.output.bytes
        unlink = run.token.link(stop_event)
        try:
            run_blocking(run)
        finally:
            unlink()
            _close(sink)
        return _stats(run, sink, started, before)


async def _amerge_run(run: Run, sink: FileSink, stop_event: StopFlag | None, started: float) -> MergeStats:
    before = sink.output.bytes
    unlink = run.token.link(stop_event)
    try:
        await run_async(run)
    finally:
        unlink()
        _close(sink)
    return _stats(run, sink, started, before)


def _close(sink: FileSink) -> None:
    sink.close()
    if sink.checkpoint is not None:
        sink.checkpoint.close()


@contextmanager
def interrupts_stop(token: StopToken) -> Iterator[None]:
    """While inside, Ctrl-C stops ``token`` (reason ``signal``) instead of interrupting wherever the main
    thread is; on leaving, everything has been closed and KeyboardInterrupt is raised afresh."""
    installed = threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if installed:
        signal.signal(signal.SIGINT, lambda *_: token.request("signal"))  # the run's main loop makes the stop
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if installed and token.reason == "signal":
        raise KeyboardInterrupt


def _refuse_async_flag(stop_event: StopFlag | None, name: str) -> None:
    if isinstance(stop_event, asyncio.Event):
        raise TypeError(f"tailmerge.{name}() takes a threading.Event as stop_event; an asyncio.Event needs a{name}()")


# -- follow -------------------------------------------------------------------------------------------


async def afollow(
    paths: Iterable[PathArg],
    *,
    stop_event: StopFlag | None = None,
    state: PathArg | None = None,
    **options: Unpack[OptionArgs],
) -> AsyncGenerator[Line, None]:
    """Follow ``paths`` and yield each complete :class:`Line` as it is written.

    Ends when the sources are done (``follow=False``), idle (``idle_timeout``) or ``stop_event`` is set (no
    line is yielded after that). Leaving the loop early (``break``, ``aclose()``, cancellation) stops the
    run and closes the files. ``state``: as :func:`merge`'s, at least once: a line counts as delivered
    when the loop asks for the next one, so a crash in between yields it again.
    """
    queue = LineQueue()
    run, checkpoint = _follow_run(paths, queue, state, options)
    unlink = run.token.link(stop_event)
    task = asyncio.create_task(run_async(run))
    commit: asyncio.Future[None] | None = None
    try:
        while (batches := await queue.aget()) is not None:
            for batch in batches:
                for line in batch:
                    if stop_event is not None and stop_event.is_set():
                        return
                    yield line
                    if checkpoint is not None and checkpoint.delivered_line(line.path, line.file, line.offset):
                        # shielded: a cancellation waits for the commit, which must not share the
                        # connection with the last one in ``finally``
                        commit = asyncio.ensure_future(asyncio.to_thread(checkpoint.commit, None, None))
                        await asyncio.shield(commit)
        await task  # raise what stopped the run, if anything did
    finally:
        run.token.stop("consumer")
        queue.close()
        unlink()
        if not task.done():
            await asyncio.wait([task])
        if commit is not None and not commit.done():
            await asyncio.wait([commit])
        _close_checkpoint(checkpoint)


def _follow_run(
    paths: Iterable[PathArg], queue: LineQueue, state: PathArg | None, options: OptionArgs
) -> tuple[Run, Checkpoint | None]:
    opts = Options(**options)
    args = as_paths(paths)
    checkpoint = None
    if state is not None:
        from .state import open_checkpoint  # SQLite only with a state

        checkpoint = open_checkpoint(os.fspath(state), "never")  # no output to sync
    try:
        return make_run(args, opts, [queue], ledger=checkpoint.ledger if checkpoint else None), checkpoint
    except BaseException:
        _close_checkpoint(checkpoint)
        raise


def _close_checkpoint(checkpoint: Checkpoint | None) -> None:
    """Commit what was delivered (no sync: there is no output file) and close the state."""
    if checkpoint is not None:
        try:
            checkpoint.commit(None, None, final=True)
        finally:
            checkpoint.close()


def follow(
    paths: Iterable[PathArg],
    *,
    stop_event: StopFlag | None = None,
    state: PathArg | None = None,
    **options: Unpack[OptionArgs],
) -> Generator[Line, None, None]:
    """Blocking :func:`afollow`: iterate lines in ordinary threaded code.

    The asyncio core runs in a helper thread (a blocking portal); the caller's thread receives batches of
    lines. Break out of the loop or call ``close()`` to stop early; Ctrl-C raises KeyboardInterrupt in the
    loop; either way every thread ends and every file is closed. Raises RuntimeError inside a running
    event loop. ``state``: as :func:`afollow`'s.
    """
    refuse_in_loop("follow", "afollow")
    _refuse_async_flag(stop_event, "follow")
    queue = LineQueue()
    run, checkpoint = _follow_run(paths, queue, state, options)
    return _follow_lines(run, queue, stop_event, checkpoint)


def _follow_lines(
    run: Run, queue: LineQueue, stop_event: StopFlag | None, checkpoint: Checkpoint | None
) -> Generator[Line, None, None]:
    portal = Portal(on_signal=queue.wake)  # a signal another thread took: the caller waits in queue.get()
    unlink = run.token.link(stop_event)
    done = portal.submit(run_async(run))
    ended = False
    try:
        while (batches := queue.get()) is not None:
            for batch in batches:
                for line in batch:
                    if stop_event is not None and stop_event.is_set():
                        return
                    yield line
                    if checkpoint is not None and checkpoint.delivered_line(line.path, line.file, line.offset):
                        checkpoint.commit(None, None)
        ended = True
    finally:
        run.token.stop("consumer")
        queue.close()
        unlink()
        error = done.exception()  # waits for the run's end: every follower has stopped
        portal.close()
        _close_checkpoint(checkpoint)
    if ended and error is not None:
        raise error
