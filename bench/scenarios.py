"""The scenarios of the issue: what data each one needs, how one run goes, and what its table shows."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from contenders import CAT, TAIL, Contender, engines, with_twins
from lines import prewrite
from merger import CopyWorkload, FollowWorkload, Outcome, run_copy, run_follow
from report import Column, Compare, Target

__all__ = ["FULL", "QUICK", "Scenario", "Sizes", "make_scenarios"]


@dataclass(frozen=True)
class Sizes:
    """Every size and duration, for the full run and for ``--quick``."""

    latency_writers: int = 4
    latency_rate: float = 200.0  # lines per second per writer
    latency_s: float = 10.0
    idle_files: int = 1000
    idle_s: float = 10.0
    idle_settle_s: float = 2.0
    throughput_files: int = 8
    throughput_lines: int = 1_000_000
    throughput_line_bytes: int = 100
    scale_files: int = 10_000
    scale_lines: int = 50
    scale_cap_s: float = 60.0
    rotate_rate: float = 2000.0
    rotate_every: int = 2000
    rotate_s: float = 8.0


FULL = Sizes()
QUICK = Sizes(
    latency_s=3.0,
    idle_s=3.0,
    idle_settle_s=1.0,
    throughput_lines=50_000,
    scale_files=1000,
    scale_cap_s=30.0,
    rotate_every=1000,
    rotate_s=3.0,
)

LOSS = [Column("lost", "lost", "sum", 0), Column("doubled", "doubled", "sum", 0), Column("split", "split", "sum", 0)]
LOSS_COUNTS = [Compare("lost", "lost", "count"), Compare("doubled", "doubled", "count")]
ORDER_AND_STOP = [Column("reordered", "reordered", "sum", 0), Column("stop s (max)", "stop_s", "max")]


def writer(files: Sequence[str], ident: str, rate: float, seconds: float, *extra: str) -> list[str]:
    """argv of tailmerge's own log writer."""
    return [
        sys.executable,
        "-m",
        "tailmerge._writer",
        *files,
        "--id",
        ident,
        "--rate",
        f"{rate:g}",
        "--seconds",
        f"{seconds:g}",
        *extra,
    ]


class Scenario:
    """A scenario: its contenders, its data (made in ``setup``, removed in ``teardown``) and one run.

    With a ``baseline`` revision, every tailmerge engine has a twin that runs the baseline's code, and
    ``compared`` names the figures set side by side with it.
    """

    name = ""
    title = ""
    ref: str | None = None  # the contender that ratios divide by
    skip_after_timeout = False  # a contender that timed out once is not run again

    def __init__(self, sizes: Sizes, root: Path, baseline: str | None = None) -> None:
        self.sizes = sizes
        self.dir = root / self.name
        self.baseline = baseline

    def lineup(self) -> list[Contender]:
        """The contenders of this scenario, before baseline twins."""
        return [*engines(), TAIL]

    def contenders(self) -> list[Contender]:
        return with_twins(self.lineup(), self.baseline)

    def twins(self) -> list[tuple[str, str]]:
        """(contender, its baseline twin) names; empty without a baseline."""
        if not self.baseline:
            return []
        return [(c.name, c.twin(self.baseline).name) for c in self.lineup() if c.engine is not None]

    def compared(self) -> list[Compare]:
        """The figures compared with the baseline twin."""
        return []

    def describe(self) -> str:
        raise NotImplementedError

    def columns(self) -> list[Column]:
        raise NotImplementedError

    def targets(self) -> list[Target]:
        return []

    def setup(self) -> None:
        self.dir.mkdir(parents=True)

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, contender: Contender, rep: int) -> Outcome:
        raise NotImplementedError

    @contextmanager
    def fresh_dir(self, contender: Contender, rep: int) -> Iterator[Path]:
        """A directory of its own for a run whose writers change the files, removed after the run."""
        d = self.dir / f"rep{rep}-{contender.name.replace(' ', '_')}"
        d.mkdir()
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Latency(Scenario):
    name = "latency"
    title = "Latency: live writers, time from write to arrival"
    ref = "tail -F"

    def describe(self) -> str:
        s = self.sizes
        return (
            f"{s.latency_writers} writer processes x {s.latency_rate:g} lines/s for {s.latency_s:g} s, one file "
            "each, lines of 60 bytes. Latency = arrival time of the line's newline on the harness end of "
            "the merger's stdout pipe - the write time inside the line (both `time.time_ns()`). p50/p99/max "
            "are per run, then the median over runs; the ratio column divides by tail -F's p99 in the same "
            "repetition. CPU s is the merger's utime+stime from start until just before SIGTERM."
        )

    def columns(self) -> list[Column]:
        return [
            Column("p50 ms", "p50_ms"),
            Column("p99 ms", "p99_ms"),
            Column("max ms", "max_ms"),
            Column("p99 ÷ tail -F", "p99_ms", "ratio"),
            Column("CPU s", "cpu_s"),
            *LOSS,
            *ORDER_AND_STOP,
        ]

    def compared(self) -> list[Compare]:
        return [Compare("p50 ms", "p50_ms"), Compare("p99 ms", "p99_ms"), Compare("CPU s", "cpu_s"), *LOSS_COUNTS]

    def targets(self) -> list[Target]:
        p99 = Column("p99 ms", "p99_ms")
        return [Target("latency p99 ≤ 5 ms", e.name, p99, 5.0, binding=e.engine == "asyncio") for e in engines()]

    def run(self, contender: Contender, rep: int) -> Outcome:
        s = self.sizes
        with self.fresh_dir(contender, rep) as d:
            names = [f"w{i}.log" for i in range(s.latency_writers)]
            prewrite(d, names, 1, 60)  # one line each: its arrival says the merger is following
            writers = [writer([n], f"w{i}", s.latency_rate, s.latency_s) for i, n in enumerate(names)]
            return run_follow(contender, FollowWorkload(d, names, len(names), writers, writer_seconds=s.latency_s))


class Idle(Scenario):
    name = "idle"
    title = "Idle: many files that do not change"

    def describe(self) -> str:
        s = self.sizes
        return (
            f"{s.idle_files} files of 10 lines, followed; once all their lines are out and after "
            f"{s.idle_settle_s:g} s more, CPU seconds over {s.idle_s:g} s (utime+stime from /proc/PID/stat, "
            "children included; 10 ms resolution), the same window in ms from the threads' "
            "/proc/PID/task/*/schedstat (ns resolution), then Threads and VmRSS from /proc/PID/status. No "
            "ratio column: tail -F, the reference, uses no measurable CPU here, so ratios to it are undefined."
        )

    def compared(self) -> list[Compare]:
        return [
            Compare(f"CPU s / {self.sizes.idle_s:g} s", "idle_cpu_s", digits=3),
            Compare("CPU ms (schedstat)", "idle_cpu_ms_fine", digits=1),
            Compare("RSS MB", "rss_mb", digits=1),
            Compare("start-up s", "ready_s"),
        ]

    def columns(self) -> list[Column]:
        return [
            Column(f"CPU s / {self.sizes.idle_s:g} s", "idle_cpu_s", digits=3),
            Column("CPU ms (schedstat)", "idle_cpu_ms_fine", digits=1),
            Column("threads", "threads", digits=0),
            Column("RSS MB", "rss_mb", digits=1),
            Column("start-up s", "ready_s"),
            *LOSS,
            Column("stop s (max)", "stop_s", "max"),
        ]

    def targets(self) -> list[Target]:
        limit = 0.05 * self.sizes.idle_s / 10
        cpu = Column("CPU s", "idle_cpu_s", digits=3)
        goal = f"idle ≤ {limit:g} CPU-s in {self.sizes.idle_s:g} s, {self.sizes.idle_files} files"
        return [Target(goal, e.name, cpu, limit, binding=e.engine == "asyncio") for e in engines()]

    def setup(self) -> None:
        super().setup()
        self.lines = prewrite(self.dir, self._names(), 10, 60)

    def _names(self) -> list[str]:
        return [f"i{i:05d}.log" for i in range(self.sizes.idle_files)]

    def run(self, contender: Contender, rep: int) -> Outcome:
        s = self.sizes
        wl = FollowWorkload(self.dir, self._names(), self.lines, idle_s=s.idle_s, settle_s=s.idle_settle_s)
        return run_follow(contender, wl)


class Scale(Scenario):
    name = "scale"
    title = "Scale: ten thousand files"
    ref = "tail -F"
    skip_after_timeout = True

    def describe(self) -> str:
        s = self.sizes
        return (
            f"{s.scale_files} files x {s.scale_lines} lines of 60 bytes, written before start, followed. "
            f"Time from start until all {s.scale_files * s.scale_lines} lines are out (capped at "
            f"{s.scale_cap_s:g} s: a contender that hits the cap is a timeout and is not run again), then "
            "SIGTERM. Peak RSS is VmHWM; peak threads is the highest Threads seen (sampled every 0.1 s). "
            "The open-file soft limit is raised to the hard limit for every contender."
        )

    def columns(self) -> list[Column]:
        return [
            Column("all lines out, s", "ready_s"),
            Column("time ÷ tail -F", "ready_s", "ratio"),
            Column("peak RSS MB", "peak_rss_mb", "max", 0),
            Column("peak threads", "peak_threads", "max", 0),
            *LOSS,
            Column("stop s (max)", "stop_s", "max"),
            Column("killed at stop", "killed", "sum", 0),
        ]

    def compared(self) -> list[Compare]:
        return [
            Compare("all lines out, s", "ready_s"),
            Compare("peak RSS MB", "peak_rss_mb", digits=0),
            Compare("stop s", "stop_s"),
            Compare("killed at stop", "killed", "count"),
            *LOSS_COUNTS,
        ]

    def targets(self) -> list[Target]:
        rss = Column("peak RSS MB", "peak_rss_mb", "max", 0)
        goal = f"{self.sizes.scale_files} files, peak RSS ≤ 300 MB"
        return [Target(goal, e.name, rss, 300.0) for e in engines()]

    def setup(self) -> None:
        super().setup()
        self.lines = prewrite(self.dir, self._names(), self.sizes.scale_lines, 60)

    def _names(self) -> list[str]:
        return [f"s{i:05d}.log" for i in range(self.sizes.scale_files)]

    def run(self, contender: Contender, rep: int) -> Outcome:
        wl = FollowWorkload(self.dir, self._names(), self.lines, settle_s=0.0, cap_s=self.sizes.scale_cap_s)
        return run_follow(contender, wl)


class Rotate(Scenario):
    title = "Rotation"

    def __init__(self, sizes: Sizes, root: Path, how: str, baseline: str | None = None) -> None:
        self.how = how
        self.name = f"rotate-{how}"
        self.title = f"Rotation by {how}"
        super().__init__(sizes, root, baseline)

    def describe(self) -> str:
        s = self.sizes
        return (
            f"One writer, {s.rotate_rate:g} lines/s for {s.rotate_s:g} s into app.log, rotating it by {self.how} "
            f"every {s.rotate_every} lines (`--rotate {self.how}`); the merger follows the path app.log "
            "(tailmerge with its default --rotate-wait). Afterwards the lines of every generation "
            "(app.log, app.log.1, ...) are compared with the output. CPU s is the merger's utime+stime from "
            "start until just before SIGTERM."
        )

    def columns(self) -> list[Column]:
        return [
            Column("written", "written", digits=0),
            *LOSS,
            *ORDER_AND_STOP,
            Column("p99 ms", "p99_ms"),
            Column("CPU s", "cpu_s"),
        ]

    def compared(self) -> list[Compare]:
        return [Compare("CPU s", "cpu_s"), Compare("p99 ms", "p99_ms"), *LOSS_COUNTS]

    def run(self, contender: Contender, rep: int) -> Outcome:
        s = self.sizes
        with self.fresh_dir(contender, rep) as d:
            prewrite(d, ["app.log"], 1, 60)
            rotate = ("--rotate", self.how, "--rotate-every", str(s.rotate_every))
            writers = [writer(["app.log"], "w0", s.rotate_rate, s.rotate_s, *rotate)]
            return run_follow(contender, FollowWorkload(d, ["app.log"], 1, writers, s.rotate_s))


class Throughput(Scenario):
    name = "throughput"
    title = "Throughput: copy files written before start (--no-follow)"
    ref = "cat"

    def lineup(self) -> list[Contender]:
        return [CAT, *engines("raw"), *engines("labeled"), *engines("jsonl")]

    def describe(self) -> str:
        s = self.sizes
        total = s.throughput_files * s.throughput_lines * s.throughput_line_bytes / 1e6
        return (
            f"{s.throughput_files} files x {s.throughput_lines} lines of {s.throughput_line_bytes} bytes "
            f"({total:.0f} MB), written before start and read once to warm the page cache. Sink: the "
            "merger's stdout is a pipe (1 MiB) drained by a harness thread reading up to 1 MiB per call, the "
            "same for cat. Time from spawn to end of output and exit (start-up included). MB/s is input MB per "
            "second for every format; the ratio divides by cat's MB/s in the same repetition. `ok` counts "
            "runs whose output had the right number of lines and bytes (jsonl: lines, bytes ≥ input)."
        )

    def columns(self) -> list[Column]:
        return [
            Column("MB/s", "mb_s", digits=0),
            Column("MB/s ÷ cat", "mb_s", "ratio"),
            Column("seconds", "elapsed_s"),
            Column("peak RSS MB", "peak_rss_mb", "max", 0),
            Column("ok", "count_ok", "sum", 0),
        ]

    def compared(self) -> list[Compare]:
        return [Compare("MB/s", "mb_s", "higher", 0), Compare("peak RSS MB", "peak_rss_mb", digits=0)]

    def targets(self) -> list[Target]:
        ratio = Column("MB/s ÷ cat", "mb_s", "ratio")
        return [Target("raw throughput ≥ 50% of cat", e.name, ratio, 0.5, at_least=True) for e in engines()]

    def setup(self) -> None:
        super().setup()
        s = self.sizes
        self.names = [f"t{i}.log" for i in range(s.throughput_files)]
        self.lines = prewrite(self.dir, self.names, s.throughput_lines, s.throughput_line_bytes)
        self.input_bytes = self.lines * s.throughput_line_bytes
        for name in self.names:  # warm the page cache
            with open(self.dir / name, "rb") as f:
                while f.read(1 << 20):
                    pass

    def _expected_bytes(self, fmt: str) -> int | None:
        if fmt == "raw":
            return self.input_bytes
        if fmt == "labeled":  # "NAME | " before each line; the names differ, so each label is the name
            per_file = self.sizes.throughput_lines
            return self.input_bytes + sum(per_file * (len(n) + 3) for n in self.names)
        return None

    def run(self, contender: Contender, rep: int) -> Outcome:
        wl = CopyWorkload(self.dir, self.names, self.input_bytes, self.lines, self._expected_bytes(contender.fmt))
        return run_copy(contender, wl)


def make_scenarios(sizes: Sizes, root: Path, baseline: str | None = None) -> dict[str, Scenario]:
    """Every scenario by name, in the order they run; with twins of the engines on ``baseline``."""
    found: list[Scenario] = [
        Latency(sizes, root, baseline),
        Idle(sizes, root, baseline),
        Throughput(sizes, root, baseline),
        Scale(sizes, root, baseline),
        Rotate(sizes, root, "rename", baseline),
        Rotate(sizes, root, "copytruncate", baseline),
    ]
    return {s.name: s for s in found}
