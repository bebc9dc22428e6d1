"""More files than descriptors (issue 11): ``--no-follow`` over many small files at a low open-file limit
against the same with a high one, per engine.

    python bench/descriptors.py [--files 2000] [--lines 50] [--runs 5] [--low 1024] [--high HARD] \
        [--engines asyncio,threads,mixed] [--dir DIR] [--baseline REV]

Pre-writes F files of N self-identifying lines in a temporary folder under DIR, then runs
``tailmerge follow --no-follow --engine E 'FOLDER/*.log' -o OUT`` with the open-file limit set (soft and
hard, in the child) to ``--low`` and to ``--high``, in an order that rotates from one repetition to the
next. Time runs from spawn to exit; CPU is the child's user + system time (``wait4``). Every output is
checked: as many lines as the inputs hold, none twice. With ``--baseline REV``, REV's ``src/tailmerge``
(``git archive``) also runs at the high limit (at the low one it leaves files out).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def _limit(n: int) -> Callable[[], None]:
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return set_limit


def _run(argv: list[str], limit: int, env: dict[str, str]) -> tuple[float, float, bytes]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, env=env, preexec_fn=_limit(limit))
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{argv} at limit {limit}: exit {proc.returncode}\n{err.decode()}")
    return wall, usage.ru_utime + usage.ru_stime, err


def _baseline(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev, "src/tailmerge"], capture_output=True, check=True, cwd=SRC.parent)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--lines", type=int, default=50)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--low", type=int, default=1024)
    p.add_argument(
        "--high", type=int, default=resource.getrlimit(resource.RLIMIT_NOFILE)[1], help="default: the hard limit"
    )
    p.add_argument("--engines", default="asyncio,threads,mixed")
    p.add_argument("--dir", default=None)
    p.add_argument("--baseline", default=None)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        folder = Path(tmp) / "logs"
        folder.mkdir()
        total = a.files * a.lines
        for i in range(a.files):
            (folder / f"f{i:05d}.log").write_bytes(b"".join(b"file %d line %d\n" % (i, j) for j in range(a.lines)))
        out = Path(tmp) / "out.log"
        paths = {"new": str(SRC)}
        if a.baseline:
            paths[a.baseline] = str(_baseline(a.baseline, Path(tmp) / "baseline"))
        contenders = []
        for engine in a.engines.split(","):
            contenders += [(engine, "new", a.low), (engine, "new", a.high)]
            if a.baseline:
                contenders.append((engine, a.baseline, a.high))
        times: dict[tuple[str, str, int], list[tuple[float, float]]] = {c: [] for c in contenders}
        for rep in range(a.runs):
            shift = rep % len(contenders)
            for engine, code, limit in contenders[shift:] + contenders[:shift]:
                env = {**os.environ, "PYTHONPATH": paths[code]}
                argv = [sys.executable, "-m", "tailmerge", "follow", "--no-follow", "--engine", engine]
                wall, cpu, err = _run([*argv, str(folder / "*.log"), "-o", str(out)], limit, env)
                data = out.read_bytes()
                lines = data.count(b"\n")
                unique = len(set(data.splitlines()))
                if code == "new" and (lines != total or unique != total or err):
                    sys.exit(f"{engine} at {limit}: {lines} lines, {unique} distinct of {total}\n{err.decode()}")
                times[(engine, code, limit)].append((wall, cpu))
                print(f"run {rep + 1} {engine} {code} limit {limit}: {wall:.2f} s, cpu {cpu:.2f} s", file=sys.stderr)
        print(f"{a.files} files of {a.lines} lines, --no-follow, median of {a.runs} runs\n")
        print("| engine | code | limit | wall s | CPU s |")
        print("|---|---|---|---|---|")
        for (engine, code, limit), got in times.items():
            wall = statistics.median(w for w, _ in got)
            cpu = statistics.median(c for _, c in got)
            print(f"| {engine} | {code} | {limit} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
