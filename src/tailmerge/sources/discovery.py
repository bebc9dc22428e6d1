"""Glob discovery: follow the files that match a pattern now and those that appear later."""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterable

from ..watch import Signal, Watcher

__all__ = ["Discovery", "is_pattern"]


def is_pattern(arg: str) -> bool:
    """A path argument is a pattern when it has glob magic and names no existing file as written."""
    return glob.has_magic(arg) and not os.path.lexists(arg)


class Discovery:
    """Expands patterns into paths and says which matches are new since the last look.

    It has the same ``step()`` shape as a source, so every engine drives it with the same loop; its
    "chunks" are newly matched paths.
    """

    path = "(glob discovery)"
    rotating = False

    def __init__(self, patterns: Iterable[str], exclude: Iterable[str] = ()) -> None:
        self.patterns = [os.path.abspath(p) for p in patterns]
        self.exclude = list(exclude)
        self._seen: set[str] = set()
        self._watched: set[str] = set()
        self._watcher: Watcher | None = None
        self._signal: Signal | None = None
        self._event_driven = True

    def excluded(self, path: str) -> bool:
        name = os.path.basename(path)
        return any(fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(name, pat) for pat in self.exclude)

    def step(self) -> list[str]:
        """Paths that match now and did not match before (regular files, not excluded)."""
        new = []
        for pattern in self.patterns:
            for path in sorted(glob.glob(pattern, recursive=True)):
                if path not in self._seen and os.path.isfile(path) and not self.excluded(path):
                    self._seen.add(path)
                    new.append(path)
        if self._watcher is not None and self._signal is not None:
            self._watch_dirs()
        return new

    def finish(self, complete: bool) -> list[str]:
        return []

    def next_deadline(self) -> float | None:
        return None

    def watch(self, watcher: Watcher, signal: Signal) -> bool:
        """Ask ``watcher`` to wake ``signal`` when an entry appears in any folder a match could be in."""
        self._watcher, self._signal = watcher, signal
        self._watch_dirs()
        return self._event_driven

    def unwatch(self, watcher: Watcher, signal: Signal) -> None:
        self._watcher = self._signal = None

    def _watch_dirs(self) -> None:
        assert self._watcher is not None and self._signal is not None
        for d in self._dirs():
            if d not in self._watched:
                self._watched.add(d)
                if not self._watcher.watch_dir(d, self._signal):
                    self._event_driven = False

    def _dirs(self) -> list[str]:
        """Every existing folder a match could appear in (or, for a folder not there yet, its nearest
        existing ancestor, whose watch sees it appear)."""
        dirs: list[str] = []
        for pattern in self.patterns:
            parts = pattern.split(os.sep)
            static = 1
            while static < len(parts) - 1 and not glob.has_magic(parts[static]):
                static += 1
            root = os.sep.join(parts[:static]) or os.sep
            while not os.path.isdir(root) and root != os.sep:
                root = os.path.dirname(root)
            dirs.append(root)
            # folders named by each leading part with magic in it (the last part names files)
            for i in range(static + 1, len(parts)):
                prefix = os.sep.join(parts[:i])
                dirs.extend(d for d in glob.glob(prefix, recursive=True) if os.path.isdir(d))
        return dirs
