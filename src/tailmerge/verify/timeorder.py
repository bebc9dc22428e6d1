"""``verify --order time``: the merged output is sorted by the time at the start of each line (or record),
allowing a line to come at most ``lateness`` seconds after a later one (what a live merge may do)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import tzinfo

from ..core.timestamps import TimeParser
from ..sinks.formats import CONTINUATION_SEP, LABEL_SEP
from .attributed import header_of, label_of
from .verdict import Verdict, show

__all__ = ["check_time_order"]


def _units(out: Sequence[bytes], fmt: str) -> Iterator[tuple[int, bytes, float | None]]:
    """(output line number, text, time the output gives) of each line that starts a unit."""
    for n, line in enumerate(out, 1):
        if fmt == "labeled":
            if label_of(line) is None:
                continue  # a record's later line (``NAME + ...``) or a line with no label
            yield n, line.partition(LABEL_SEP)[2], None
        elif fmt == "jsonl":
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            given = obj.get("time") if isinstance(obj, dict) else None
            text = obj.get("line", "") if isinstance(obj, dict) else ""
            yield n, str(text).encode(), float(given) if isinstance(given, int | float) else None
        elif fmt == "headers" and (header_of(line) is not None or not line.strip()):
            continue
        elif not line.startswith(CONTINUATION_SEP):
            yield n, line, None


def check_time_order(out: Sequence[bytes], fmt: str, lateness: float, tz: tzinfo | None = None) -> Verdict | None:
    """None when the output is in time order within ``lateness``; else a failing verdict naming the first
    line out of order. Lines without a time are not judged (they follow the line before them)."""
    parser = TimeParser(tz=tz)
    latest: tuple[float, int, bytes] | None = None
    for n, text, given in _units(out, fmt):
        t = given if given is not None else parser.parse(text)
        if t is None and given is None:
            t = (fresh := TimeParser(tz=tz)).parse(text)  # raw output mixes formats: detect this line's own
            if t is not None:
                parser = fresh
        if t is None:
            continue
        if latest is not None and t < latest[0] - lateness:
            early = latest[0] - t
            return Verdict(
                False,
                f"out of time order: output line {n} ({show(text)}) is {early:.3f} s earlier than output line "
                f"{latest[1]} ({show(latest[2])}), beyond the lateness of {lateness:g} s",
            )
        if latest is None or t > latest[0]:
            latest = (t, n, text)
    return None
