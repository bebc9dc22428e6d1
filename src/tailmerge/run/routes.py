"""Where a stream source's lines enter the merge: a stream holds many hosts' files, so each host and path
(``EntryChunk.source``, ``HOST:PATH``) becomes an origin of its own, made when its first line comes. Labels,
JSONL, time order and the per-source counts then work as for files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core import Chunk, Follower
from ..merge import Merge
from ..sinks import Origin

__all__ = ["Route", "Routes"]

Route = Callable[[list[Any]], list[tuple[Origin, list[Any]]]]


class Routes:
    """The origins made for each routing follower (thread-safe as ``Merge.add_sources`` is: each
    follower's route is used by its own driver only)."""

    def __init__(self, merge: Merge) -> None:
        self._merge = merge
        self._made: dict[Any, list[Origin]] = {}

    def router(self, follower: Follower[Any], origin: Origin) -> Route:
        """How ``follower``'s chunks reach the merge: for every follower but a stream source, all as its own
        ``origin``'s."""
        if not getattr(follower, "routes", False):
            return _Alone(origin)
        origins: dict[str, Origin] = {}
        made = self._made.setdefault(follower, [])

        def route(chunks: list[Chunk]) -> list[tuple[Origin, list[Chunk]]]:
            out: list[tuple[Origin, list[Chunk]]] = []
            for chunk in chunks:
                label = getattr(chunk, "source", "")
                if (origin := origins.get(label)) is None:
                    origin = origins[label] = self._merge.add_sources([label])[0]
                    made.append(origin)
                if out and out[-1][0] is origin:
                    out[-1][1].append(chunk)
                else:
                    out.append((origin, [chunk]))
            return out

        return route

    def origins(self, follower: Follower[Any]) -> list[Origin]:
        """The origins made for ``follower`` (each ends when it does)."""
        return self._made.get(follower, [])


class _Alone:
    """The route of a follower whose chunks are all its own origin's (an object with slots, not a closure:
    10,000 files)."""

    __slots__ = ("origin",)

    def __init__(self, origin: Origin) -> None:
        self.origin = origin

    def __call__(self, chunks: list[Any]) -> list[tuple[Origin, list[Any]]]:
        return [(self.origin, chunks)]
