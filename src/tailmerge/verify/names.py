"""Which inputs an output line's label or JSONL path can mean, as streams of generations.

A label is a suffix of path components (``x.log``, later ``one/x.log`` once a second ``x.log`` joined),
so it can match several inputs, in several folders. A path (label or JSONL) also stands for its rotated
generations: an input in the same folder whose file name starts with the path's (``app.log.1``,
``app.log-20261125``), unless the output names that input itself. Each folder's matches form one stream,
read in the order the inputs were given (oldest first).
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import cached_property

from .verdict import Stream

__all__ = ["Inputs"]

_SAME: tuple[Callable[[str], str], ...] = (str, os.path.abspath, os.path.realpath)  # ways two paths name one file


def _components(path: str) -> tuple[str, ...]:
    parts = [p for p in os.path.normpath(path).split(os.sep) if p]
    return tuple(parts) or (path,)


def _starting(names: list[tuple[str, int]], prefix: str) -> list[int]:
    """Inputs of a sorted ``(file name, input)`` list whose file name starts with ``prefix``."""
    found = []
    at = bisect.bisect_left(names, (prefix, -1))
    while at < len(names) and names[at][0].startswith(prefix):
        found.append(names[at][1])
        at += 1
    return found


class Inputs:
    """The inputs' names, indexed by suffix and folder (linear in the inputs: 10,000 files)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self._parts = [_components(n) for n in self.names]

    # -- labels -------------------------------------------------------------------------------------

    @cached_property
    def _by_suffix(self) -> dict[tuple[str, ...], list[int]]:
        index: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, parts in enumerate(self._parts):
            for k in range(1, len(parts) + 1):
                index[parts[-k:]].append(i)
        return index

    @cached_property
    def _by_folder_suffix(self) -> dict[tuple[str, ...], list[tuple[str, int]]]:
        index: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
        for i, parts in enumerate(self._parts):
            for k in range(len(parts)):
                index[parts[len(parts) - 1 - k : -1]].append((parts[-1], i))
        for names in index.values():
            names.sort()
        return index

    def _label_exact(self, label: str) -> list[int]:
        return self._by_suffix.get(tuple(p for p in label.split("/") if p), [])

    def _label_generations(self, label: str) -> list[int]:
        *folder, name = [p for p in label.split("/") if p] or [""]
        return _starting(self._by_folder_suffix.get(tuple(folder), []), name) if name else []

    def matches_label(self, label: str) -> bool:
        """Whether ``label`` names an input or a generation of one."""
        return bool(self._label_exact(label) or self._label_generations(label))

    # -- paths --------------------------------------------------------------------------------------

    @cached_property
    def _by_path(self) -> dict[str, list[int]]:
        index: dict[str, list[int]] = defaultdict(list)
        for i, name in enumerate(self.names):
            for same in {f(name) for f in _SAME}:
                index[same].append(i)
        return index

    @cached_property
    def _by_folder(self) -> dict[str, list[tuple[str, int]]]:
        index: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for i, name in enumerate(self.names):
            folder, file = os.path.split(name)
            for same in {os.path.abspath(folder), os.path.realpath(folder)}:
                index[same].append((file, i))
        for names in index.values():
            names.sort()
        return index

    def _path_exact(self, path: str) -> list[int]:
        return sorted({i for f in _SAME for i in self._by_path.get(f(path), [])})

    def _path_generations(self, path: str) -> list[int]:
        folder, file = os.path.split(path)
        folders = {os.path.abspath(folder), os.path.realpath(folder)}
        return sorted({i for d in folders for i in _starting(self._by_folder.get(d, []), file)}) if file else []

    def matches_path(self, path: str) -> bool:
        """Whether ``path`` names an input or a generation of one."""
        return bool(self._path_exact(path) or self._path_generations(path))

    # -- streams ------------------------------------------------------------------------------------

    def streams(self, keys: Sequence[str], *, labels: bool) -> list[list[Stream]]:
        """For each key (a label, or else a JSONL path), the streams it can mean; none when it names no input.

        An input that some key names exactly is that key's own file, never another key's generation (so
        ``app.log`` and ``app.logger.log``, both followed, stay apart)."""
        exact_of, generations_of = (
            (self._label_exact, self._label_generations) if labels else (self._path_exact, self._path_generations)
        )
        exact = [exact_of(key) for key in keys]
        named = {i for found in exact for i in found}
        result = []
        for key, own in zip(keys, exact, strict=True):
            found = sorted({*own, *(i for i in generations_of(key) if i not in named)})
            if not labels:
                result.append([tuple(found)] if found else [])
                continue
            # a label can match in several folders: each folder's files are one path's generations
            by_folder: dict[tuple[str, ...], list[int]] = {}
            for i in found:
                by_folder.setdefault(self._parts[i][:-1], []).append(i)
            result.append([tuple(stream) for stream in by_folder.values()])
        return result
