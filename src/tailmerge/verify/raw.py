"""Raw output: lines do not say where they came from, so the interleaving is searched.

An output line can be the next line of any input whose next line it is; when several are, the choice is
searched (see ``search``), inputs tried in the order they were given. When the budget runs out the
verdict says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from .search import search
from .verdict import Verdict, all_consumed, explain

__all__ = ["verify_raw"]


class _Heads:
    """Choices of a raw line: the inputs whose next line it is, found through an index of next lines."""

    def __init__(self, sources: list[list[bytes]]) -> None:
        self.sources = sources
        self.pos = [0] * len(sources)
        self.heads: dict[bytes, list[int]] = defaultdict(list)  # next line -> inputs it is the next line of
        self.moved()

    def choices(self, line: bytes) -> list[int] | None:
        return self.heads.get(line)

    def order(self, line: bytes, choices: Sequence[int]) -> list[int]:
        return sorted(choices)  # the index has them in the order they reached the line, not as given

    def take(self, line: bytes, j: int) -> None:
        heads, src, pos = self.heads, self.sources[j], self.pos
        heads[line].remove(j)  # ``line`` is input j's next line
        p = pos[j] = pos[j] + 1
        if p < len(src):
            heads[src[p]].append(j)

    def moved(self) -> None:
        self.heads.clear()
        for j, src in enumerate(self.sources):
            if self.pos[j] < len(src):
                self.heads[src[self.pos[j]]].append(j)


def verify_raw(names: list[str], sources: list[list[bytes]], out: list[bytes], budget: int) -> Verdict:
    """Search for an interleaving of ``sources`` that is ``out``, opening at most ``budget`` choice points."""
    done, i, pos = search(_Heads(sources), out, budget)
    if done:
        return all_consumed(names, sources, pos, len(out))
    if done is None:
        return Verdict(
            None,
            f"undecided: the search budget of {budget} choices ran out at output line {i + 1} "
            f"(lines shared by several inputs); no verdict is guessed",
        )
    streams = [(j,) for j in range(len(sources))]
    return Verdict(False, explain(names, sources, pos, i + 1, out[i], streams, out[i + 1 :]))
