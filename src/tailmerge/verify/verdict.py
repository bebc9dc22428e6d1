"""The verdict, and the words for what is wrong with the first output line that breaks a merge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Stream", "Verdict", "all_consumed", "explain", "head", "show"]

Stream = tuple[int, ...]
"""Inputs read as one sequence: the generations of one path (rotated files), in the order given."""


@dataclass(frozen=True)
class Verdict:
    """``ok`` True: proven. False: disproven (``message`` names the first line that breaks it).
    None: undecided (the search budget ran out)."""

    ok: bool | None
    message: str
    lines: int = 0


def head(stream: Stream, sources: Sequence[Sequence[bytes]], pos: Sequence[int]) -> int:
    """The input whose next line is the stream's next line (its first generation not read to the end), or -1."""
    for j in stream:
        if pos[j] < len(sources[j]):
            return j
    return -1


def all_consumed(names: Sequence[str], sources: Sequence[Sequence[bytes]], pos: Sequence[int], total: int) -> Verdict:
    for j, src in enumerate(sources):
        if pos[j] < len(src):
            return Verdict(False, f"missing: {names[j]} line {pos[j] + 1} is not in the output ({show(src[pos[j]])})")
    return Verdict(True, f"OK: {total} lines from {len(sources)} inputs, each exactly once and in order", total)


def explain(
    names: Sequence[str],
    sources: Sequence[Sequence[bytes]],
    pos: Sequence[int],
    n: int,
    line: bytes,
    streams: Sequence[Stream],
    rest: Sequence[bytes],
) -> str:
    """Name what is wrong with output line ``n`` given how far each input had been matched.

    ``streams`` are where the line could have come from; ``rest`` the later output lines that could too."""
    where = f"output line {n} ({show(line)})"
    for stream in streams:
        for j in stream:
            src = sources[j]
            if line in src[: pos[j]]:
                return f"doubled: {where} is {names[j]} line {src.index(line) + 1} again"
    for stream in streams:
        e = head(stream, sources, pos)
        for j in stream:
            src = sources[j]
            if line in src[pos[j] :]:
                idx = src.index(line, pos[j])
                expected = sources[e][pos[e]]
                if expected in rest:
                    before = f"its line {pos[j] + 1}" if e == j else f"{names[e]} line {pos[e] + 1}"
                    return f"out of order: {where} is {names[j]} line {idx + 1}, before {before}"
                return f"missing: {names[e]} line {pos[e] + 1} ({show(expected)}) is not in the output before {where}"
    for stream in streams:
        e = head(stream, sources, pos)
        if e >= 0:
            expected = sources[e][pos[e]]
            if expected.startswith(line[:-1]) and len(line) < len(expected):
                return f"split: {where} is only part of {names[e]} line {pos[e] + 1} ({show(expected)})"
            if line.startswith(expected[:-1]) and len(line) > len(expected):
                return f"glued: {where} joins {names[e]} line {pos[e] + 1} with what follows it"
    return f"unknown: {where} is in no input where it could be"


def show(line: bytes, limit: int = 60) -> str:
    text = line.rstrip(b"\n").decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")
