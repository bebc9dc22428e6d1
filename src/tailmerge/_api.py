"""The public API: a sync face and an async face over the same engines.

The async face (``afollow``, ``amerge``) runs an engine on the caller's loop. The sync face runs the
asyncio core too (bottom-up): ``merge`` with ``asyncio.run``, ``follow`` through an event loop in a
helper thread that hands batches of lines to the caller's thread. Only ``merge(engine="threads")`` runs
without an event loop at all, as the note's thread-per-file design does.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

from typing_extensions import Unpack

from ._discovery import Discovery, is_pattern
from ._engines import StopFlag, make_engine, wait_bounded
from ._framing import Chunk
from ._options import Options
from ._sinks import FORMATS, Formatter, Output, labels_for
from ._source import Source

__all__ = ["Line", "MergeStats", "OptionArgs", "afollow", "amerge", "follow", "merge"]

T = TypeVar("T")
PathArg = str | os.PathLike[str]


class OptionArgs(TypedDict, total=False):
    """Keyword options shared by every entry point; see :class:`tailmerge.Options` for meanings."""

    engine: str
    follow: bool
    start_at_end: bool
    idle_timeout: float | None
    poll_interval: float
    max_line_bytes: int
    watch: str
    rotate_wait: float
    exclude: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Line:
    """One complete line: its source path, its bytes (newline included) and the offset just past it."""

    path: str
    data: bytes
    offset: int

    @property
    def text(self) -> str:
        """The line without its newline, decoded as UTF-8 (undecodable bytes replaced)."""
        return self.data[:-1].decode("utf-8", "replace")


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


# -- sinks for the two kinds of caller -------------------------------------------------------------


class MergeSink:
    """Formats chunks and writes them to one output; a lock keeps writes whole across threads."""

    def __init__(
        self, output: Output, fmt: str, *, colour: bool, progress: Callable[[int], None] | None = None
    ) -> None:
        self.output = output
        self.progress = progress
        self.fmt = fmt
        self.colour = colour
        self.stats = MergeStats()
        self._lock = threading.Lock()
        self._paths: list[str] = []
        self._labels: dict[str, str] = {}
        self._formatters: dict[Source, Formatter] = {}

    def name_sources(self, paths: Iterable[str]) -> None:
        """Label the sources known at start together, so each label tells them apart."""
        self._paths = list(paths)
        self._labels = dict(zip(self._paths, labels_for(self._paths), strict=True))

    def add_source(self, source: Source) -> None:
        with self._lock:
            label = self._labels.get(source.path)
            if label is None:  # a file found later: labelled against every path known so far
                self._paths.append(source.path)
                label = labels_for(self._paths)[-1]
            colour = len(self._formatters) if self.colour else None
            self._formatters[source] = Formatter(self.fmt, source.path, label, colour=colour)
            self.stats.sources += 1

    def write(self, source: Source, chunks: list[Chunk]) -> None:
        buffers = self._formatters[source].format(chunks)
        self.output.write(buffers)
        consumed = sum(len(c.data) - c.added_newline for c in chunks)
        self.stats.bytes += sum(map(len, buffers))
        self.stats.per_source[source.path] = self.stats.per_source.get(source.path, 0) + consumed
        if self.progress is not None:
            self.progress(consumed)

    async def deliver(self, source: Source, chunks: list[Chunk]) -> None:
        self.write(source, chunks)

    def deliver_sync(self, source: Source, chunks: list[Chunk]) -> None:
        with self._lock:
            self.write(source, chunks)


class LineSink:
    """Hands batches of :class:`Line` to an async consumer, with backpressure (a bounded queue)."""

    def __init__(self, maxsize: int = 16) -> None:
        self._loop = asyncio.get_running_loop()
        self._items: deque[list[Line]] = deque()
        self._maxsize = maxsize
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self.ended = False
        self.closed = False

    def add_source(self, source: Source) -> None:
        pass

    async def deliver(self, source: Source, chunks: list[Chunk]) -> None:
        while len(self._items) >= self._maxsize and not self.closed:
            self._writable.clear()
            await self._writable.wait()
        if self.closed:
            return
        path = source.path
        self._items.append([Line(path, data, end) for c in chunks for data, end in c.line_ends()])
        self._readable.set()

    def deliver_sync(self, source: Source, chunks: list[Chunk]) -> None:
        future = asyncio.run_coroutine_threadsafe(self.deliver(source, chunks), self._loop)
        wait_bounded(future, lambda: self.closed or self._loop.is_closed())

    async def get(self) -> list[Line] | None:
        """The next batch, or None once the engine has finished and everything was taken."""
        while not self._items:
            if self.ended:
                return None
            self._readable.clear()
            await self._readable.wait()
        batch = self._items.popleft()
        self._writable.set()
        return batch

    def end(self) -> None:
        self.ended = True
        self._readable.set()

    def close(self) -> None:
        """The consumer left: drop what is queued and let blocked producers go."""
        self.closed = True
        self._items.clear()
        self._writable.set()


# -- shared plumbing --------------------------------------------------------------------------------


def _refuse_in_loop(name: str, async_name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"tailmerge.{name}() cannot be called from a running event loop (it would block the loop it "
        f"waits on); use tailmerge.{async_name}() there instead"
    )


def _expand(paths: Iterable[PathArg], options: Options) -> tuple[list[str], Discovery | None]:
    """Split arguments into literal paths and glob patterns; the patterns' current matches join the paths."""
    if isinstance(paths, str | bytes | os.PathLike):
        raise TypeError("paths must be a list of paths, not a single path")
    args = [os.fspath(p) for p in paths]
    patterns = [a for a in args if is_pattern(a)]
    literal = [a for a in args if a not in patterns]
    if not patterns:
        return literal, None
    discovery = Discovery(patterns, options.exclude)
    return literal + discovery.step(), discovery


# -- async face -------------------------------------------------------------------------------------


async def amerge(
    paths: Iterable[PathArg],
    output: PathArg | Output | None = None,
    *,
    format: str = "raw",
    append: bool = False,
    colour: bool | None = None,
    progress: Callable[[int], None] | None = None,
    stop_event: StopFlag | None = None,
    **options: Unpack[OptionArgs],
) -> MergeStats:
    """Follow ``paths`` and merge their complete lines into ``output`` (a path; None: standard output).

    ``format`` is ``raw``, ``labeled`` or ``jsonl``. An existing output file is truncated unless
    ``append``. ``colour`` colours labels (default: when the output is a terminal). ``progress`` is
    called with the input bytes consumed by each write. Returns when the
    sources are done (``follow=False``), idle (``idle_timeout``), ``stop_event`` is set, or on
    cancellation. Output errors raise :class:`tailmerge.OutputError`.
    """
    opts = Options(**options)
    sink, initial, discovery = _merge_setup(paths, output, format, append, colour, progress, opts)
    with _merging(sink):
        await make_engine(opts, sink, stop_event).run(initial, discovery)
    return sink.stats


async def afollow(
    paths: Iterable[PathArg],
    *,
    stop_event: StopFlag | None = None,
    **options: Unpack[OptionArgs],
) -> AsyncIterator[Line]:
    """Follow ``paths`` and yield each complete :class:`Line` as it is written.

    Ends when the sources are done (``follow=False``), idle (``idle_timeout``) or ``stop_event`` is set.
    Leaving the loop early (``break``, ``aclose()``, cancellation) stops the engine and closes the files.
    """
    async for batch in _afollow_batches(paths, Options(**options), stop_event):
        for line in batch:
            yield line


async def _afollow_batches(
    paths: Iterable[PathArg], opts: Options, stop_event: StopFlag | None
) -> AsyncGenerator[list[Line], None]:
    sink = LineSink()
    engine = make_engine(opts, sink, stop_event)
    initial, discovery = _expand(paths, opts)
    task = asyncio.create_task(engine.run(initial, discovery))
    task.add_done_callback(lambda _: sink.end())
    try:
        while (batch := await sink.get()) is not None:
            yield batch
        await task  # raise what stopped the engine, if anything did
    finally:
        engine.stop()
        sink.close()
        if not task.done():
            await asyncio.wait([task])


# -- sync face --------------------------------------------------------------------------------------


def merge(
    paths: Iterable[PathArg],
    output: PathArg | Output | None = None,
    *,
    format: str = "raw",
    append: bool = False,
    colour: bool | None = None,
    progress: Callable[[int], None] | None = None,
    stop_event: StopFlag | None = None,
    **options: Unpack[OptionArgs],
) -> MergeStats:
    """Blocking :func:`amerge`. The threads engine runs here without an event loop; the others run
    the asyncio core with ``asyncio.run``. Raises RuntimeError inside a running event loop."""
    _refuse_in_loop("merge", "amerge")
    opts = Options(**options)
    if opts.engine != "threads":
        return asyncio.run(
            amerge(
                paths,
                output,
                format=format,
                append=append,
                colour=colour,
                progress=progress,
                stop_event=stop_event,
                **options,
            )
        )
    from ._engines import ThreadsEngine

    sink, initial, discovery = _merge_setup(paths, output, format, append, colour, progress, opts)
    with _merging(sink):
        ThreadsEngine(opts, sink, stop_event).run_sync(initial, discovery)
    return sink.stats


def follow(
    paths: Iterable[PathArg],
    *,
    stop_event: StopFlag | None = None,
    **options: Unpack[OptionArgs],
) -> Iterator[Line]:
    """Blocking :func:`afollow`: iterate lines in ordinary threaded code.

    The asyncio core runs in a helper thread (a blocking portal); the caller's thread receives batches
    of lines. Break out of the loop or call ``close()`` to stop early: the helper thread ends and every
    file is closed. Raises RuntimeError inside a running event loop.
    """
    _refuse_in_loop("follow", "afollow")
    return _follow_sync(paths, Options(**options), stop_event)


def _follow_sync(paths: Iterable[PathArg], opts: Options, stop_event: StopFlag | None) -> Iterator[Line]:
    portal = _Portal()
    batches: AsyncGenerator[list[Line], None] = _afollow_batches(paths, opts, stop_event)
    try:
        while (batch := portal.call(_next_batch(batches))) is not None:
            yield from batch
    finally:
        try:
            portal.call(batches.aclose())
        finally:
            portal.close()


class _Portal:
    """An event loop in a helper thread that the caller's thread can run coroutines on."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tailmerge loop", daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


async def _next_batch(batches: AsyncGenerator[list[Line], None]) -> list[Line] | None:
    # a sentinel, not StopAsyncIteration, crosses back to the caller's thread
    return await anext(batches, None)


@contextmanager
def _merging(sink: MergeSink) -> Iterator[None]:
    """Time a merge and close its output, however it ends."""
    started = time.monotonic()
    try:
        yield
    finally:
        sink.output.close()
        sink.stats.elapsed = time.monotonic() - started


def _merge_setup(
    paths: Iterable[PathArg],
    output: PathArg | Output | None,
    fmt: str,
    append: bool,
    colour: bool | None,
    progress: Callable[[int], None] | None,
    opts: Options,
) -> tuple[MergeSink, list[str], Discovery | None]:
    if fmt not in FORMATS:  # before the output is opened (and truncated)
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    initial, discovery = _expand(paths, opts)
    if isinstance(output, Output):
        out = output
    else:
        out = Output(os.fspath(output) if output is not None else None, append=append)
    sink = MergeSink(out, fmt, colour=out.isatty() if colour is None else colour, progress=progress)
    sink.name_sources(initial)
    return sink, initial, discovery
