"""Copy speed of each output format against cat, side by side: interleaved repetitions, medians.

    python bench/formats.py [--files F] [--lines N] [--runs R] [--engine E] [--formats raw,labeled,jsonl] \
        [NAME=SRC ...]

Pre-writes F files of N lines of 100 bytes (the throughput scenario's lines) and warms the page cache.
Each repetition runs ``cat`` and ``tailmerge follow --no-follow --format FMT`` for every format and every
copy of tailmerge, the order rotating every repetition. A copy, ``NAME=SRC``, is a folder holding a
byte-compiled ``tailmerge`` package, run with ``PYTHONPATH=SRC`` (none given: the installed one, as "new").
Make one for a commit with ``mkdir -p D && git archive REV src/tailmerge | tar -x -C D && python -m
compileall -q D`` (SRC is then ``D/src``): without byte code (PYTHONDONTWRITEBYTECODE) each run compiles
the package first. stdout is a 1 MiB pipe drained in 1 MiB reads, as in bench/run.py. Printed: per contender the
median MB/s (input bytes), the median of its ratios to cat in the same repetition, and the highest peak
RSS (GNU time's %M).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lines import prewrite


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Seconds from spawn to exit, output bytes, peak RSS MB (GNU time's: this process's own size, which a
    child's ru_maxrss starts from, is left out)."""
    with tempfile.NamedTemporaryFile("r") as rss:
        start = time.perf_counter()
        time_argv = ["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv]
        # a pipe of 1 MiB, as bench/run.py's (cat writes 128 KiB at a time: into 64 KiB it ran at 500 MB/s)
        proc = subprocess.Popen(time_argv, stdout=subprocess.PIPE, env=env, pipesize=1 << 20)
        assert proc.stdout is not None
        out = 0
        while chunk := os.read(proc.stdout.fileno(), 1 << 20):
            out += len(chunk)
        proc.wait()
        elapsed = time.perf_counter() - start
        proc.stdout.close()
        if proc.returncode != 0:
            raise SystemExit(f"{argv[:6]} exited {proc.returncode}")
        return elapsed, out, int(rss.read().split()[-1]) / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--lines", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--engine", default="asyncio")
    p.add_argument("--formats", default="raw,labeled,jsonl")
    p.add_argument("copies", nargs="*", metavar="NAME=SRC")
    ns = p.parse_args()
    copies = [tuple(c.split("=", 1)) for c in ns.copies] or [("new", "")]
    with tempfile.TemporaryDirectory(prefix="tm-formats-") as tmp:
        names = [f"t{i}.log" for i in range(ns.files)]
        prewrite(Path(tmp), names, ns.lines, 100)
        paths = [str(Path(tmp) / n) for n in names]
        for path in paths:
            Path(path).read_bytes()  # warm the page cache
        size = sum(os.path.getsize(path) for path in paths)
        contenders: list[tuple[str, list[str], dict[str, str]]] = [("cat", ["cat", *paths], dict(os.environ))]
        for fmt in ns.formats.split(","):
            for name, src in copies:
                env = dict(os.environ)
                if src:
                    env["PYTHONPATH"] = src
                argv = [sys.executable, "-m", "tailmerge", "follow", "--no-follow", "--engine", ns.engine]
                contenders.append((f"{fmt}@{name}", [*argv, "--format", fmt, "--", *paths], env))
        seconds: dict[str, list[float]] = {c[0]: [] for c in contenders}
        ratios: dict[str, list[float]] = {c[0]: [] for c in contenders}
        rss: dict[str, float] = dict.fromkeys(seconds, 0.0)
        for rep in range(ns.runs):
            k = rep % len(contenders)
            took: dict[str, float] = {}
            for label, argv, env in contenders[k:] + contenders[:k]:
                took[label], _, peak = _run(argv, env)
                seconds[label].append(took[label])
                rss[label] = max(rss[label], peak)
            for label in took:
                ratios[label].append(took["cat"] / took[label])
            print(f"run {rep + 1}/{ns.runs} done", file=sys.stderr)
    print(
        f"{ns.files} files x {ns.lines} lines of 100 bytes ({size / 1e6:.0f} MB), engine {ns.engine}, "
        f"{ns.runs} runs, load average at end {os.getloadavg()[0]:.2f}"
    )
    print("| contender | MB/s | ÷ cat | peak RSS MB |")
    print("| --- | --- | --- | --- |")
    for label in seconds:
        mb_s = size / 1e6 / statistics.median(seconds[label])
        print(f"| {label} | {mb_s:.0f} | {statistics.median(ratios[label]):.2f}x | {rss[label]:.0f} |")


if __name__ == "__main__":
    main()
