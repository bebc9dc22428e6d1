"""The one runner: start a merger on a pipe, feed it, collect its output, stop it, count.

``run_follow`` serves every follow scenario (latency, idle, scale, rotation) and ``run_copy`` the
``--no-follow`` throughput runs; both drive a :class:`Merger` session. The merger's stdout is a pipe
(widened to 1 MiB, the same for every contender) drained by a harness thread reading up to 1 MiB at a
time (``readv`` into one reused buffer). Each chunk is stamped with ``time.time_ns()`` when it arrives;
a line arrives when the chunk holding its newline does.
"""

from __future__ import annotations

import fcntl
import math
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import procs
from contenders import Contender
from lines import audit, percentile, read_written

__all__ = ["CopyWorkload", "FollowWorkload", "Merger", "Metrics", "run_copy", "run_follow"]

Metrics = dict[str, float]
READ_BYTES = 1 << 20
PIPE_BYTES = 1 << 20
SAMPLE_EVERY = 0.1
STOP_GRACE = 5.0
NAN = math.nan


class PipeReader(threading.Thread):
    """Drains the merger's stdout; counts bytes and lines, and keeps the chunks when asked to."""

    def __init__(self, fd: int, keep: bool) -> None:
        super().__init__(name="bench pipe reader", daemon=True)
        self.fd = fd
        self.keep = keep
        self.chunks: list[tuple[int, bytes]] = []  # (arrival time.time_ns(), data)
        self.nbytes = 0
        self.nlines = 0
        self.eof = False
        self.last_data = time.monotonic()
        self._cond = threading.Condition()

    def run(self) -> None:
        buf = bytearray(READ_BYTES)  # one buffer, reused: no allocation per read when only counting
        try:
            while n := os.readv(self.fd, [buf]):
                arrived = time.time_ns()
                if self.keep:
                    self.chunks.append((arrived, bytes(buf[:n])))
                with self._cond:
                    self.nbytes += n
                    self.nlines += buf.count(b"\n", 0, n)
                    self.last_data = time.monotonic()
                    self._cond.notify_all()
        finally:
            with self._cond:
                self.eof = True
                self._cond.notify_all()

    def wait_lines(self, n: int, deadline: float, quiet: float | None = None) -> bool:
        """Wait until ``n`` lines are in; give up at ``deadline``, at EOF, or after ``quiet`` s of silence."""
        with self._cond:
            while self.nlines < n and not self.eof:
                now = time.monotonic()
                if now >= deadline or (quiet is not None and now - self.last_data >= quiet):
                    break
                self._cond.wait(min(0.05, deadline - now))
            return self.nlines >= n

    def arrivals(self) -> Iterator[tuple[int, bytes]]:
        """Each output line with the arrival time of the chunk that completed it."""
        partial = b""
        for arrived, data in self.chunks:
            pieces = (partial + data).split(b"\n")
            partial = pieces.pop()
            for piece in pieces:
                yield arrived, piece + b"\n"
        if partial and self.chunks:
            yield self.chunks[-1][0], partial  # a last line without a newline: counted as split


class Merger:
    """One merger process writing into a harness pipe, with its output reader and a /proc sampler."""

    def __init__(self, contender: Contender, paths: Sequence[str], *, follow: bool, cwd: Path, keep: bool) -> None:
        self.argv = contender.argv(paths, follow=follow)
        self.code = contender.code
        self.cwd = cwd
        self.keep = keep
        self.peak_threads = 0
        self.peak_rss_kb = 0
        self.stderr_path = cwd.parent / f"{cwd.name}.stderr"
        self.started = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: PipeReader | None = None
        self._sampler: threading.Thread | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self._proc is not None, "the merger is not started"
        return self._proc

    @property
    def reader(self) -> PipeReader:
        assert self._reader is not None, "the merger is not started"
        return self._reader

    def __enter__(self) -> Merger:
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            fcntl.fcntl(read_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # above /proc/sys/fs/pipe-max-size: every contender gets the default size alike
        self._reader = PipeReader(read_fd, self.keep)
        with open(self.stderr_path, "wb") as stderr:
            self.started = time.monotonic()
            try:
                self._proc = procs.spawn(self.argv, cwd=self.cwd, stdout=write_fd, stderr=stderr, code=self.code)
            finally:
                os.close(write_fd)
        self._reader.start()
        self._sampler = threading.Thread(target=self._sample, name="bench sampler", daemon=True)
        self._sampler.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            procs.stop(self._proc, grace=0.0)
        if self._reader is not None:
            self._reader.join(timeout=10)
            os.close(self._reader.fd)
        if self._sampler is not None:
            self._sampler.join(timeout=1)

    def _sample(self) -> None:
        while self.proc.poll() is None:
            self.note_peaks()
            time.sleep(SAMPLE_EVERY)

    def note_peaks(self) -> None:
        s = procs.sample(self.proc.pid)
        if s is not None:
            self.peak_threads = max(self.peak_threads, s.threads)
            self.peak_rss_kb = max(self.peak_rss_kb, s.hwm_kb, s.rss_kb)

    def peak_rss_mb(self) -> float:
        """The highest VmHWM/VmRSS seen (NaN when the process ended before the first sample)."""
        return self.peak_rss_kb / 1024 if self.peak_rss_kb else NAN

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def stop(self) -> Metrics:
        """SIGTERM the merger; how long it took to exit, whether it had to be killed, its exit status."""
        self.note_peaks()
        took, killed = procs.stop(self.proc, STOP_GRACE)
        self.reader.join(timeout=10)
        return {"stop_s": took, "killed": float(killed), "exit": float(self.proc.returncode)}

    def stderr_lines(self, limit: int = 5) -> list[str]:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return []
        return text.splitlines()[:limit]


# -- follow ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowWorkload:
    """Files to follow, what is in them already, and writers to run once the merger has caught up."""

    data_dir: Path
    paths: list[str]  # relative to data_dir
    prewritten: int  # lines in the files before the merger starts; their arrival means it is ready
    writers: list[list[str]] = field(default_factory=list)  # argv, run in data_dir once it is ready
    writer_seconds: float = 0.0  # how long the writers are meant to run
    idle_s: float = 0.0  # measure CPU use over this window once ready
    settle_s: float = 0.5  # pause after ready, before the idle window or the writers
    cap_s: float = 60.0  # give up on the pre-written lines after this long: a timeout
    drain_s: float = 10.0  # longest wait for the written lines once the writers are done
    quiet_s: float = 2.0  # ... or until the output has been silent this long


@dataclass
class Outcome:
    metrics: Metrics
    notes: list[str]


def run_follow(contender: Contender, wl: FollowWorkload) -> Outcome:
    """Start the merger on ``wl``, let it catch up, feed it, stop it, and audit its output."""
    m: Metrics = {}
    notes: list[str] = []
    with Merger(contender, wl.paths, follow=True, cwd=wl.data_dir, keep=True) as merger:
        ready = merger.reader.wait_lines(wl.prewritten, merger.started + wl.cap_s)
        m["ready_s"] = merger.elapsed() if ready else NAN
        m["timeout"] = float(not ready)
        if ready:
            time.sleep(wl.settle_s)
            if wl.idle_s:
                m.update(_idle_window(merger, wl.idle_s))
            if wl.writers:
                m["writers_s"] = _run_writers(wl)
                m.update(_drain(merger, wl))
        else:
            notes.append(f"timed out after {wl.cap_s:g} s with {merger.reader.nlines} of {wl.prewritten} lines")
        m["cpu_s"] = procs.cpu_seconds(merger.proc.pid)  # from spawn until just before SIGTERM
        m.update(merger.stop())  # takes a last sample of the peaks first
        m["peak_threads"] = float(merger.peak_threads)
        m["peak_rss_mb"] = merger.peak_rss_mb()
        m.update(_audit(wl.data_dir, merger))
        notes.extend(merger.stderr_lines())
    return Outcome(m, notes)


def _idle_window(merger: Merger, seconds: float) -> Metrics:
    pid = merger.proc.pid
    before, before_ns = procs.cpu_seconds(pid), procs.cpu_ns(pid)
    time.sleep(seconds)
    after, after_ns = procs.cpu_seconds(pid), procs.cpu_ns(pid)
    s = procs.sample(pid)
    return {
        "idle_cpu_s": after - before,
        "idle_cpu_ms_fine": (after_ns - before_ns) / 1e6,
        "threads": float(s.threads) if s else NAN,
        "rss_mb": s.rss_kb / 1024 if s else NAN,
    }


def _run_writers(wl: FollowWorkload) -> float:
    started = time.monotonic()
    writers = [procs.spawn(argv, cwd=wl.data_dir) for argv in wl.writers]
    for w in writers:
        try:
            w.wait(timeout=wl.writer_seconds + 60)
        finally:
            procs.stop(w, grace=0.0)
    return time.monotonic() - started


def _drain(merger: Merger, wl: FollowWorkload) -> Metrics:
    expected = sum(read_written(wl.data_dir).values())  # now complete: the writers are done
    started = time.monotonic()
    merger.reader.wait_lines(expected, started + wl.drain_s, quiet=wl.quiet_s)
    return {"drain_s": time.monotonic() - started}


def _audit(data_dir: Path, merger: Merger) -> Metrics:
    a = audit(read_written(data_dir), merger.reader.arrivals())
    ms = [ns / 1e6 for ns in (percentile(a.latencies_ns, q) for q in (0.5, 0.99, 1.0))]
    return {
        "written": float(a.written),
        "output": float(a.output),
        "lost": float(a.lost),
        "doubled": float(a.doubled),
        "split": float(a.split),
        "reordered": float(a.reordered),
        "p50_ms": ms[0],
        "p99_ms": ms[1],
        "max_ms": ms[2],
    }


# -- copy (--no-follow) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CopyWorkload:
    """Files copied once to the pipe; the output must hold ``lines`` lines and ``out_bytes`` bytes."""

    data_dir: Path
    paths: list[str]
    input_bytes: int
    lines: int
    out_bytes: int | None  # exact expected output size, when the format makes it predictable
    cap_s: float = 300.0


def run_copy(contender: Contender, wl: CopyWorkload) -> Outcome:
    """Time one copy of ``wl`` from start-up to end of output and exit; check the counts."""
    notes: list[str] = []
    with Merger(contender, wl.paths, follow=False, cwd=wl.data_dir, keep=False) as merger:
        deadline = merger.started + wl.cap_s
        merger.reader.join(timeout=wl.cap_s)  # the reader ends at EOF
        try:
            merger.proc.wait(timeout=max(0.01, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass  # a timeout: the session kills it on the way out
        elapsed = merger.elapsed()
        r = merger.reader
        finished = r.eof and merger.proc.poll() is not None
        bytes_ok = r.nbytes == wl.out_bytes if wl.out_bytes is not None else r.nbytes >= wl.input_bytes
        ok = finished and r.nlines == wl.lines and bytes_ok
        if not ok:
            want = wl.out_bytes if wl.out_bytes is not None else f">= {wl.input_bytes}"
            notes.append(f"output {r.nlines} lines / {r.nbytes} bytes; expected {wl.lines} lines / {want} bytes")
        m: Metrics = {
            "elapsed_s": elapsed,
            "mb_s": wl.input_bytes / 1e6 / elapsed,
            "count_ok": float(ok),
            "timeout": float(not finished),
            "exit": float(merger.proc.returncode) if finished else NAN,
            "peak_rss_mb": merger.peak_rss_mb(),
        }
        notes.extend(merger.stderr_lines())
    return Outcome(m, notes)
