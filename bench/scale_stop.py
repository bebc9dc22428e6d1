"""Start-up and stop of one follow of many one-line files, per engine, side by side with other copies.

    python bench/scale_stop.py --files 10000 --engines threads,mixed --runs 2 [name=SRC ...]

Each run starts ``tailmerge follow DIR/*.log -o OUT`` (the open-file soft limit raised to the hard
one), waits until every file's line is out ("all out", from spawn), sends SIGTERM and times the exit
("stop"), and reads VmRSS just before the signal. ``name=SRC`` runs a copy whose ``src/`` is SRC (for
example a ``git archive`` of an older commit), interleaved with the installed one; the data is made once
in the system temp dir and kept for later runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_files(n: int) -> Path:
    folder = Path(tempfile.gettempdir()) / f"tailmerge-scale-{n}"
    if not folder.is_dir():
        folder.mkdir()
        for i in range(n):
            (folder / f"f{i:05d}.log").write_text(f"line of file {i}\n")
    return folder


def one(engine: str, folder: Path, n: int, src: str | None, cap: float) -> str:
    out = folder.parent / f"tailmerge-scale-{n}.out"
    out.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=src) if src else None
    argv = [sys.executable, "-m", "tailmerge", "follow", f"{folder}/*.log", "--engine", engine]
    started = time.monotonic()
    proc = subprocess.Popen([*argv, "-o", str(out)], env=env, stderr=subprocess.DEVNULL)
    ready = None
    while time.monotonic() - started < cap:
        if out.exists() and out.read_bytes().count(b"\n") >= n:
            ready = time.monotonic() - started
            break
        if proc.poll() is not None:
            return f"exited early, status {proc.returncode}"
        time.sleep(0.05)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    rss = int(status.split("VmRSS:")[1].split()[0]) // 1024
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=cap)
        stop = f"{time.monotonic() - signalled:.2f} s"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        stop = "killed"
    shown = f"{ready:.2f} s" if ready is not None else f"over {cap:g} s"
    return f"all out {shown}, stop {stop}, RSS {rss} MB"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--engines", default="asyncio,threads,mixed")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--cap", type=float, default=60.0, help="seconds to wait for the lines, and for the exit")
    p.add_argument("copies", nargs="*", metavar="name=SRC", help="other copies of src/ to run beside this one")
    ns = p.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    folder = make_files(ns.files)
    copies: list[tuple[str, str | None]] = [("installed", None), *(tuple(c.split("=", 1)) for c in ns.copies)]
    for run in range(ns.runs):
        for engine in ns.engines.split(","):
            for name, src in copies:
                print(f"run {run + 1} {engine:8s} {name:10s} {one(engine, folder, ns.files, src, ns.cap)}", flush=True)


if __name__ == "__main__":
    main()
