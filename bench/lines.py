"""Self-identifying lines: write them in bulk, read back what was written, and audit a merged output.

Lines have the format of ``python -m tailmerge._writer``: ``WRITER FILE SEQ WRITE_TIME_NS PADDING\\n``.
Pre-written lines carry a write time of 0 and never count towards latency.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Audit", "audit", "percentile", "prewrite", "read_written"]

BLOCK_LINES = 20_000


def line_for(writer: str, name: str, seq: int, width: int) -> bytes:
    """One line in the writer's format, padded with ``x`` to ``width`` bytes (newline included)."""
    head = f"{writer} {name} {seq:08d} {0:019d} "
    return (head + "x" * max(0, width - len(head) - 1) + "\n").encode()


def prewrite(directory: Path, names: Iterable[str], lines_each: int, width: int, writer: str = "pre") -> int:
    """Write ``lines_each`` lines of ``width`` bytes into each named file; return the total number of lines."""
    directory.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in names:
        with open(directory / name, "wb") as f:
            for start in range(0, lines_each, BLOCK_LINES):
                stop = min(lines_each, start + BLOCK_LINES)
                f.write(b"".join(line_for(writer, name, n, width) for n in range(start, stop)))
        total += lines_each
    return total


def read_written(directory: Path) -> Counter[bytes]:
    """Every line in every file of ``directory``: the followed files and all their rotated generations."""
    written: Counter[bytes] = Counter()
    for path in sorted(directory.iterdir()):
        if path.is_file():
            written.update(path.read_bytes().splitlines(keepends=True))
    return written


@dataclass
class Audit:
    """How the merged output compares with what was written."""

    written: int = 0
    output: int = 0
    lost: int = 0  # written lines never seen intact in the output
    doubled: int = 0  # extra intact copies of a written line
    split: int = 0  # output lines that are not a written line (split, joined or garbled)
    reordered: int = 0  # lines seen after a later line of the same writer and file
    latencies_ns: list[int] = field(default_factory=list)  # live lines only, first copy


def audit(written: Counter[bytes], arrivals: Iterable[tuple[int, bytes]]) -> Audit:
    """Audit output ``arrivals`` (arrival time in ns, line) against the ``written`` lines."""
    result = Audit(written=sum(written.values()))
    seen: Counter[bytes] = Counter()
    last_seq: dict[tuple[bytes, bytes], int] = {}
    for arrived_ns, line in arrivals:
        result.output += 1
        if line not in written:
            result.split += 1
            continue
        seen[line] += 1
        if seen[line] > written[line]:
            result.doubled += 1
            continue
        writer, name, seq_text, time_text, _ = line.split(b" ", 4)
        seq = int(seq_text)
        key = (writer, name)
        if seq < last_seq.get(key, -1):
            result.reordered += 1
        else:
            last_seq[key] = seq
        written_ns = int(time_text)
        if written_ns:
            result.latencies_ns.append(arrived_ns - written_ns)
    result.lost = sum(max(0, n - seen[line]) for line, n in written.items())
    return result


def percentile(values: list[int], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest-rank method; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[rank - 1])
