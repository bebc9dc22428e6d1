"""Glob discovery: follow the files that match a pattern now and those that appear later."""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
from collections.abc import Iterable, Iterator

from ..watch import Signal, Watcher

__all__ = ["Discovery", "is_pattern", "match"]

log = logging.getLogger("tailmerge")


def is_pattern(arg: str) -> bool:
    """A path argument is a pattern when it has glob magic and names no existing file as written (a
    stream's address, ``redis://...?db=1``, is not one)."""
    return glob.has_magic(arg) and not os.path.lexists(arg) and not arg.startswith(("redis://", "rediss://"))


def match(pattern: str, folders: dict[str, None] | None = None) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, except that ``**`` never descends into a symlinked folder
    (as ``find`` without ``-L``): a link loop would otherwise be walked 40 levels deep and lead out of the
    tree. A symlinked file that matches is kept. Relative patterns give relative paths.

    ``folders`` collects (absolute, in order) every folder where a new entry could change the result: the
    folders listed, those a literal name was looked for in, and for a missing folder its nearest existing
    ancestor, where it will appear.
    """
    found = _Glob(folders if folders is not None else {}).iglob(pattern, dironly=False)
    return [path for path in found if path]  # a leading ``**`` also matches "" (glob drops it too)


class _Glob:
    """CPython 3.11's ``glob._iglob`` and its helpers, followed closely so results stay identical."""

    def __init__(self, folders: dict[str, None]) -> None:
        self.folders = folders

    def iglob(self, pattern: str, dironly: bool) -> Iterator[str]:
        dirname, basename = os.path.split(pattern)
        if not glob.has_magic(pattern):
            if basename:
                self._note(dirname)
                if os.path.lexists(pattern):
                    yield pattern
            elif os.path.isdir(dirname):
                yield pattern
            return
        if not dirname:
            yield from self._in_dir("", basename, dironly)
            return
        dirs: Iterable[str] = [dirname]
        if dirname != pattern and glob.has_magic(dirname):
            dirs = self.iglob(dirname, dironly=True)
        for d in dirs:
            for name in self._in_dir(d, basename, dironly):
                yield os.path.join(d, name)

    def _in_dir(self, dirname: str, basename: str, dironly: bool) -> Iterator[str]:
        if basename == "**":
            yield ""
            yield from self._walk(dirname, dironly)
        elif glob.has_magic(basename):
            names = (e.name for e in self._list(dirname, dironly))
            if not _hidden(basename):
                names = (n for n in names if not _hidden(n))
            yield from fnmatch.filter(names, basename)
        elif basename:
            self._note(dirname)
            if os.path.lexists(os.path.join(dirname, basename)):
                yield basename
        elif os.path.isdir(dirname):
            yield basename

    def _walk(self, dirname: str, dironly: bool) -> Iterator[str]:
        """``**``: every entry under ``dirname`` but hidden ones, entering real folders only."""
        for entry in self._list(dirname, False):
            if _hidden(entry.name):
                continue
            try:
                real_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                real_dir = False
            if real_dir or not dironly:
                yield entry.name
            if real_dir:
                for sub in self._walk(os.path.join(dirname, entry.name), dironly):
                    yield os.path.join(entry.name, sub)

    def _list(self, dirname: str, dironly: bool) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(dirname or os.curdir) as it:
                self.folders[os.path.abspath(dirname)] = None
                return [e for e in it if not dironly or _is_dir(e)]
        except OSError:
            self._note(dirname)
            return []

    def _note(self, dirname: str) -> None:
        """Remember where ``dirname``'s entries would appear: itself, or its nearest existing ancestor."""
        folder = os.path.abspath(dirname)
        while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
            folder = os.path.dirname(folder)
        self.folders[folder] = None


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # a symlinked folder counts here, as in glob: only ``**`` refuses to enter one
    except OSError:
        return False


class Discovery:
    """Expands patterns into paths and says which matches are new since the last look.

    It has the same ``step()`` shape as a source, so every engine drives it with the same loop; its
    "chunks" are newly matched paths, spelled as the pattern spells them (a relative pattern gives
    relative paths). A pattern that matches nothing at first is named once: by the first look without
    ``follow``, else when it is watched for.
    """

    path = "(glob discovery)"
    rotating = False
    caught_up = False
    stream = False
    ended = False

    def __init__(self, patterns: Iterable[str], exclude: Iterable[str] = (), follow: bool = True) -> None:
        self.patterns = list(patterns)
        self.exclude = list(exclude)
        self.follow = follow
        # an exclude is matched against the path as the user would write it: relative to the current folder
        # when the exclude is relative, absolute when it is absolute (and always against the file name)
        self._exclude = [(os.path.normpath(p), os.path.isabs(p)) for p in self.exclude]
        self._seen: set[str] = set()
        self._folders: dict[str, None] = {}  # where a new match could appear, as of the last look
        self._watched: set[str] = set()
        self._watcher: Watcher | None = None
        self._signal: Signal | None = None
        self._event_driven = True
        self._looked = False
        self._unmatched: dict[str, list[str]] = {}  # pattern -> its folders, to be named when watched
        self._used: set[str] = set()  # excludes that matched something
        self.unmatched: list[str] = []  # without follow: patterns that matched nothing (an exit status of 1)

    def keep(self, paths: Iterable[str]) -> list[str]:
        """``paths`` given literally (the shell may have expanded a glob) without those excluded."""
        kept = []
        for path in paths:
            pat = self.excluded(path) if path != "-" else None
            if pat is None:
                kept.append(path)
            else:
                self._used.add(pat)
        return kept

    def excluded(self, path: str) -> str | None:
        """The exclude pattern that ``path`` matches, if any."""
        if not self.exclude:
            return None
        name = os.path.basename(path)
        full = os.path.abspath(path)
        rel = os.path.relpath(full)
        for original, (pat, absolute) in zip(self.exclude, self._exclude, strict=True):
            if fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(full if absolute else rel, pat):
                return original
        return None

    def step(self) -> list[str]:
        """Paths that match now and did not match before (regular files, not excluded)."""
        new = self._look()
        # a folder watched only now may have had entries made in it since the look: look again
        while self._watcher is not None and self._watch_folders():
            new += self._look()
        return new

    def _look(self) -> list[str]:
        first = not self._looked
        self._looked = True
        new: list[str] = []
        folders: dict[str, None] = {}
        used = self._used
        for pattern in self.patterns:
            mine: dict[str, None] = {}
            matched = False
            for path in sorted(set(match(pattern, mine))):
                key = os.path.abspath(path)  # one file spelled two ways by two patterns is one match
                if key in self._seen:
                    matched = True
                    continue
                if not os.path.isfile(path):
                    continue
                matched = True
                if (pat := self.excluded(path)) is not None:
                    used.add(pat)
                    continue
                self._seen.add(key)
                new.append(path)
            folders.update(mine)
            if first and not matched:
                if self.follow:
                    self._unmatched[pattern] = list(mine)
                else:
                    self.unmatched.append(pattern)
                    log.warning("%s: no file matches", pattern)
        if first:
            for pat in self.exclude:
                if pat not in used:
                    log.warning(
                        "--exclude %s: excludes nothing (it is matched against each path found, relative to the "
                        "current folder unless it is absolute, and against the file name)",
                        pat,
                    )
        self._folders = folders
        # a folder gone from the look is watched afresh when it is back (its watch went with it)
        self._watched.intersection_update(folders)
        return new

    def finish(self, complete: bool, quiet: bool = False) -> list[str]:
        return []

    def next_deadline(self) -> float | None:
        return None

    def watch(self, watcher: Watcher, signal: Signal) -> bool:
        """Ask ``watcher`` to wake ``signal`` when an entry appears in any folder a match could be in."""
        self._watcher, self._signal = watcher, signal
        self._watch_folders()
        for pattern, folders in self._unmatched.items():
            log.warning("%s: no file matches yet; watching for one", pattern)
            if folders:
                more = f" (and {len(folders) - 1} more under it)" if len(folders) > 1 else ""
                log.info("%s: watching %s%s", pattern, folders[0], more)
        self._unmatched.clear()
        return self._event_driven

    def unwatch(self, watcher: Watcher, signal: Signal) -> None:
        self._watcher = self._signal = None

    def _watch_folders(self) -> bool:
        """Watch the folders of the last look not watched yet; whether any watch was added."""
        assert self._watcher is not None and self._signal is not None
        added = False
        for folder in [f for f in self._folders if f not in self._watched]:
            self._watched.add(folder)
            if self._watcher.watch_dir(folder, self._signal):
                added = True
            else:
                self._event_driven = False
        return added
