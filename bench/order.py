"""What ``--order time`` costs: tailmerge's time-ordered merge of whole files against ``sort -m`` and
logmerger, and line-mode arrival order before and after time order existed, side by side.

    python bench/order.py                    # 8 files x 1M lines (~800 MB), 3 runs each
    python bench/order.py --lines 100000 --runs 2 --logmerger-lines 20000 --logmerger-table-lines 500
    python bench/order.py --lines 100000 --runs 5 --logmerger-lines 0 --logmerger-table-lines 0 --time-baseline REV

Run it with the interpreter that has tailmerge installed (and logmerger, which is not a dependency of
tailmerge: ``pip install logmerger`` into the bench's environment; without it its rows are skipped).

The files hold lines like ``2026-11-25T21:01:41.123Z INFO  f3.log seq=00012345 message...`` (``--width``
bytes, newline included), each file sorted by time, the files' times interleaved over the same span and
unique across files (file k's milliseconds are k modulo the number of files), so that a stable merge by
the timestamp has one answer. Every contender writes to a file next to the data (the last one's removed
and the disks synced first, untimed, so that no run pays for another's writeback) and is timed from start
to exit: wall time, and the child's user + system CPU and peak RSS from wait4 (which counts at least the
RSS of this process, so the data is generated in worker processes). In each repetition every
contender runs once, in an order that rotates from one repetition to the next; tailmerge's arrival order
now and at ``--baseline`` (default b988c3d, the commit before time order; it has no --order option, so it
runs without one) run back to back, which of the two first alternating. The baseline runs from a git
worktree of that commit, with its src/ first on PYTHONPATH. Tables show medians over the repetitions
(the peak RSS: the largest); ratios are taken within a repetition, then their median is shown.
``--time-baseline REV`` also runs time order at REV (a worktree, as the baseline), back to back with time
order now: its "after ÷ before".

Checked: the time-ordered outputs of tailmerge equal ``sort -m``'s byte for byte; arrival-order outputs
hold as many bytes as the inputs. logmerger writes a table (a timestamp column, then a column per file)
rather than the lines, so its output is only checked for a line per input line (plus its header). It
keeps every row in memory before it writes any, and its text table (``--output -``, rendered by rich)
goes at a few hundred rows a second, so it runs on smaller sets made by the same generator:
``--logmerger-lines`` per file for ``--csv``, ``--logmerger-table-lines`` for ``--output -``, each
measured in the same repetitions against ``sort -m`` and tailmerge on that set.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import itertools
import multiprocessing
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import procs
from report import code_identity, loadavg

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PY = sys.executable
BASELINE = "b988c3d"  # the last commit before time order: arrival order there is the "before"
START = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)  # the run of times crosses midnight
BLOCK_LINES = 20_000
LEVELS = (b"INFO ", b"DEBUG", b"WARN ", b"ERROR")
LEVEL_WEIGHTS = (60, 25, 10, 5)
MESSAGES = (
    b"request served path=/api/v1/items status=200",
    b"cache miss key=user:4711 refilling from the store",
    b"slow query took 1234 ms table=orders",
    b"connection reset by peer; retrying with backoff",
    b"worker heartbeat ok queue=17 in flight=3",
    b"user logged in from 10.0.0.42 via password",
    b"rotated the session keys of 12 tenants",
)


# -- data ----------------------------------------------------------------------------------------------


HEAD = b"%s.%03dZ %s %s seq=%08d "  # time to the second, ms, level, file name, line number; then a message


def room(name: str, width: int) -> int:
    """The bytes left for the message of a line of ``width`` bytes in file ``name`` (newline included)."""
    return width - 1 - len(HEAD % (b"2026-11-25T21:00:00", 0, LEVELS[0], name.encode(), 0))


def write_file(path: Path, k: int, nfiles: int, lines_each: int, width: int, seed: int) -> int:
    """Write file ``k`` of ``nfiles``: ``lines_each`` timestamped lines of ``width`` bytes; return its size.

    Its times (in ms) are ``start + nfiles * (sum of random gaps of 1..3) + k``: increasing, spread over
    the same span as the other files' and never equal to a time of theirs."""
    rng = random.Random(seed * 1_000_003 + k)
    start_ms = int(START.timestamp()) * 1000
    fill = room(path.name, width)
    texts = [((m + b" ") * (fill // len(m) + 1))[:fill] + b"\n" for m in MESSAGES]
    levels = rng.choices(LEVELS, weights=LEVEL_WEIGHTS, k=lines_each)
    stamps = [start_ms + nfiles * t + k for t in itertools.accumulate(rng.choices((1, 2, 3), k=lines_each))]
    seconds = {  # the "YYYY-MM-DDTHH:MM:SS" of each second, made once
        sec: datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S").encode()
        for sec in range(stamps[0] // 1000, stamps[-1] // 1000 + 1)
    }
    label = path.name.encode()
    total = 0
    with open(path, "wb") as f:
        for lo in range(0, lines_each, BLOCK_LINES):
            hi = min(lines_each, lo + BLOCK_LINES)
            data = b"".join(
                [
                    HEAD % (seconds[t // 1000], t % 1000, level, label, seq) + texts[seq % len(texts)]
                    for seq, t, level in zip(range(lo, hi), stamps[lo:hi], levels[lo:hi], strict=True)
                ]
            )
            f.write(data)
            total += len(data)
    return total


@dataclass
class DataSet:
    """Files of ``lines_each`` lines each, and what they add up to."""

    title: str
    directory: Path
    names: list[str]
    lines_each: int
    size: int = 0

    @property
    def lines(self) -> int:
        return self.lines_each * len(self.names)

    @property
    def paths(self) -> list[str]:
        return [str(self.directory / n) for n in self.names]


def generate(sets: Sequence[DataSet], width: int, seed: int) -> None:
    """Write every file of every set, in two worker processes: they go faster, and this process stays
    small (a child's peak RSS from wait4 counts this process's own, as it was when the child started)."""
    t0 = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        for data in sets:
            data.directory.mkdir(parents=True)
            n = len(data.names)
            sizes = [
                pool.submit(write_file, data.directory / name, k, n, data.lines_each, width, seed)
                for k, name in enumerate(data.names)
            ]
            data.size = sum(f.result() for f in sizes)
    _progress(f"generated {sum(d.size for d in sets) / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s")


# -- contenders ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """A command under test. ``code`` names the copy of tailmerge it imports ("" for src/ here, else the
    baseline revision); ``kind`` says how its output is checked: time (equal to sort -m's), arrival (as
    many bytes as the inputs), rows (logmerger: a line per input line, and a few of header)."""

    name: str
    kind: str
    code: str = ""
    engine: str | None = None  # None: tailmerge's default (asyncio)

    def argv(self, data: DataSet, out: Path, width: int) -> list[str]:
        paths = data.paths
        if self.name == "sort -m":
            return ["env", "LC_ALL=C", "sort", "-m", "-s", "-k1,1", *paths, "-o", str(out)]
        if self.name == "logmerger --csv":
            return ["logmerger", "--csv", str(out), *paths]
        if self.name == "logmerger --output -":
            # without --width it writes an empty table when its output is not a terminal; this one fits
            # every row on one line (a timestamp column, then a column per file)
            return ["logmerger", "--output", "-", "--width", str(32 + len(paths) * (width + 4)), *paths]
        cmd = [PY, "-m", "tailmerge", "follow", "--no-follow", "-o", str(out)]
        if self.engine is not None:
            cmd += ["--engine", self.engine]
        if self.kind == "time":
            cmd += ["--order", "time"]
        return [*cmd, "--", *paths]

    @property
    def stdout(self) -> bool:
        return self.name == "logmerger --output -"


@dataclass(frozen=True)
class Entry:
    """A contender on a data set ("main", "csv" or "table": the latter two are logmerger's)."""

    contender: Contender
    dataset: str

    @property
    def name(self) -> str:
        return self.contender.name


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # seconds, user + system, of the child (and any children it waited for)
    rss_mb: float  # its peak resident set
    digest: str = ""


@dataclass
class Results:
    by_rep: dict[tuple[str, str, int], Run] = field(default_factory=dict)  # (dataset, name, rep)
    problems: list[str] = field(default_factory=list)

    def runs(self, dataset: str, name: str) -> list[Run]:
        return [r for (d, n, _), r in self.by_rep.items() if d == dataset and n == name]


SORT = Contender("sort -m", "time")
TIME = Contender("tailmerge --order time", "time")
TIME_THREADS = Contender("tailmerge --order time --engine threads", "time", engine="threads")
ARRIVAL = Contender("tailmerge (arrival)", "arrival")
LM_CSV = Contender("logmerger --csv", "rows")
LM_TABLE = Contender("logmerger --output -", "rows")


def twin(rev: str) -> Contender:
    """Arrival order at ``rev`` (which has no --order: arrival is all it does)."""
    return Contender(f"tailmerge (arrival) @{rev}", "arrival", code=rev)


def time_twin(rev: str) -> Contender:
    """Time order at ``rev`` (``--time-baseline``)."""
    return Contender(f"tailmerge --order time @{rev}", "time", code=rev)


def plan(rev: str, sets: Sequence[str], time_rev: str | None = None) -> list[list[Entry]]:
    """Groups of entries that run back to back: arrival order now and at ``rev`` form one, and time order
    now and at ``time_rev`` (if given) another."""
    groups = [
        [Entry(SORT, "main")],
        [Entry(TIME, "main")] + ([Entry(time_twin(time_rev), "main")] if time_rev else []),
        [Entry(TIME_THREADS, "main")],
        [Entry(ARRIVAL, "main"), Entry(twin(rev), "main")],
    ]
    for dataset, logmerger in (("csv", LM_CSV), ("table", LM_TABLE)):
        if dataset in sets:
            groups += [[Entry(SORT, dataset)], [Entry(TIME, dataset)], [Entry(logmerger, dataset)]]
    return groups


def order_of(groups: list[list[Entry]], rep: int) -> list[Entry]:
    """Repetition ``rep`` starts with group ``rep`` (mod n); pairs alternate which of them goes first."""
    shift = rep % len(groups)
    return [e for g in groups[shift:] + groups[:shift] for e in (g if rep % 2 == 0 else g[::-1])]


# -- running -------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed(argv: Sequence[str], cwd: Path, code: str, stdout: Path | None, errors: Path) -> tuple[Run, int]:
    """Run ``argv`` to its end; return its wall and CPU time, peak RSS, and its exit status."""
    with open(errors, "wb") as err, open(stdout if stdout else os.devnull, "wb") as out:
        started = time.perf_counter()
        proc = procs.spawn(argv, cwd=cwd, stdout=out, stderr=err, code=code)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: procs.kill_all leaves it alone
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024), proc.returncode


def scan(path: Path) -> tuple[str, int]:
    """The sha256 of a file and its number of newlines."""
    h = hashlib.sha256()
    newlines = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
            newlines += block.count(b"\n")
    return h.hexdigest(), newlines


def run_one(entry: Entry, data: DataSet, work: Path, rep: int, width: int, results: Results) -> None:
    c = entry.contender
    out = work / "out.log"
    out.unlink(missing_ok=True)
    os.sync()  # untimed: no run pays for the writeback of what ran before it
    errors = work / "stderr.txt"
    run, status = timed(c.argv(data, out, width), work, c.code, out if c.stdout else None, errors)
    where = f"run {rep + 1}, {entry.name} ({data.title})"
    if status != 0:
        tail = errors.read_text(errors="replace").strip().splitlines()[-3:]
        results.problems.append(f"{where}: exit status {status}: {' / '.join(tail)}")
    size = out.stat().st_size if out.exists() else 0
    if c.kind == "time":
        run.digest = scan(out)[0] if out.exists() else "missing"
    elif c.kind == "arrival" and size != data.size:
        results.problems.append(f"{where}: wrote {size:,} bytes of {data.size:,}")
    elif c.kind == "rows":
        rows = scan(out)[1] if out.exists() else 0
        if not data.lines < rows <= data.lines + 8:
            results.problems.append(f"{where}: {rows:,} lines out for {data.lines:,} in")
    results.by_rep[(entry.dataset, entry.name, rep)] = run
    _progress(
        f"   {where:<62} {run.wall:7.2f} s wall {run.cpu:7.2f} s CPU {_mb_s(data.size, run.wall):>7} MB/s "
        f"{run.rss_mb:6.0f} MB RSS ({size / 1e6:.0f} MB out)"
    )


def check_order(results: Results) -> bool:
    """Every time-ordered output must equal sort -m's on the same data in the same repetition."""
    same = True
    for (dataset, name, rep), run in sorted(results.by_rep.items()):
        ref = results.by_rep.get((dataset, SORT.name, rep))
        if run.digest and name != SORT.name and ref is not None and run.digest != ref.digest:
            results.problems.append(f"run {rep + 1}, {name} ({dataset}): output differs from sort -m's")
            same = False
    return same


# -- the baseline ----------------------------------------------------------------------------------------


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def use_code(src: Path, code: str) -> None:
    """Byte-compile the tailmerge under ``src`` and start the children of ``code`` with it first on
    PYTHONPATH; make sure that is the tailmerge they import."""
    compileall.compile_dir(src / "tailmerge", quiet=1)
    path = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path)
    probe = [PY, "-c", "import tailmerge; print(tailmerge.__file__)"]
    where = subprocess.run(probe, env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(str(src)):
        raise SystemExit(f"tailmerge imports from {where}, not from {src}")
    procs.use_env(env, code)


# -- the tables ----------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _mb_s(size: int, wall: float) -> str:
    rate = size / 1e6 / wall
    return f"{rate:.1f}" if rate >= 1 else f"{rate:.3f}"


def _times(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def _ratio(results: Results, dataset: str, a: str, b: str) -> float:
    """The median over repetitions of a's throughput ÷ b's (b's wall ÷ a's) in the same repetition."""
    ratios = []
    for (d, name, rep), ra in results.by_rep.items():
        rb = results.by_rep.get((d, b, rep))
        if d == dataset and name == a and rb is not None:
            ratios.append(rb.wall / ra.wall)
    return _median(ratios)


def table(
    results: Results, entries: Sequence[Entry], data: DataSet, rev: str, time_rev: str | None = None
) -> list[str]:
    rows = [
        "| tool | runs | wall s | CPU s | max RSS MB | MB/s | lines/s | ÷ sort -m | after ÷ before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        done = results.runs(data.title, e.name)
        if not done:
            continue
        wall = _median([r.wall for r in done])
        cpu = _median([r.cpu for r in done])
        rss = max(r.rss_mb for r in done)
        vs_sort = _ratio(results, data.title, e.name, SORT.name)
        after = ""
        if e.contender is ARRIVAL:
            after = _times(_ratio(results, data.title, e.name, twin(rev).name))
        elif e.contender is TIME and time_rev and data.title == "main":
            after = _times(_ratio(results, data.title, e.name, time_twin(time_rev).name))
        elif e.contender.code:
            after = "(before)"
        rows.append(
            f"| {e.name} | {len(done)} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {_mb_s(data.size, wall)} | "
            f"{data.lines / wall:,.0f} | {_times(vs_sort)} | {after} |"
        )
    return rows


# -- main ----------------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--lines", type=int, default=1_000_000, help="lines per file")
    p.add_argument("--width", type=int, default=100, help="bytes per line, newline included")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--logmerger-lines",
        type=int,
        default=100_000,
        help="lines per file for logmerger --csv (it holds every row in memory); 0: skip it",
    )
    p.add_argument(
        "--logmerger-table-lines",
        type=int,
        default=2_000,
        help="lines per file for logmerger --output - (a rich table: ~400 rows/s); 0: skip it",
    )
    p.add_argument("--baseline", default=BASELINE, help="the revision of the 'before' arrival-order run")
    p.add_argument(
        "--time-baseline",
        default=None,
        help="also run time order at this revision (from a worktree), back to back with time order now",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tmp", default=None, help="directory for the data (default: the system temp dir)")
    a = p.parse_args()
    if a.runs < 1 or a.lines < 1 or a.files < 1:
        p.error("--runs, --lines and --files must be at least 1")
    names = [f"f{i}.log" for i in range(a.files)]
    if room(names[-1], a.width) < 1:
        p.error(f"--width {a.width} leaves no room for a message")
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # SIGINT: ignored in a background job
        signal.signal(sig, _interrupt)
    wanted = {"csv": a.logmerger_lines, "table": a.logmerger_table_lines}
    if shutil.which("logmerger") is None and any(wanted.values()):
        _progress("logmerger is not installed (pip install logmerger): its rows are skipped")
        wanted = {}
    rev = _git("rev-parse", "--short", "--verify", f"{a.baseline}^{{commit}}")
    time_rev = _git("rev-parse", "--short", "--verify", f"{a.time_baseline}^{{commit}}") if a.time_baseline else None
    started_load = loadavg()
    root = Path(tempfile.mkdtemp(prefix="tailmerge-order-bench-", dir=a.tmp))
    worktree = root / f"baseline-{rev}"
    time_worktree = root / f"time-baseline-{time_rev}"
    results = Results()
    sets = {"main": DataSet("main", root / "main", names, a.lines)}
    sets |= {k: DataSet(k, root / k, names, n) for k, n in wanted.items() if n > 0}
    try:
        use_code(REPO / "src", "")
        _git("worktree", "add", "--detach", str(worktree), rev)
        use_code(worktree / "src", rev)
        if time_rev:
            _git("worktree", "add", "--detach", str(time_worktree), time_rev)
            use_code(time_worktree / "src", time_rev)
        generate(list(sets.values()), a.width, a.seed)
        groups = plan(rev, list(sets), time_rev)
        for rep in range(a.runs):
            _progress(f"repetition {rep + 1}/{a.runs}, load average {loadavg()}")
            for entry in order_of(groups, rep):
                run_one(entry, sets[entry.dataset], root, rep, a.width, results)
        same = check_order(results)
    except KeyboardInterrupt:
        _progress("interrupted: stopping every child and removing the data")
        return 130
    finally:
        procs.kill_all()
        for tree in (worktree, time_worktree) if time_rev else (worktree,):
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)
        shutil.rmtree(root, ignore_errors=True)

    entries = [e for g in plan(rev, list(sets), time_rev) for e in g]
    print(
        f"Runs: {a.runs} (medians; ratios are medians of per-repetition ratios of throughput). "
        f"{os.cpu_count()} CPUs; load average {started_load} at the start, {loadavg()} at the end. "
        f"tailmerge: {code_identity(REPO, REPO / 'src' / 'tailmerge')}; before: {rev}"
        f"{f' (time order: {time_rev})' if time_rev else ''}. Peak RSS counts at least "
        f"this process's own, {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB."
    )
    titles = {
        "main": "",
        "csv": " — logmerger --csv's set (it keeps every row in memory)",
        "table": " — logmerger --output -'s set (it renders a rich table, a few hundred rows/s)",
    }
    for key, data in sets.items():
        print()
        shape = f"{a.files} files x {data.lines_each:,} lines ({data.size / 1e6:.0f} MB, {data.lines:,} lines)"
        print(f"## {shape}{titles[key]}")
        print()
        print("\n".join(table(results, [e for e in entries if e.dataset == key], data, rev, time_rev)))
    print()
    print(f"Time-ordered outputs byte for byte equal to sort -m's: {'yes' if same else 'NO'}.")
    if results.problems:
        print()
        print("Problems:")
        print("\n".join(f"- {x}" for x in results.problems))
    return 1 if results.problems else 0


if __name__ == "__main__":
    sys.exit(main())
