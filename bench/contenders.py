"""What is compared: the three tailmerge engines and the GNU tools, as command lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CAT", "ENGINES", "TAIL", "Contender", "engines"]


@dataclass(frozen=True)
class Contender:
    """One command under test. ``engine`` is None for a GNU tool."""

    name: str
    engine: str | None = None
    fmt: str = "raw"

    def argv(self, paths: Sequence[str], *, follow: bool) -> list[str]:
        if self.engine is None:
            if self.name == "cat":
                return ["cat", *paths]
            return ["tail", "-F", "-q", "-n", "+1", *paths]
        cmd = [sys.executable, "-m", "tailmerge", "follow", "--engine", self.engine, "--format", self.fmt]
        if not follow:
            cmd.append("--no-follow")
        return [*cmd, "--", *paths]


ENGINES = ("asyncio", "threads", "mixed")
TAIL = Contender("tail -F")
CAT = Contender("cat")


def engines(fmt: str = "raw") -> list[Contender]:
    """The three engines; named by engine alone for raw output, else "engine format"."""
    return [Contender(e if fmt == "raw" else f"{e} {fmt}", e, fmt) for e in ENGINES]
