"""The latency/order trade-off of ``--order time`` while following: writers whose clocks are skewed, each
line's delay from its write to its arrival at the output's reader, the lines written out of time order,
and the lines counted late, for several ``--lateness`` values beside arrival order, in the same run.

    python bench/lateness.py                       # 4 writers x 200 lines/s for 10 s, skews 0-300 ms
    python bench/lateness.py --seconds 5 --lateness 0.1 0.5
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

PY = sys.executable

# each line: the writer's (skewed) clock as an ISO time, then its real write time for the latency
WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timezone
    path, skew, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    end = time.time() + seconds
    n = 0
    with open(path, "ab", buffering=0) as f:
        while time.time() < end:
            now = time.time()
            stamp = datetime.fromtimestamp(now - skew, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
            f.write(("%sZ wrote=%.6f n=%d\\n" % (stamp, now, n)).encode())
            n += 1
            time.sleep(1 / rate)
    """
)
WROTE = re.compile(rb"wrote=(\d+\.\d+)")


def one(folder: Path, order: list[str], writers: int, rate: float, seconds: float) -> dict[str, float]:
    names = [folder / f"w{i}.log" for i in range(writers)]
    for n in names:
        n.write_bytes(b"")
    merger = subprocess.Popen(
        [PY, "-m", "tailmerge", "follow", *map(str, names), "--tz", "UTC", *order],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert merger.stdout is not None
    arrivals: list[tuple[float, bytes]] = []

    def read() -> None:
        assert merger.stdout is not None
        for line in merger.stdout:
            arrivals.append((time.time(), line))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(1.0)
    skews = [0.3 * i / max(1, writers - 1) for i in range(writers)]
    procs = [
        subprocess.Popen([PY, "-c", WRITER, str(n), str(s), str(rate), str(seconds)])
        for n, s in zip(names, skews, strict=True)
    ]
    for p in procs:
        p.wait()
    time.sleep(2.5)
    merger.terminate()
    _, err = merger.communicate(timeout=30)
    reader.join()
    delays = [at - float(m[1]) for at, line in arrivals if (m := WROTE.search(line))]
    stamps = [line.split(b" ", 1)[0] for _, line in arrivals]
    out_of_order = sum(b < a for a, b in itertools.pairwise(stamps))
    late = re.search(rb"(\d+) lines came more than", err)
    return {
        "lines": len(arrivals),
        "p50_ms": statistics.median(delays) * 1000,
        "p99_ms": statistics.quantiles(delays, n=100)[98] * 1000,
        "out_of_order": out_of_order,
        "late": int(late[1]) if late else 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--rate", type=float, default=200.0, help="lines per second per writer")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--lateness", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0])
    args = ap.parse_args()
    cases = [("arrival", ["--order", "arrival"])]
    cases += [(f"time, lateness {s:g}", ["--order", "time", "--lateness", str(s)]) for s in args.lateness]
    print(f"{args.writers} writers x {args.rate:g} lines/s for {args.seconds:g} s, clocks 0-300 ms behind")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'order':<22} {'lines':>6} {'p50 ms':>8} {'p99 ms':>8} {'out of order':>13} {'late':>5}")
    for name, order in cases:
        with tempfile.TemporaryDirectory() as tmp:
            r = one(Path(tmp), order, args.writers, args.rate, args.seconds)
        print(
            f"{name:<22} {r['lines']:>6.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['out_of_order']:>13.0f} {r['late']:>5.0f}"
        )


if __name__ == "__main__":
    main()
