"""Raw output: lines do not say where they came from, so the interleaving is searched.

When a line is the next line of several inputs the choice is searched (depth first, memoising failed
states), because the greedy choice can be wrong: inputs ``a,x`` and ``a,y`` with output ``a,y,a,x`` is
valid. The search has a budget; when it runs out the verdict says so.
"""

from __future__ import annotations

from collections import defaultdict

from .verdict import Verdict, all_consumed, explain

__all__ = ["verify_raw"]


def verify_raw(names: list[str], sources: list[list[bytes]], out: list[bytes], budget: int) -> Verdict:
    """Search for an interleaving of ``sources`` that is ``out``, opening at most ``budget`` choice points."""
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
                return all_consumed(names, sources, best_pos, n_out)
            line = out[best_i]
            return Verdict(
                False, explain(names, sources, best_pos, best_i + 1, line, [(j,) for j in range(k)], out[best_i + 1 :])
            )
