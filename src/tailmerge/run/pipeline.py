"""One run of the pipeline: sources and their waker, the stop token and the merge.

The start, supervision and stop sequence lives here once, in a blocking and an awaiting form (the
declared twins ``execute_blocking``/``execute_async``); the followers are driven by ``run.drivers``; an
engine only says how a follower waits and where it hands over (``run.engines``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

from ..bridge import Bell, StopToken, Workers, call_soon, signals_wake
from ..core import Follower, Framing, Identity, record_starts
from ..merge import ROOM, Merge, Timing
from ..opening import PathArg, as_paths
from ..options import Options
from ..sinks import Origin, Output, Sink, span_switch
from ..sources import Compressed, Discovery, Ledger, OpenFiles, Source, Stdin, fd_budget, is_archive, is_pattern
from ..sources.ledger import FileRead
from ..sources.limits import reserve_descriptors
from ..sources.resolve import Resolver
from ..sources.start import Start
from ..watch import Watcher, make_watcher
from .drivers import ACTIVE_FOLLOWERS, Drivers
from .routes import Routes

__all__ = ["Engine", "Run", "make_run", "troubled"]

log = logging.getLogger("tailmerge")

T = TypeVar("T")
if TYPE_CHECKING:  # a stream source's module only when a stream is read
    from ..sources import StreamSource

    Input: TypeAlias = Source | Stdin | Compressed | StreamSource
STOP_GRACE = 0.8  # seconds sinks may take to deliver what is queued after a signal, before giving up


class Engine(Protocol):
    """A launch strategy: how followers are started and waited for."""

    def launch(self, followers: Sequence[Follower[Any]]) -> None:
        """Start following (called again for files found later)."""

    def start_waker(self) -> None: ...

    def join_blocking(self) -> None:
        """Wait until every follower has ended, then stop the waker (the blocking sequence)."""

    async def join_async(self) -> None:
        """Await every follower's end, then the waker's (the awaiting sequence)."""


class Run(Drivers):
    """The shared state of one run. Thread-safe where the threads engine needs it."""

    def __init__(
        self,
        options: Options,
        merge: Merge,
        token: StopToken,
        paths: Sequence[str],
        discovery: Discovery | None,
        ledger: Ledger | None = None,
    ) -> None:
        """``ledger``: what earlier runs read (from a state); then a final line without a newline is never
        completed with one at the end, so the next run, when the line is whole, takes it whole."""
        self.options = options
        self.merge = merge
        self.token = token
        self.watcher: Watcher = make_watcher(options.watch) if options.follow else Watcher()
        if options.watch == "inotify" and not self.watcher.event_driven:
            log.warning("--watch inotify: inotify could not be used; polling instead")
        self.ledger = ledger if ledger is not None else Ledger()
        self.open_files = OpenFiles(fd_budget())  # more files than descriptors: the idle ones are closed
        starts = record_starts(options.multiline, options.multiline_start) if options.records else None
        self.framing = Framing(options.max_line_bytes, starts, options.max_record_bytes, options.multiline_timeout)
        # no more read per step than the order holds before waiting for room, nor than a sink takes at once
        bounds = [ROOM] if merge.order is not None else []
        bounds += [b for sink in merge.sinks if (b := getattr(sink, "step_bytes", None))]
        if bounds:
            self.framing = replace(self.framing, step_budget=min(bounds))
        self.origins: dict[Input, Origin] = {}
        self.unwritten = 0
        """Bytes the sinks could not deliver after a stop (set when the run has finished)."""
        self._left_out: Identity | None = None
        self.routes = Routes(merge)  # a stream source's hosts and paths, each an origin of the merge
        self._paths: set[str] = set()
        self._lock = threading.Lock()
        self._alive = 0
        self._initial = list(paths)
        # the table for the files there at the start, grown while the caller may still have one thread
        # (before the sinks' writer and the engines' threads start)
        reserve_descriptors(min(len(self._initial), self.open_files.limit))
        self.discovery = discovery if options.follow else None
        self.unmatched = discovery.unmatched if discovery is not None else None
        # the blocking followers' threads (threads and mixed engines): at most this many read or hand
        # over at once, and a follower that waits holds none (thousands of threads start, stop and fight
        # for the GIL slowly); started only when a leg is queued, so the asyncio engine has none
        self.workers = Workers(ACTIVE_FOLLOWERS)
        timing = merge.timing
        since = timing.window.since if timing is not None else None
        self._since = (since, timing.parser) if timing is not None and since is not None else None

    # -- sources --------------------------------------------------------------------------------

    def initial(self) -> list[Follower[Any]]:
        followers: list[Follower[Any]] = list(self.new_sources(self._initial, at_start=True))
        if self.discovery is not None:
            with self._lock:
                self._alive += 1
            followers.append(self.discovery)
        return followers

    def leave_out(self, file: Identity | None) -> None:
        """Never follow ``file`` (the output: an input glob that matches it would feed the merge on itself)."""
        self._left_out = file

    def new_sources(self, paths: Sequence[str], *, at_start: bool = False) -> list[Input]:
        """Sources for ``paths``, leaving out any already followed by name or by identity (a hard link, a
        symlink, or a rotated file that a glob matches again under its new name). Each is counted alive
        from here: the caller launches it, and the run is done when the last follower has ended. A
        compressed file (``.gz``, ``.bz2``, ``.xz``) is a ``Compressed`` source, opened on its first step:
        after the files opened here, so that it knows what they hold."""
        if self.ledger.resumable:  # with a state only: what the generation search and the take-up need
            self.ledger.followed.update(os.path.abspath(p) for p in paths)
            if at_start:  # paths a state knows first: they take up the files they were reading, wherever now
                paths = sorted(paths, key=lambda p: not self.ledger.saved(os.path.abspath(p)))
        if not at_start:  # files a glob found since: grown once for the lot, not by doubling as they open
            reserve_descriptors(min(len(paths), self.open_files.limit))
        with self._lock:
            held = {i for s in self.origins if isinstance(s, Source | Compressed) for i in s.identities()}
            new: list[Input] = []
            resolver = Resolver()
            for path in paths:
                if path == "-" or path.startswith(("redis://", "rediss://")):
                    if path not in self._paths:
                        self._paths.add(path)
                        new.append(self._stream(path))
                    continue
                key = resolver.absolute(path)
                if key in self._paths:
                    continue
                real = None
                try:
                    st = os.lstat(path)  # a regular file's entry is the file: one call for both
                    if stat.S_ISLNK(st.st_mode):
                        st = os.stat(path)  # a symlink's target is resolved in full by the waker
                    else:
                        real = resolver.real(key)
                    ident = Identity(st.st_dev, st.st_ino)
                    if self._left_out is not None and ident == self._left_out:
                        self._paths.add(key)
                        log.warning("%s: is the output; left out", path)
                        continue
                    if ident in held:
                        continue
                    held.add(ident)
                except OSError:
                    pass  # missing or unreadable: the source itself reports it
                self._paths.add(key)
                if is_archive(path):
                    new.append(self._archive(path, at_start))
                    continue
                file_source = self._source(path, at_start, key, real)
                file_source.open()
                held.update(file_source.identities())
                new.append(file_source)
            for source, origin in zip(new, self.merge.add_sources([s.path for s in new]), strict=True):
                self.origins[source] = origin
            self._alive += len(new)
        return new

    def _source(self, path: str, at_start: bool, abspath: str, real_path: str | None) -> Source:
        """A source; only files given at start begin where ``--from``/``--lines`` say (later ones: at 0)."""
        o = self.options
        return Source(
            path,
            abspath=abspath,
            real_path=real_path,
            start=Start(o.tail_lines, o.from_line, self._since) if at_start else None,
            rotate_wait=o.rotate_wait,
            follow=o.follow,
            ledger=self.ledger,
            framing=self.framing,
            budget=self.open_files,
        )

    def _stream(self, path: str) -> Stdin | StreamSource:
        """Standard input (``-``), or a Redis Stream."""
        if path == "-":
            return Stdin(self.options.stdin_label, framing=self.framing)
        from ..sources.stream import stream_source

        return stream_source(path, self.options, self.ledger)

    def _archive(self, path: str, at_start: bool) -> Compressed:
        """A compressed generation: read whole, once. Given at start, it begins where ``--from``/``--lines``
        say; found later while following, it is read once it has been quiet for ``--rotate-wait``."""
        o = self.options
        return Compressed(
            path,
            framing=self.framing,
            ledger=self.ledger,
            last_lines=o.tail_lines if at_start else None,
            from_line=o.from_line if at_start else None,
            settle=None if at_start or not o.follow else o.rotate_wait,
            held=self._held,
        )

    def _held(self) -> list[FileRead]:
        """The files the run's sources hold open (an archive that is a copy of one is not read)."""
        with self._lock:
            sources = [s for s in self.origins if isinstance(s, Source)]
        return [read for s in sources for read in s.held()]

    # -- the sequence ---------------------------------------------------------------------------

    def execute_blocking(self, engine: Engine) -> None:
        """Run in this thread until every follower is done or the run is stopped."""
        with Bell() as due:  # the stop, a signal, or held units due sooner than the wait below was told
            self.token.on_stop(due.ring)
            self.token.bell = self.merge.on_due = due.ring
            try:
                self._start(engine)
                self.token.take_request()  # a signal before the bell was there
                while not self.token.is_set():
                    due.wait(self._wait_left())
                    self.token.take_request()
                    self._check_idle()
                    self.merge.tick()
            finally:
                self.token.stop("done")
                engine.join_blocking()
                self.workers.shutdown()  # idle by now: joined at once
                self.watcher.close()
                self._finish(self.merge.flush)
                self._report_late()
                self.token.bell = None

    async def execute_async(self, engine: Engine) -> None:
        """Await until every follower is done or the run is stopped."""
        loop = asyncio.get_running_loop()
        due = asyncio.Event()
        self.token.on_stop(lambda: call_soon(loop, due.set))
        self.merge.on_due = lambda: call_soon(loop, due.set)
        with signals_wake(loop, self.token):
            try:
                self._start(engine)
                self.token.take_request()  # a signal before the bell was there
                while not self.token.is_set():
                    try:
                        async with asyncio.timeout(self._wait_left()):
                            await due.wait()
                    except TimeoutError:
                        pass
                    due.clear()
                    self._check_idle()
                    await self.merge.atick()
            finally:
                self.token.stop("done")
                await engine.join_async()
                self.workers.shutdown()  # idle by now: joined at once
                self.watcher.close()
                try:
                    await self.merge.aflush()
                except Exception as e:
                    self.token.fail(e)
                self._report_late()

    def _start(self, engine: Engine) -> None:
        """The waker, then the followers of the files there at the start (the workers held meanwhile)."""
        engine.start_waker()
        with self._launching():
            engine.launch(self.initial())
        self._check_done()

    def raise_failure(self) -> None:
        """Raise the first error of the run (a follower's, or a sink's, even one met while finishing)."""
        if self.token.error is not None:
            raise self.token.error

    def grace(self) -> float | None:
        """How long sinks may take to deliver what they hold: after a signal, what is left of STOP_GRACE
        (a stalled reader of the output must not hold up the exit); otherwise as long as they need."""
        token = self.token
        if token.reason != "signal" or token.stopped_at is None:
            return None
        return max(0.0, token.stopped_at + STOP_GRACE - time.monotonic())

    def _finish(self, flush: Callable[[], None]) -> None:
        """Send what the merge still holds in time order once every follower has ended."""
        try:
            flush()
        except Exception as e:
            self.token.fail(e)

    def _report_late(self) -> None:
        order = self.merge.order
        if order is not None and order.late:
            log.warning(
                "%d lines came more than %g s (--lateness) after later ones were written; each was written "
                "when it came, out of time order",
                order.late,
                self.options.lateness,
            )

    def _wait_left(self) -> float | None:
        """How long the run's loop may sleep: until idle, or until held units are due."""
        idle = self._idle_left()
        due = self.merge.next_deadline()
        if due is None:
            return idle
        due_in = max(0.0, due - time.monotonic())
        return due_in if idle is None else min(idle, due_in)

    def wait_room(self, origin: Origin) -> None:
        """A blocking follower whose source holds too much in time order waits here, lending its worker's
        place to the others (one of them holds back what it waits for)."""
        if self.merge.full(origin) and not self.token.is_set():
            with self.workers.lend():
                self.merge.wait_room(origin)

    def _idle_left(self) -> float | None:
        idle = self.options.idle_timeout
        return None if idle is None else max(0.0, self.merge.last_activity + idle - time.monotonic())

    def _check_idle(self) -> None:
        if self._idle_left() == 0.0:
            log.info("no source grew for %g s; stopping", self.options.idle_timeout)
            self.token.stop("idle")

    def _check_done(self) -> None:
        with self._lock:
            if self._alive == 0:
                self.token.stop("done")

    def _ended(self, follower: Follower[Any]) -> None:
        origin = self.origins.get(follower)  # type: ignore[call-overload]
        if origin is not None:
            self.merge.ended(origin)
        for routed in self.routes.origins(follower):
            self.merge.ended(routed)
        with self._lock:
            self._alive -= 1
        self._check_done()


def _expand(paths: Iterable[PathArg], options: Options) -> tuple[list[str], Discovery | None]:
    """Split arguments into literal paths and glob patterns; the patterns' current matches join the paths."""
    args = as_paths(paths)
    patterns = [a for a in args if is_pattern(a)]
    discovery = Discovery(patterns, options.exclude, follow=options.follow)
    literal = discovery.keep(a for a in args if a not in patterns)  # excludes apply to them too
    found = discovery.step()
    return literal + found, discovery if patterns else None


def make_run(
    paths: Iterable[PathArg],
    opts: Options,
    sinks: list[Sink],
    output: Output | None = None,
    ledger: Ledger | None = None,
) -> Run:
    """A run of ``paths`` into ``sinks``; ``output`` is never followed; ``ledger``: what earlier runs read."""
    initial, discovery = _expand(paths, opts)
    run = Run(opts, Merge(sinks, _timing(opts)), StopToken(), initial, discovery, ledger)
    run.leave_out(output.identity() if output is not None else None)  # its file is never an input
    if run.merge.timing is None and run.framing.starts is None and (spans := span_switch(sinks)) is not None:
        run.framing = replace(run.framing, spans=spans)
    return run


def _timing(opts: Options) -> Timing | None:
    """How lines are timed, when they are: ordered (exactly with ``follow=False``), or windowed."""
    if not opts.timed:
        return None
    from ..core import TimeOrder, Window  # a timed run's modules only for a timed run

    since, until = opts.window(time.time())
    order = TimeOrder(opts.lateness if opts.follow else None) if opts.order == "time" else None
    return Timing(opts.parser, Window(since, until), order)


def troubled(run: Run) -> list[str]:
    """Files that were missing or unreadable (an archive: or corrupt) when the run ended, and patterns that
    matched nothing (``--no-follow`` exits 1 for them)."""
    missing = [s.path for s in run.origins if isinstance(s, Source | Compressed) and s.problem is not None]
    return missing + (run.unmatched if run.unmatched is not None else [])
