"""The API's lines from a backlog: how soon the first comes, how long all take, and how soon a consumer that
leaves after the first is let go.

    python bench/api_lines.py FILE [--engines asyncio,threads,mixed] [--runs 3]

``tailmerge.follow([FILE], follow=False)`` is iterated to its end, then started again and closed after its
first line. Printed per engine: medians of the first line's time, the whole iteration's, and the close's.
Each line becomes a ``Line`` object, so short lines are the hard case (``python -c "open('big.log',
'wb').write(b'line 0000000\\n' * 2_500_000)"``).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import tailmerge
from tailmerge.options import Engine


def one(path: str, engine: Engine) -> tuple[float, float, float, int]:
    """(first line s, all lines s, close after the first s, lines)."""
    started = time.monotonic()
    first, count = 0.0, 0
    with contextlib.closing(tailmerge.follow([path], follow=False, engine=engine)) as lines:
        for _ in lines:
            if not count:
                first = time.monotonic() - started
            count += 1
    every = time.monotonic() - started
    with contextlib.closing(tailmerge.follow([path], follow=False, engine=engine)) as lines:
        next(lines)
        leaving = time.monotonic()
    return first, every, time.monotonic() - leaving, count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file")
    p.add_argument("--engines", default="asyncio,threads,mixed")
    p.add_argument("--runs", type=int, default=3)
    ns = p.parse_args()
    print("| engine | first line s | all lines s | close after the first s | lines |")
    print("| --- | --- | --- | --- | --- |")
    engines: list[Engine] = ns.engines.split(",")  # follow() checks each
    for engine in engines:
        runs = [one(ns.file, engine) for _ in range(ns.runs)]
        first, every, close = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"| {engine} | {first:.3f} | {every:.2f} | {close:.3f} | {runs[0][3]} |")


if __name__ == "__main__":
    main()
