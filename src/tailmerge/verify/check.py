"""``tailmerge verify``: proof that a merged output holds every input line exactly once, in order.

Labeled and JSONL outputs say which input each line came from, so each input is checked in turn. Raw
output does not: when a line is the next line of several inputs, the choice is searched (depth first,
memoising failed states), because the greedy choice can be wrong: inputs ``a,x`` and ``a,y`` with
output ``a,y,a,x`` is valid. The search has a budget; when it runs out the verdict says so.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ..core import DEFAULT_MAX_LINE_BYTES, LineFramer, split_lines
from ..sinks.formats import LABEL_SEP, labels_for

__all__ = ["DEFAULT_BUDGET", "Verdict", "read_lines", "verify"]

DEFAULT_BUDGET = 1_000_000  # choice points the raw search may open before it gives up
_ANSI = re.compile(rb"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Verdict:
    """``ok`` True: proven. False: disproven (``message`` names the first line that breaks it).
    None: undecided (the search budget ran out)."""

    ok: bool | None
    message: str
    lines: int = 0


def read_lines(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> list[bytes]:
    """A file's lines as tailmerge emits them (same framing, a final line gets its newline)."""
    framer = LineFramer(max_line_bytes)
    lines: list[bytes] = []
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            for chunk in framer.feed(block):
                lines.extend(split_lines(chunk.data) if not chunk.added_newline else [chunk.data])
    lines.extend(c.data for c in framer.flush())
    return lines


def verify(
    inputs: Sequence[str],
    merged: str,
    *,
    format: str = "raw",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    budget: int = DEFAULT_BUDGET,
) -> Verdict:
    """Check that ``merged`` holds every line of every input exactly once, in each input's own order."""
    sources = [read_lines(p, max_line_bytes) for p in inputs]
    out = read_lines(merged, max_line_bytes)
    names = list(inputs)
    if format == "raw":
        return _verify_raw(names, sources, out, budget)
    if format == "labeled":
        labels = {lab: i for i, lab in enumerate(labels_for(names))}
        attributed = [_parse_labeled(line, labels, n) for n, line in enumerate(out, 1)]
    elif format == "jsonl":
        attributed = [_parse_jsonl(line, names, n) for n, line in enumerate(out, 1)]
    else:
        raise ValueError(f"unknown format {format!r}")
    for item in attributed:
        if isinstance(item, str):
            return Verdict(False, item)
    return _verify_attributed(names, sources, attributed)  # type: ignore[arg-type]


# -- attributed formats -----------------------------------------------------------------------------


def _parse_labeled(line: bytes, labels: dict[str, int], n: int) -> tuple[int, bytes] | str:
    label, sep, body = line.partition(LABEL_SEP)
    name = os.fsdecode(_ANSI.sub(b"", label))
    if not sep or name not in labels:
        return f"unknown: output line {n} has no known label ({_show(line)})"
    return labels[name], body


def _parse_jsonl(line: bytes, names: list[str], n: int) -> tuple[int, bytes] | str:
    try:
        obj = json.loads(line)
        path = obj["path"]
        body = (obj["line"].encode() if "line" in obj else base64.b64decode(obj["line_base64"])) + b"\n"
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"unknown: output line {n} is not a tailmerge JSON line ({_show(line)})"
    for same in (str, os.path.abspath, os.path.realpath):
        matches = [i for i, name in enumerate(names) if same(name) == same(path)]
        if matches:
            return matches[0], body
    return f"unknown: output line {n} comes from {path}, which is not among the inputs"


def _verify_attributed(names: list[str], sources: list[list[bytes]], out: list[tuple[int, bytes]]) -> Verdict:
    pos = [0] * len(sources)
    for n, (j, line) in enumerate(out, 1):
        src = sources[j]
        if pos[j] < len(src) and src[pos[j]] == line:
            pos[j] += 1
            continue
        later = [(jj, ll) for jj, ll in out[n:] if jj == j]
        return Verdict(False, _explain(names, sources, pos, n, line, [j], [ll for _, ll in later]))
    return _all_consumed(names, sources, pos, len(out))


def _all_consumed(names: list[str], sources: list[list[bytes]], pos: list[int], total: int) -> Verdict:
    for j, src in enumerate(sources):
        if pos[j] < len(src):
            return Verdict(False, f"missing: {names[j]} line {pos[j] + 1} is not in the output ({_show(src[pos[j]])})")
    return Verdict(True, f"OK: {total} lines from {len(sources)} inputs, each exactly once and in order", total)


# -- raw: search over interleavings -----------------------------------------------------------------


def _verify_raw(names: list[str], sources: list[list[bytes]], out: list[bytes], budget: int) -> Verdict:
    k = len(sources)
    pos = [0] * k
    heads: dict[bytes, list[int]] = defaultdict(list)

    def rebuild() -> None:
        heads.clear()
        for jj in range(k):
            if pos[jj] < len(sources[jj]):
                heads[sources[jj][pos[jj]]].append(jj)

    def advance(jj: int) -> None:
        src = sources[jj]
        lst = heads[src[pos[jj]]]
        lst.remove(jj)
        pos[jj] += 1
        if pos[jj] < len(src):
            heads[src[pos[jj]]].append(jj)

    rebuild()
    stack: list[tuple[int, tuple[int, ...], list[int]]] = []
    failed: set[tuple[int, ...]] = set()
    opened = 0
    best_i, best_pos = -1, pos[:]
    i = 0
    n_out = len(out)
    while True:
        ok = True
        while i < n_out:
            cands = heads.get(out[i])
            if not cands:
                ok = False
                break
            if len(cands) == 1:
                advance(cands[0])
                i += 1
                continue
            state = tuple(pos)
            if state in failed:
                ok = False
                break
            opened += 1
            if opened > budget:
                return Verdict(
                    None,
                    f"undecided: the search budget of {budget} choices ran out at output line {i + 1} "
                    f"(lines shared by several inputs); no verdict is guessed",
                )
            first, *rest = sorted(cands)
            stack.append((i, state, rest))
            advance(first)
            i += 1
        if ok and all(pos[j] == len(sources[j]) for j in range(k)):
            return Verdict(True, f"OK: {n_out} lines from {k} inputs, each exactly once and in order", n_out)
        if i > best_i:
            best_i, best_pos = i, pos[:]
        # backtrack to the most recent choice with an alternative left
        while stack:
            ci, state, rest = stack[-1]
            if rest:
                pos[:] = state
                rebuild()
                advance(rest.pop(0))
                i = ci + 1
                break
            failed.add(state)
            stack.pop()
        else:
            if best_i >= n_out:
                return _all_consumed(names, sources, best_pos, n_out)
            line = out[best_i]
            return Verdict(
                False, _explain(names, sources, best_pos, best_i + 1, line, list(range(k)), out[best_i + 1 :])
            )


# -- explaining a failure ---------------------------------------------------------------------------


def _explain(
    names: list[str],
    sources: list[list[bytes]],
    pos: list[int],
    n: int,
    line: bytes,
    candidates: list[int],
    rest: list[bytes],
) -> str:
    """Name what is wrong with output line ``n`` given how far each input had been matched."""
    where = f"output line {n} ({_show(line)})"
    for j in candidates:
        src = sources[j]
        if line in src[: pos[j]]:
            return f"doubled: {where} is {names[j]} line {src.index(line) + 1} again"
    for j in candidates:
        src = sources[j]
        if line in src[pos[j] :]:
            idx = src.index(line, pos[j])
            expected = src[pos[j]]
            if expected in rest:
                return f"out of order: {where} is {names[j]} line {idx + 1}, before its line {pos[j] + 1}"
            return f"missing: {names[j]} line {pos[j] + 1} ({_show(expected)}) is not in the output before {where}"
    for j in candidates:
        src = sources[j]
        if pos[j] < len(src):
            head = src[pos[j]]
            if head.startswith(line[:-1]) and len(line) < len(head):
                return f"split: {where} is only part of {names[j]} line {pos[j] + 1} ({_show(head)})"
            if line.startswith(head[:-1]) and len(line) > len(head):
                return f"glued: {where} joins {names[j]} line {pos[j] + 1} with what follows it"
    return f"unknown: {where} is in no input where it could be"


def _show(line: bytes, limit: int = 60) -> str:
    text = line.rstrip(b"\n").decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")
