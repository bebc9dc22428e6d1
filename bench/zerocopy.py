"""Raw copies moved by the kernel against cat, side by side: to a file, through a pipe, and following.

    python bench/zerocopy.py [--files F] [--lines N] [--runs R] [--engines asyncio,threads,mixed] \
        [--dir DIR] [--follow]

Pre-writes F files of N lines of 100 bytes (the throughput scenario's lines) in a temporary folder under
DIR (default: the system's; ``/dev/shm`` keeps the disk out of it) and warms the page cache. Each
repetition runs, in an order that rotates from one repetition to the next:

- to a file: ``cat FILES > out`` and ``tailmerge follow --no-follow -o out -- FILES`` (output in the same
  folder), each engine with spans (``copy_file_range``) and without (``TAILMERGE_SPANS=0``: pread + writev);
- through a pipe: the same into a 1 MiB pipe drained by this process in 1 MiB reads, as in bench/run.py
  (spans: ``splice``);
- with ``--follow``, catch-up while following: ``tailmerge follow`` (no ``--no-follow``) into the pipe,
  timed until every input byte came out (then SIGTERM), beside ``--no-follow`` into the same pipe.

Time runs from spawn to exit (or to the last byte, following), so start-up is in it. Printed per
contender: median seconds, MB/s (input bytes), the median of its ratios to cat in the same repetition
(pipe contenders to cat into the pipe, file ones to cat into a file), min-max of those ratios, and the
path tailmerge said it took (``-v``). Every output is checked once per contender: as many bytes and lines
as the input, and as many lines of each file.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lines import prewrite

PIPE_SIZE = 1 << 20


def _lines_digest(data: bytes, files: int) -> str:
    """Lines and bytes per file (every line names its file: `pre t3.log SEQ ...`), counted in C: a copy
    that lost, doubled or split lines does not match (tests/test_spans.py checks bytes exactly)."""
    counts = [data.count(b" t%d.log " % i) for i in range(files)]
    lines = data.count(b"\n")
    return f"{lines} {len(data)} {counts}"


def _spawn(argv: list[str], env: dict[str, str], stdout: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=env)


def _to_file(argv: list[str], env: dict[str, str], out: Path) -> tuple[float, bytes, str]:
    if out.exists():
        out.unlink()
    start = time.perf_counter()
    with open(out, "wb") as f:
        proc = _spawn(argv, env, f.fileno())
        _, err = proc.communicate()
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:6]} exited {proc.returncode}: {err.decode()}")
    return took, b"", err.decode()


def _through_pipe(
    argv: list[str], env: dict[str, str], size: int, follow: bool, keep: bool
) -> tuple[float, bytes, str]:
    r, w = os.pipe()
    fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
    start = time.perf_counter()
    proc = _spawn(argv, env, w)
    os.close(w)
    got = 0
    kept: list[bytes] = []
    while got < size and (chunk := os.read(r, 1 << 20)):
        got += len(chunk)
        if keep:
            kept.append(chunk)
    took = time.perf_counter() - start
    if follow:
        proc.send_signal(signal.SIGTERM)
    while chunk := os.read(r, 1 << 20):
        got += len(chunk)
        if keep:
            kept.append(chunk)
    os.close(r)
    _, err = proc.communicate(timeout=30)
    if not follow:
        took = time.perf_counter() - start
    if got != size:
        raise SystemExit(f"{argv[:6]}: {got} bytes out of {size}")
    return took, b"".join(kept), err.decode()


def _path(err: str) -> str:
    for said in ("copy_file_range refused", "splice refused", "moved by the kernel (copy_file_range)"):
        if said in err:
            return said.replace("moved by the kernel ", "")
    if "moved by the kernel (splice)" in err:
        return "(splice)"
    return "pread + writev"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--engines", default="asyncio,threads,mixed")
    p.add_argument("--dir", default=None, help="where the data and the output files go")
    p.add_argument("--follow", action="store_true", help="also catch-up while following, into the pipe")
    p.add_argument("--no-slow", action="store_true", help="leave out the runs without spans")
    ns = p.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tm-zerocopy-", dir=ns.dir) as tmp:
        names = [f"t{i}.log" for i in range(ns.files)]
        prewrite(Path(tmp), names, ns.lines, 100)
        paths = [str(Path(tmp) / n) for n in names]
        for path in paths:
            Path(path).read_bytes()  # warm the page cache
        size = sum(os.path.getsize(path) for path in paths)
        expected = _lines_digest(b"".join(Path(path).read_bytes() for path in paths), ns.files)
        out = Path(tmp) / "out.bin"
        base = dict(os.environ)
        tm = [sys.executable, "-m", "tailmerge", "follow", "-v"]
        # (label, kind, argv, env, follow)
        contenders: list[tuple[str, str, list[str], dict[str, str], bool]] = [
            ("cat to file", "file", ["cat", *paths], base, False),
            ("cat to pipe", "pipe", ["cat", *paths], base, False),
        ]
        variants = [("spans", "1")] + ([] if ns.no_slow else [("pread+writev", "0")])
        for engine in ns.engines.split(","):
            for name, flag in variants:
                env = dict(base, TAILMERGE_SPANS=flag)
                e = ["--engine", engine]
                contenders.append(
                    (
                        f"{engine} {name} to file",
                        "file",
                        [*tm, "--no-follow", *e, "-o", str(out), "--", *paths],
                        env,
                        False,
                    )
                )
                contenders.append(
                    (f"{engine} {name} to pipe", "pipe", [*tm, "--no-follow", *e, "--", *paths], env, False)
                )
                if ns.follow:
                    contenders.append((f"{engine} {name} follow to pipe", "pipe", [*tm, *e, "--", *paths], env, True))
        seconds: dict[str, list[float]] = {c[0]: [] for c in contenders}
        ratios: dict[str, list[float]] = {c[0]: [] for c in contenders}
        taken: dict[str, str] = {}
        checked: set[str] = set()
        for rep in range(ns.runs):
            k = rep % len(contenders)
            took: dict[str, float] = {}
            for label, kind, argv, env, follow in contenders[k:] + contenders[:k]:
                if kind == "file":
                    took[label], _, err = _to_file(argv, env, out)
                    if label not in checked:
                        data = out.read_bytes()
                        assert len(data) == size and _lines_digest(data, ns.files) == expected, label
                        checked.add(label)
                else:
                    keep = label not in checked
                    took[label], data, err = _through_pipe(argv, env, size, follow, keep)
                    if keep:
                        assert _lines_digest(data, ns.files) == expected, label
                        checked.add(label)
                seconds[label].append(took[label])
                if not label.startswith("cat"):
                    taken[label] = _path(err)
            for label, kind, *_ in contenders:
                ratios[label].append(took["cat to file" if kind == "file" else "cat to pipe"] / took[label])
            print(f"run {rep + 1}/{ns.runs} done", file=sys.stderr)
    where = ns.dir or tempfile.gettempdir()
    print(
        f"{ns.files} files x {ns.lines} lines of 100 bytes ({size / 1e6:.0f} MB) in {where}, {ns.runs} runs, "
        f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    )
    print("| contender | path | seconds | MB/s | ÷ cat (median) | ÷ cat (min-max) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, *_ in contenders:
        s = statistics.median(seconds[label])
        r = ratios[label]
        print(
            f"| {label} | {taken.get(label, '')} | {s:.2f} | {size / 1e6 / s:.0f} | {statistics.median(r):.2f}x "
            f"| {min(r):.2f}-{max(r):.2f} |"
        )


if __name__ == "__main__":
    main()
