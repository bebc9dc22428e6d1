"""What a state (--state) costs: copy throughput with and without it, side by side, and commits and output
syncs per second while following writers.

    python bench/state.py                 # 8 files x 1M lines, 3 runs each, then 4 writers x 1,000 lines/s
    python bench/state.py --lines 200000 --runs 2 --follow-seconds 5
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lines import prewrite

PY = sys.executable


def copy_once(data: Path, names: list[str], state: bool, engine: str) -> float:
    out = data / "out.log"
    out.unlink(missing_ok=True)
    (data / "state.db").unlink(missing_ok=True)
    extra = ["--state", str(data / "state.db")] if state else []
    started = time.perf_counter()
    subprocess.run(
        [PY, "-m", "tailmerge", "follow", *names, "-o", str(out), "--no-follow", "--engine", engine, *extra],
        cwd=data,
        check=True,
    )
    return time.perf_counter() - started


def follow_load(data: Path, seconds: float, engine: str, fsync: str) -> tuple[float, float, int]:
    """4 writers at 1,000 lines/s each for ``seconds``; return commits/s, syncs/s and the lines merged."""
    names = [f"live{i}.log" for i in range(4)]
    for n in names:
        (data / n).write_bytes(b"")
    out, state = data / "live-out.log", data / "live-state.db"
    out.unlink(missing_ok=True)
    state.unlink(missing_ok=True)
    args = [*names, "-o", str(out), "--state", str(state), "--fsync", fsync, "--engine", engine, "-v"]
    merger = subprocess.Popen([PY, "-m", "tailmerge", "follow", *args], cwd=data, stderr=subprocess.PIPE)
    time.sleep(1.0)
    writers = [
        subprocess.Popen([PY, "-m", "tailmerge._writer", n, "--rate", "1000", "--seconds", str(seconds)], cwd=data)
        for n in names
    ]
    for w in writers:
        w.wait()
    time.sleep(1.0)
    merger.terminate()
    _, err = merger.communicate(timeout=30)
    found = re.search(rb"(\d+) commits, (\d+) output syncs", err)
    if found is None:
        raise SystemExit(f"no commit count in the merger's log:\n{err.decode()}")
    lines = out.read_bytes().count(b"\n")
    span = seconds + 2.0  # the merger ran a second before and after the writers
    return int(found[1]) / span, int(found[2]) / span, lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--lines", type=int, default=1_000_000, help="lines per file")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--engine", default="asyncio")
    p.add_argument("--follow-seconds", type=float, default=10.0)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="tailmerge-state-bench-") as tmp:
        data = Path(tmp)
        names = [f"f{i}.log" for i in range(a.files)]
        total = prewrite(data, names, a.lines, 100)
        size = sum((data / n).stat().st_size for n in names)
        ratios, plain, stated = [], [], []
        for run in range(a.runs):
            order = [False, True] if run % 2 == 0 else [True, False]  # alternate who goes first
            times = {s: copy_once(data, names, s, a.engine) for s in order}
            plain.append(times[False])
            stated.append(times[True])
            ratios.append(times[False] / times[True])
        print(f"## Copy: {a.files} files x {a.lines:,} lines ({size / 1e6:.0f} MB, {total:,} lines), {a.engine}")
        print("| run | MB/s | MB/s with --state | with ÷ without |")
        print("|---|---|---|---|")
        print(
            f"| median of {a.runs} | {size / 1e6 / statistics.median(plain):.0f} | "
            f"{size / 1e6 / statistics.median(stated):.0f} | {statistics.median(ratios):.2f} |"
        )
        print()
        print(f"## Following 4 writers x 1,000 lines/s for {a.follow_seconds:g} s, {a.engine}")
        print("| --fsync | commits/s | output syncs/s | lines merged |")
        print("|---|---|---|---|")
        for fsync in ("interval", "always"):
            commits, syncs, lines = follow_load(data, a.follow_seconds, a.engine, fsync)
            print(f"| {fsync} | {commits:.1f} | {syncs:.1f} | {lines:,} |")


if __name__ == "__main__":
    main()
