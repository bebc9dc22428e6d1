"""Start-up of several copies of tailmerge side by side: wall and CPU time, interleaved repetitions.

    python bench/startup.py [--runs N] [--tests T,...] NAME=SRC [NAME=SRC ...]

Each SRC is a folder holding a byte-compiled ``tailmerge`` package, run with ``PYTHONPATH=SRC``; make one
for a commit with ``mkdir -p D && git archive REV src/tailmerge | tar -x -C D && python -m compileall -q D``
(then SRC is ``D/src``). Tests:

* ``version``: ``python -m tailmerge --version`` (47e6310 has no ``--version``: it prints its usage and
  exits 2 after the same imports; the exit status is not looked at)
* ``small``: ``python -m tailmerge follow --no-follow small.log`` (10 lines)
* ``copy:ENGINE/FILES/LINES``: ``follow --no-follow --engine ENGINE`` of FILES files of LINES lines
* ``ready:ENGINE/FILES/LINES``: ``follow --engine ENGINE`` (inotify) until every line is out, as the idle and
  scale scenarios' start-up; CPU is utime+stime from /proc/PID/stat at that moment, then it is killed

Every repetition runs each test on every copy, back to back, the order of the copies alternating. Printed:
medians over the repetitions, and each copy's ratio to the first one's median.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

TESTS = "version,small,ready:asyncio/1000/10,ready:threads/1000/10,ready:mixed/1000/10"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(env: dict[str, str], args: Sequence[str], cwd: str, check: bool = True) -> tuple[float, float]:
    """Wall and CPU seconds of a command that ends by itself."""
    cpu, started = _children_cpu(), time.perf_counter()
    out = subprocess.DEVNULL
    subprocess.run([sys.executable, *args], env=env, cwd=cwd, stdout=out, stderr=None if check else out, check=check)
    return time.perf_counter() - started, _children_cpu() - cpu


def _ready(env: dict[str, str], engine: str, cwd: str, names: list[str], lines: int) -> tuple[float, float]:
    """Wall and CPU seconds until ``lines`` lines are out of a follow run."""
    r, w = os.pipe()
    started = time.perf_counter()
    argv = [sys.executable, "-m", "tailmerge", "follow", "--engine", engine, "--", *names]
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=w)
    os.close(w)
    seen = 0
    while seen < lines and (data := os.read(r, 1 << 20)):
        seen += data.count(b"\n")
    wall, cpu = time.perf_counter() - started, _proc_cpu(proc.pid)
    proc.kill()  # a stop is not measured here
    proc.wait()
    os.close(r)
    if seen < lines:
        raise SystemExit(f"{engine}: only {seen} of {lines} lines came out")
    return wall, cpu


def _files(root: str, count: int, lines: int) -> tuple[str, list[str]]:
    folder = os.path.join(root, f"{count}x{lines}")
    if not os.path.isdir(folder):
        os.mkdir(folder)
        for i in range(count):
            with open(os.path.join(folder, f"i{i:05d}.log"), "w") as f:
                f.writelines(f"line {j} of file {i} {'x' * 40}\n" for j in range(lines))
    return folder, sorted(os.listdir(folder))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--tests", default=TESTS)
    p.add_argument("copies", nargs="+", metavar="NAME=SRC")
    ns = p.parse_args(argv)
    copies = [tuple(c.split("=", 1)) for c in ns.copies]
    root = tempfile.mkdtemp(prefix="tailmerge-startup-")
    try:
        with open(os.path.join(root, "small.log"), "w") as f:
            f.write("a line\n" * 10)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        tests = ns.tests.split(",")
        for rep in range(ns.runs):
            for test in tests:
                kind, _, spec = test.partition(":")
                for name, src in copies if rep % 2 == 0 else copies[::-1]:
                    env = dict(os.environ, PYTHONPATH=src)
                    if kind == "version":
                        got = _run(env, ["-m", "tailmerge", "--version"], root, check=False)
                    elif kind == "small":
                        got = _run(env, ["-m", "tailmerge", "follow", "--no-follow", "small.log"], root)
                    else:
                        engine, count, lines = spec.split("/")
                        folder, names = _files(root, int(count), int(lines))
                        if kind == "copy":
                            cmd = ["-m", "tailmerge", "follow", "--no-follow", "--engine", engine, "--", *names]
                            got = _run(env, cmd, folder)
                        else:
                            got = _ready(env, engine, folder, names, int(count) * int(lines))
                    results.setdefault((test, name), []).append(got)
        print("| test | copy | wall ms (median) | CPU ms (median) | wall ÷ first | CPU ÷ first |")
        print("| --- | --- | --- | --- | --- | --- |")
        for test in tests:
            first: tuple[float, float] | None = None
            for name, _ in copies:
                runs = results[(test, name)]
                wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
                first = first or (wall, cpu)
                print(
                    f"| {test} | {name} | {wall * 1000:.0f} | {cpu * 1000:.0f} | "
                    f"{wall / first[0]:.2f}x | {cpu / first[1]:.2f}x |"
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
