"""The search both checks run: which input each output line was taken from.

A strategy says what an output line can be taken as, given how far each input has been read. A lone
choice is taken; where several fit, the search opens a choice point, tries them in the strategy's order
and, when a line fits nothing, backtracks to the latest choice point with an alternative left. Greedy is
not enough: inputs ``a,x`` and ``a,y`` with output ``a,y,a,x`` is valid. Failed states are memoised, and
choice points are counted against a budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, TypeVar

__all__ = ["Outcome", "Strategy", "search"]

L = TypeVar("L", contravariant=True)  # an output line, as the strategy reads it
C = TypeVar("C")  # a choice: where a line may have come from


class Strategy(Protocol[L, C]):
    """Where output lines can come from. ``pos`` holds how many lines of each input have been taken."""

    pos: list[int]

    def choices(self, line: L) -> Sequence[C] | None:
        """What ``line`` can be taken as now; None or empty: nothing. Read before the next ``take``."""

    def order(self, line: L, choices: Sequence[C]) -> list[C]:
        """Several choices for ``line`` as a new list, the one to try first first."""

    def take(self, line: L, choice: C) -> None:
        """Take ``line`` as ``choice``: advance ``pos``."""

    def moved(self) -> None:
        """``pos`` was set back to an earlier state: rebuild whatever is derived from it."""


class Outcome(NamedTuple):
    """How a search ended. ``done`` True: every line was taken (``pos`` as it ended). None: the budget ran
    out at line ``i`` (0-based). False: no way through; ``i`` is the furthest line any path reached and
    ``pos`` the positions then."""

    done: bool | None
    i: int
    pos: list[int]


def search(strategy: Strategy[L, C], out: Sequence[L], budget: int) -> Outcome:
    """Take every line of ``out`` (depth first), opening at most ``budget`` choice points."""
    # bound once: the inner loop runs once per output line (millions)
    choices, order, take = strategy.choices, strategy.order, strategy.take
    pos = strategy.pos
    stack: list[tuple[int, tuple[int, ...], list[C]]] = []  # (line, state before it, choices left)
    failed: set[tuple[int, ...]] = set()
    opened = 0
    best_i, best_pos = -1, pos[:]
    i = 0
    n_out = len(out)
    while True:
        while i < n_out:
            line = out[i]
            fits = choices(line)
            if not fits:
                break
            if len(fits) == 1:
                take(line, fits[0])
                i += 1
                continue
            state = tuple(pos)  # every line is taken from one input, so the state implies i
            if state in failed:
                break
            opened += 1
            if opened > budget:
                return Outcome(None, i, pos)
            first, *rest = order(line, fits)
            stack.append((i, state, rest))
            take(line, first)
            i += 1
        if i == n_out:
            # every path takes n_out lines: if some input has lines left on this one, it has on all
            return Outcome(True, i, pos)
        if i > best_i:
            best_i, best_pos = i, pos[:]
        while stack:
            ci, state, rest = stack[-1]
            if rest:
                pos[:] = state
                strategy.moved()
                take(out[ci], rest.pop(0))
                i = ci + 1
                break
            failed.add(state)
            stack.pop()
        else:
            return Outcome(False, best_i, best_pos)
