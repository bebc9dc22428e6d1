"""Labeled, JSONL and headers outputs: each line names where it came from (a label or a path).

A name can mean several streams (a label that grew later matches every input it is a suffix of), so a
line goes to a stream whose next line it is, preferring the one its name went to last. When several fit,
the choice is searched as for raw output (see ``search``): two same-named files can start with the same
line.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Sequence

from ..sinks.formats import CONTINUATION_SEP, LABEL_SEP
from .names import Inputs
from .search import search
from .verdict import Stream, Verdict, all_consumed, explain, show

__all__ = ["check_attributed", "header_of", "is_record", "label_of"]

_ANSI = re.compile(rb"\x1b\[[0-9;]*m")
_HEADER = re.compile(rb"==> (.*) <==\n")

Parsed = tuple[list[str], list[tuple[int, bytes]], list[int] | None]
"""The distinct names (labels or paths); each output line as (index of its name, the line); and, when
some output lines are not input lines (headers), each line's number in the output."""


def label_of(line: bytes, sep: bytes = LABEL_SEP) -> str | None:
    """The label of a labeled output line (colour and padding taken off), or None if it has none.
    ``sep``: CONTINUATION_SEP for the later lines of a multiline record (``NAME + ...``)."""
    label, found, _ = line.partition(sep)
    return os.fsdecode(_ANSI.sub(b"", label)).rstrip(" ") if found else None


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
    k = -1  # headers: the name of the last header; labeled: of the last line
    last = b""  # labeled: the last line's label, as written (a record's later lines repeat it)
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
            cont, csep, rest = line.partition(CONTINUATION_SEP)
            if csep and cont == last:  # a later line of a multiline record: the same source
                lines.append((k, rest))
                continue
            prefix, sep, body = line.partition(LABEL_SEP)
            last = prefix
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
            if b"\n" in body[:-1]:  # a multiline record: its lines, each a line of the input
                lines.extend((k, part) for part in body.splitlines(keepends=True))
                continue
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


class _Named:
    """Choices of a named line: ``(stream, input)`` of each stream its name can mean whose next line it is
    (the stream as its index among the name's), the one the name went to last tried first."""

    def __init__(self, sources: list[list[bytes]], streams: list[list[Stream]]) -> None:
        self.sources = sources
        self.streams = streams
        self.pos = [0] * len(sources)
        self.last = [-1] * len(streams)  # name -> the stream it went to last (-1: none yet)
        # most names mean one stream: a line's lone choice is then made once per input, not once a line
        self.one = [its[0] if len(its) == 1 else None for its in streams]
        self.alone = [[(0, j)] for j in range(len(sources))]

    def choices(self, line: tuple[int, bytes]) -> Sequence[tuple[int, int]] | None:
        k, body = line
        sources, pos = self.sources, self.pos
        stream = self.one[k]
        if stream is not None:
            for j in stream:
                if pos[j] < len(sources[j]):
                    return self.alone[j] if sources[j][pos[j]] == body else None
            return None
        fits: tuple[tuple[int, int], ...] = ()  # a tuple: cheaper than a list for the usual one fit
        for s, stream in enumerate(self.streams[k]):
            for j in stream:
                if pos[j] < len(sources[j]):
                    if sources[j][pos[j]] == body:
                        fits += ((s, j),)
                    break
        return fits

    def order(self, line: tuple[int, bytes], choices: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        last = self.last[line[0]]
        return sorted(choices, key=lambda fit: fit[0] != last)  # stable: else the order the inputs were given

    def take(self, line: tuple[int, bytes], choice: tuple[int, int]) -> None:
        s, j = choice
        self.last[line[0]] = s
        self.pos[j] += 1

    def moved(self) -> None:
        pass  # ``last`` only orders choices: it is kept across backtracking


def _search(
    names: list[str],
    sources: list[list[bytes]],
    streams: list[list[Stream]],
    out: list[tuple[int, bytes]],
    at: list[int] | None,
    budget: int,
) -> Verdict:
    """Take each line from a stream of its name whose next line it is, searching when several are."""
    done, i, pos = search(_Named(sources, streams), out, budget)
    if done:
        return all_consumed(names, sources, pos, len(out))
    n = at[i] if at else i + 1
    if done is None:
        return Verdict(
            None,
            f"undecided: the search budget of {budget} choices ran out at output line {n} "
            f"(a label that matches several inputs); no verdict is guessed",
        )
    k, line = out[i]
    mine = {j for stream in streams[k] for j in stream}
    # later lines that could be from the same inputs, so "out of order" names a line that does come later
    related = {kk for kk, its in enumerate(streams) if any(mine.intersection(stream) for stream in its)}
    later = [ll for kk, ll in out[i + 1 :] if kk in related]
    return Verdict(False, explain(names, sources, pos, n, line, streams[k], later))
