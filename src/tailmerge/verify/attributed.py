"""Labeled, JSONL and headers outputs: each line names where it came from (a label or a path).

A name can mean several streams (a label that grew later matches every input it is a suffix of), so a
line goes to a stream whose next line it is, preferring the one its name went to last. When several fit,
the choice is searched as for raw output (depth first, memoising failed states, within a budget): two
same-named files can start with the same line.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Sequence

from ..sinks.formats import LABEL_SEP
from .names import Inputs
from .verdict import Stream, Verdict, all_consumed, explain, show

__all__ = ["check_attributed", "header_of", "is_record", "label_of"]

_ANSI = re.compile(rb"\x1b\[[0-9;]*m")
_HEADER = re.compile(rb"==> (.*) <==\n")

Parsed = tuple[list[str], list[tuple[int, bytes]], list[int] | None]
"""The distinct names (labels or paths); each output line as (index of its name, the line); and, when
some output lines are not input lines (headers), each line's number in the output."""


def label_of(line: bytes) -> str | None:
    """The label of a labeled output line (colour and padding taken off), or None if it has none."""
    label, sep, _ = line.partition(LABEL_SEP)
    return os.fsdecode(_ANSI.sub(b"", label)).rstrip(" ") if sep else None


def _record(line: bytes) -> tuple[str, bytes] | None:
    """(path, line) from a JSONL output line, or None if it is not one. Other keys are ignored."""
    try:
        obj = json.loads(line)
        path = obj["path"]
        body = obj["line"].encode() if "line" in obj else base64.b64decode(obj["line_base64"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return (path, body + b"\n") if isinstance(path, str) else None


def is_record(line: bytes) -> bool:
    """Whether ``line`` is a JSONL output line."""
    return _record(line) is not None


def header_of(line: bytes) -> str | None:
    """The path of a headers output's ``==> PATH <==`` line, or None."""
    m = _HEADER.fullmatch(line)
    return os.fsdecode(m[1]) if m else None


def _parse(out: Sequence[bytes], fmt: str) -> Parsed | str:
    ids: dict[str, int] = {}
    by_prefix: dict[bytes, int] = {}  # raw label bytes -> name: a label is decoded once, not once a line
    lines: list[tuple[int, bytes]] = []
    at: list[int] = []  # headers: the output line number of each line
    k = -1  # headers: the name of the last header
    for n, line in enumerate(out, 1):
        body = line
        if fmt == "headers":
            name = header_of(line)
            # as tail prints them: a blank line before every header but the first (a line like a header
            # without it is a line of the input)
            if name is not None and (n == 1 or (lines and lines[-1][1] == b"\n" and at[-1] == n - 1)):
                if n > 1:
                    lines.pop()
                    at.pop()
                k = ids.setdefault(name, len(ids))
                continue
            if k < 0:
                return f"unknown: output line {n} comes before any ==> header <== ({show(line)})"
            at.append(n)
        elif fmt == "labeled":
            prefix, sep, body = line.partition(LABEL_SEP)
            known = by_prefix.get(prefix) if sep else None
            if known is None:
                name = label_of(line)
                if name is None:
                    return f"unknown: output line {n} has no known label ({show(line)})"
                known = by_prefix[prefix] = ids.setdefault(name, len(ids))
            k = known
        else:
            record = _record(line)
            if record is None:
                return f"unknown: output line {n} is not a tailmerge JSON line ({show(line)})"
            name, body = record
            k = ids.setdefault(name, len(ids))
        lines.append((k, body))
    return list(ids), lines, at if fmt == "headers" else None


def check_attributed(inputs: Inputs, sources: list[list[bytes]], out: list[bytes], fmt: str, budget: int) -> Verdict:
    """Check a labeled, JSONL or headers output (``fmt``) against the inputs."""
    parsed = _parse(out, fmt)
    if isinstance(parsed, str):
        return Verdict(False, parsed)
    keys, lines, at = parsed
    streams = inputs.streams(keys, labels=fmt == "labeled")
    for i, (k, _) in enumerate(lines):
        if not streams[k]:
            n = at[i] if at else i + 1
            if fmt == "labeled":
                return Verdict(False, f"unknown: output line {n} has no known label ({show(out[n - 1])})")
            return Verdict(False, f"unknown: output line {n} comes from {keys[k]}, which is not among the inputs")
    return _search(inputs.names, sources, streams, lines, at, budget)


def _search(
    names: list[str],
    sources: list[list[bytes]],
    streams: list[list[Stream]],
    out: list[tuple[int, bytes]],
    at: list[int] | None,
    budget: int,
) -> Verdict:
    """Take each line from a stream of its name whose next line it is, searching when several are."""
    pos = [0] * len(sources)
    last: dict[int, int] = {}  # name -> the stream (its index among the name's) it went to last
    stack: list[tuple[int, tuple[int, ...], list[tuple[int, int]]]] = []
    failed: set[tuple[int, ...]] = set()
    opened = 0
    best_i, best_pos = -1, pos[:]
    i = 0
    n_out = len(out)
    while True:
        while i < n_out:
            k, line = out[i]
            fits = []  # (stream index, input) of each stream whose next line this is
            for s, stream in enumerate(streams[k]):
                for j in stream:
                    if pos[j] < len(sources[j]):
                        if sources[j][pos[j]] == line:
                            fits.append((s, j))
                        break
            if not fits:
                break
            if len(fits) > 1:
                state = tuple(pos)  # every line is taken from one input, so the state implies i
                if state in failed:
                    break
                opened += 1
                if opened > budget:
                    n = at[i] if at else i + 1
                    return Verdict(
                        None,
                        f"undecided: the search budget of {budget} choices ran out at output line {n} "
                        f"(a label that matches several inputs); no verdict is guessed",
                    )
                fits.sort(key=lambda fit: fit[0] != last.get(k))  # stable: else the order the inputs were given
                stack.append((i, state, fits[1:]))
            s, j = fits[0]
            last[k] = s
            pos[j] += 1
            i += 1
        if i == n_out:
            # every path takes n_out lines, so if some input has lines left, no other choice can help
            return all_consumed(names, sources, pos, n_out)
        if i > best_i:
            best_i, best_pos = i, pos[:]
        while stack:
            ci, state, rest = stack[-1]
            if rest:
                pos[:] = state
                s, j = rest.pop(0)
                last[out[ci][0]] = s
                pos[j] += 1
                i = ci + 1
                break
            failed.add(state)
            stack.pop()
        else:
            k, line = out[best_i]
            mine = {j for stream in streams[k] for j in stream}
            # later lines that could be from the same inputs, so "out of order" names a line that does come later
            related = {kk for kk, its in enumerate(streams) if any(mine.intersection(stream) for stream in its)}
            later = [ll for kk, ll in out[best_i + 1 :] if kk in related]
            n = at[best_i] if at else best_i + 1
            return Verdict(False, explain(names, sources, best_pos, n, line, streams[k], later))
