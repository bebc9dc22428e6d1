"""``tailmerge verify``: proof that a merged output holds every input line exactly once, in order.

Labeled, JSONL and headers outputs say which input each line came from, so each line is matched against
the inputs its label or path can mean (rotated generations included). Raw output does not, so the
interleaving is searched. Without a format, the output's first lines say which it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import tzinfo

from ..core import DEFAULT_MAX_LINE_BYTES, Framing, LineFramer, split_lines
from ..sinks.formats import CONTINUATION_SEP
from ..sources.archives import content_blocks
from ..sources.discovery import is_pattern, match
from .attributed import check_attributed, header_of, is_record, label_of
from .defaults import DEFAULT_BUDGET, VERIFY_FORMATS
from .names import Inputs
from .raw import verify_raw
from .timeorder import check_time_order
from .verdict import Verdict, show

__all__ = ["DEFAULT_BUDGET", "VERIFY_FORMATS", "Verdict", "expand_inputs", "read_lines", "verify"]

_SAMPLE = 10  # non-empty output lines looked at to tell the format


def read_lines(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, framing: Framing | None = None) -> list[bytes]:
    """A file's lines as tailmerge emits them (same framing, a final line gets its newline); with a
    ``framing`` of records, its records. A compressed file's (``.gz``, ``.bz2``, ``.xz``) decompressed:
    ArchiveError (a ValueError) names one that cannot be read."""
    framer = framing.framer() if framing is not None else LineFramer(max_line_bytes)
    lines: list[bytes] = []
    for block in content_blocks(path, 1 << 24):
        for chunk in framer.feed(block):
            lines.extend(split_lines(chunk.data) if not (chunk.added_newline or chunk.record) else [chunk.data])
    lines.extend(c.data for c in framer.flush())
    return lines


def expand_inputs(args: Sequence[str], merged: str | None = None) -> list[str]:
    """Inputs as ``follow`` takes them: a glob pattern stands for the regular files it matches (as
    ``follow`` matches them), oldest first, so ``'app.log*'`` lists a log's rotated generations in the
    order they were written; ``merged`` and files already named are left out. ValueError names a pattern
    that matches nothing."""
    names: list[str] = []
    seen: set[str] = set()
    out = os.path.realpath(merged) if merged is not None else None
    for arg in args:
        if not is_pattern(arg):
            names.append(arg)
            seen.add(os.path.realpath(arg))
            continue
        matches = sorted((p for p in match(arg) if os.path.isfile(p)), key=lambda p: (os.stat(p).st_mtime_ns, p))
        if not matches:
            raise ValueError(f"{arg}: no file matches")
        for path in matches:
            real = os.path.realpath(path)
            if real != out and real not in seen:
                names.append(path)
                seen.add(real)
    return names


def verify(
    inputs: Sequence[str],
    merged: str,
    *,
    format: str = "auto",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    budget: int = DEFAULT_BUDGET,
    records: Framing | None = None,
    lateness: float | None = None,
    tz: tzinfo | None = None,
) -> Verdict:
    """Check that ``merged`` holds every line of every input exactly once, in each input's own order.

    ``inputs`` may hold glob patterns. ``format`` "auto" tells the formats apart by the output's first lines.
    The generations of a rotated log are given oldest first; a line whose label or path is the log's is
    matched against them read one after another. ``records``: a framing of multiline records; raw output
    is then checked record by record, and a labeled record's later lines must follow its first.
    ``lateness``: also check that the output is in time order, no line more than ``lateness`` seconds
    earlier than one before it (``tz``: the zone of times without one)."""
    verdict = _verify(inputs, merged, format, max_line_bytes, budget, records)
    if not verdict.ok or lateness is None:
        return verdict
    out = read_lines(merged, max_line_bytes)
    fmt = format if format != "auto" else _detect(out, Inputs(expand_inputs(inputs, merged)))[0]
    late = check_time_order(out, fmt, lateness, tz)
    return late if late is not None else Verdict(True, f"{verdict.message}, and in time order", verdict.lines)


def _verify(
    inputs: Sequence[str], merged: str, format: str, max_line_bytes: int, budget: int, records: Framing | None
) -> Verdict:
    if format not in VERIFY_FORMATS:
        raise ValueError(f"unknown format {format!r}; choose from {', '.join(VERIFY_FORMATS)}")
    names = expand_inputs(inputs, merged)
    sources = [read_lines(p, max_line_bytes) for p in names]
    out = read_lines(merged, max_line_bytes)
    index = Inputs(names)
    fmt = _detect(out, index)[0] if format == "auto" else format
    if records is not None and fmt == "raw":
        return verify_raw(
            names, [read_lines(p, framing=records) for p in names], read_lines(merged, framing=records), budget
        )
    if records is not None and fmt == "labeled" and (torn := _torn_record(out)) is not None:
        return torn
    if fmt == "raw":
        verdict = verify_raw(names, sources, out, budget)
    else:
        verdict = check_attributed(index, sources, out, fmt, budget)
        if verdict.ok is False and format == "auto":
            # the first lines only looked attributed (raw lines can contain " | "): a raw proof still counts
            fallback = verify_raw(names, sources, out, budget)
            if fallback.ok:
                return fallback
    if verdict.ok is False:
        looks = _detect(out, index)[1]
        if looks is not None and looks != fmt:
            return Verdict(False, f"{verdict.message}; the output looks like {looks} output: try --format {looks}")
    return verdict


def _torn_record(out: Sequence[bytes]) -> Verdict | None:
    """A labeled record's later lines (``NAME + ...``) must follow a line of the same name."""
    previous = None
    for n, line in enumerate(out, 1):
        label = label_of(line)
        if label is None and (label := label_of(line, CONTINUATION_SEP)) is not None and label != previous:
            return Verdict(False, f"split record: output line {n} ({show(line)}) continues a record of {label} "
                                  f"after a line of {previous}")  # fmt: skip
        previous = label if label is not None else previous
    return None


def _detect(out: Sequence[bytes], index: Inputs) -> tuple[str, str | None]:
    """What the output's first non-empty lines are: the format all of them fit (else raw), and the first
    attributed format any of them fits (labeled: its label names an input), if any. Headers output is told
    by its first line alone: a header naming an input."""
    name = header_of(out[0]) if out else None
    if name is not None and index.matches_path(name):
        return "headers", "headers"
    kinds: list[str] = []
    for line in out:
        if len(kinds) == _SAMPLE:
            break
        if line.strip():
            label = label_of(line) or label_of(line, CONTINUATION_SEP)
            kinds.append("jsonl" if is_record(line) else "labeled" if label and index.matches_label(label) else "raw")
    every = kinds[0] if kinds and all(k == kinds[0] for k in kinds) else "raw"
    return every, next((k for k in kinds if k != "raw"), None)
