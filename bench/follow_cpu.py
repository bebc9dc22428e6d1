"""CPU per followed line: writers at a steady rate, the follower's CPU seconds over their lines.

    python bench/follow_cpu.py --engines asyncio,threads,mixed --runs 3 --seconds 5 [--floors] [name=SRC ...]

Each run starts ``tailmerge follow W0 .. W3 -o OUT`` (the output in another folder: the inputs' folder
watch would see every write of it), waits a second, then runs ``--writers`` writer processes that each
append ``--rate`` lines a second (60 bytes, one ``write()`` each) for ``--seconds``. The follower's
utime and stime (``/proc/PID/stat``, 10 ms ticks) over the writing, divided by the lines out, is its CPU
per line. ``tail -F`` on the same files runs too, as the reference. ``name=SRC`` runs a copy whose
``src/`` is SRC, interleaved with the installed one (contenders alternate within each run). ``--floors``
adds the least a Python follower does (``floors.py follow``: asyncio, with a task per file, and blocking).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRITER = """
import sys, time
path, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
f = open(path, "ab", buffering=0)
started = time.monotonic()
i = 0
while time.monotonic() - started < seconds:
    i += 1
    f.write(b"%08d %.6f " % (i, time.time()) + b"x" * 33 + b"\\n")
    pause = started + i / rate - time.monotonic()
    if pause > 0:
        time.sleep(pause)
"""


def cpu(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def one(name: str, argv: list[str], env: dict[str, str] | None, args: argparse.Namespace) -> tuple[float, float, int]:
    """(user s, system s, lines out) for one contender."""
    work = Path(tempfile.mkdtemp(prefix="tailmerge-cpu-"))
    try:
        inputs = [work / "in" / f"w{i}.log" for i in range(args.writers)]
        inputs[0].parent.mkdir()
        for p in inputs:
            p.touch()
        out = work / "out.log"
        with out.open("wb") as sink:
            proc = subprocess.Popen([*argv, *map(str, inputs)], env=env, stdout=sink, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # started and watching
            u0, s0 = cpu(proc.pid)
            writers = [
                subprocess.Popen([sys.executable, "-c", WRITER, str(p), str(args.rate), str(args.seconds)])
                for p in inputs
            ]
            for w in writers:
                w.wait()
            time.sleep(0.5)  # the last lines out
            u1, s1 = cpu(proc.pid)
            proc.terminate()
            proc.wait()
        lines = out.read_bytes().count(b"\n")
        return u1 - u0, s1 - s0, lines
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="asyncio,threads,mixed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=200.0, help="lines a second per writer")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--floors", action="store_true", help="also the least a Python follower does (floors.py)")
    parser.add_argument("copies", nargs="*", help="name=SRC: also run the tailmerge whose src/ is SRC")
    args = parser.parse_args()
    contenders: list[tuple[str, list[str], dict[str, str] | None]] = []
    for engine in args.engines.split(","):
        tm = [sys.executable, "-m", "tailmerge", "follow", "--engine", engine, "--"]
        contenders.append((engine, tm, None))
        for copy in args.copies:
            name, src = copy.split("=", 1)
            contenders.append((f"{engine}@{name}", tm, dict(os.environ, PYTHONPATH=os.path.abspath(src))))
    contenders.append(("tail -F", ["tail", "-q", "-n", "0", "-F"], None))
    if args.floors:
        floors = str(Path(__file__).with_name("floors.py"))
        for loop in ("asyncio", "tasks", "blocking"):
            contenders.append((f"floor, {loop}", [sys.executable, floors, "follow", loop], None))
    per: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _, _ in contenders}
    for r in range(args.runs):
        for name, argv, env in contenders:
            per[name].append(one(name, argv, env, args))
            u, s, n = per[name][-1]
            print(f"run {r + 1} {name}: user {u:.2f} s, system {s:.2f} s, {n} lines", file=sys.stderr)
    expected = int(args.writers * args.rate * args.seconds)
    print(f"| contender | runs | CPU µs per line (median) | user / system s (median) | lines out (of ~{expected}) |")
    print("| --- | --- | --- | --- | --- |")
    for name, runs in per.items():
        us = statistics.median(1e6 * (u + s) / max(n, 1) for u, s, n in runs)
        user = statistics.median(u for u, _, _ in runs)
        system = statistics.median(s for _, s, _ in runs)
        lines = min(n for _, _, n in runs)
        print(f"| {name} | {len(runs)} | {us:.0f} | {user:.2f} / {system:.2f} | {lines} |")


if __name__ == "__main__":
    main()
