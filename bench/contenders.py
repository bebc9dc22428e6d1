"""What is compared: the three tailmerge engines and the GNU tools, as command lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = ["CAT", "ENGINES", "TAIL", "Contender", "engines", "paired", "with_twins"]


@dataclass(frozen=True)
class Contender:
    """One command under test. ``engine`` is None for a GNU tool. ``code`` names the copy of tailmerge it
    runs: "" for the snapshot of src/, else the baseline revision (``--baseline``)."""

    name: str
    engine: str | None = None
    fmt: str = "raw"
    code: str = ""

    def argv(self, paths: Sequence[str], *, follow: bool) -> list[str]:
        if self.engine is None:
            if self.name == "cat":
                return ["cat", *paths]
            return ["tail", "-F", "-q", "-n", "+1", *paths]
        cmd = [sys.executable, "-m", "tailmerge", "follow", "--engine", self.engine, "--format", self.fmt]
        if not follow:
            cmd.append("--no-follow")
        return [*cmd, "--", *paths]

    def twin(self, rev: str) -> Contender:
        """The same command on the baseline copy of tailmerge at ``rev``, named ``name@rev``."""
        return replace(self, name=f"{self.name}@{rev}", code=rev)


ENGINES = ("asyncio", "threads", "mixed")
TAIL = Contender("tail -F")
CAT = Contender("cat")


def engines(fmt: str = "raw") -> list[Contender]:
    """The three engines; named by engine alone for raw output, else "engine format"."""
    return [Contender(e if fmt == "raw" else f"{e} {fmt}", e, fmt) for e in ENGINES]


def with_twins(contenders: Sequence[Contender], rev: str | None) -> list[Contender]:
    """``contenders``, each tailmerge engine followed by its baseline twin at ``rev`` (when given)."""
    out: list[Contender] = []
    for c in contenders:
        out.append(c)
        if rev and c.engine is not None:
            out.append(c.twin(rev))
    return out


def paired(contenders: Sequence[Contender]) -> list[list[Contender]]:
    """``contenders`` in groups that run back to back: each one with the baseline twins that follow it."""
    groups: list[list[Contender]] = []
    for c in contenders:
        if c.code and groups:
            groups[-1].append(c)
        else:
            groups.append([c])
    return groups
