"""The watch table: who waits on which name in which watched folder. Pure: events in, signals out.

The inotify layer does the system calls (adding and removing watches, resolving links) and asks the
table what an event means; the table never touches the file system, so it is tested without inotify.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from typing import NamedTuple, Protocol

__all__ = ["Event", "Reaction", "Signal", "WatchTable"]


class Signal(Protocol):
    """What a waiting follower is woken through: a ``threading.Event`` or an ``asyncio.Event``."""

    def set(self) -> None: ...


class Event:
    """What the kernel said about a watched folder, in the table's terms: bits of an ``int`` (an
    ``enum.Flag`` operation is a Python call, and an event comes per written line)."""

    CHANGED = 1  # an entry's content or metadata changed
    ENTRY = 2  # an entry was created, moved in or out, or deleted
    GONE = 4  # the folder itself was deleted or moved: its watch must be removed
    IGNORED = 8  # the kernel already removed the folder's watch
    OVERFLOW = 16  # events were dropped: everyone must look for themselves


_FOLDER_WENT = Event.GONE | Event.IGNORED


_NOBODY: set[Signal] = set()


class Reaction(NamedTuple):
    """What the inotify layer must do after an event."""

    wake: set[Signal]
    rewatch: list[tuple[str, Signal]]  # paths to register again (their folder went, or appeared)
    relink: list[tuple[str, Signal]]  # followed symlinks that may point elsewhere now
    remove_wd: int | None  # a watch to remove from the kernel


class _Dir:
    __slots__ = ("any", "names", "paths", "wd")

    def __init__(self, wd: int, path: str) -> None:
        self.wd = wd
        self.paths = [path]  # every name it was watched by: a folder and a symlink to it are one directory
        self.names: dict[str, set[Signal]] = defaultdict(set)  # entry name -> followers of it
        self.any: set[Signal] = set()  # woken by any entry created or moved in (glob discovery)


class WatchTable:
    """Watched folders by path and by watch descriptor, the names followed in each, paths waiting for
    their folder to appear, and followed symlinks. Not thread-safe: the caller holds a lock."""

    def __init__(self) -> None:
        self._dirs: dict[str, _Dir] = {}  # by every path it was watched by
        self._by_wd: dict[int, _Dir] = {}
        self._pending: dict[str, set[Signal]] = defaultdict(set)
        self._links: dict[str, set[Signal]] = defaultdict(set)
        self._names_of: dict[Signal, set[tuple[str, str]]] = defaultdict(set)  # for a quick remove

    def watched(self, folder: str) -> bool:
        return folder in self._dirs

    def add_dir(self, folder: str, wd: int) -> None:
        """``folder`` is watched as ``wd``. Another wd for a known folder means the folder was made anew
        (the old one's removal is reported late while a file in it is held open): its followers move over.
        A wd known by another path is the same directory by another name (a symlink to a folder, and the
        folder): one entry serves both, so that an event finds the followers of either name."""
        old = self._dirs.get(folder)
        if old is not None and old.wd == wd:
            return
        d = self._by_wd.get(wd)
        if d is None:
            d = self._by_wd[wd] = _Dir(wd, folder)
        else:
            d.paths.append(folder)
        if old is not None:
            for name, signals in old.names.items():
                d.names[name] |= signals
            d.any |= old.any
            old.paths.remove(folder)
            if not old.paths:
                self._by_wd.pop(old.wd, None)
        self._dirs[folder] = d

    def add_name(self, path: str, signal: Signal) -> None:
        """Wake ``signal`` on events about ``path``; its folder must be watched (``add_dir``)."""
        folder, name = posixpath.split(path)
        self._dirs[folder].names[name].add(signal)
        self._names_of[signal].add((folder, name))

    def add_any(self, folder: str, signal: Signal) -> None:
        """Wake ``signal`` when any entry appears in or leaves ``folder``."""
        self._dirs[folder].any.add(signal)

    def add_pending(self, path: str, signal: Signal) -> None:
        """``path``'s folder does not exist yet; an ancestor's watch will say when an entry on the way appears."""
        self._pending[path].add(signal)

    def add_link(self, path: str, signal: Signal) -> None:
        """``path`` is a symlink: when its entry changes, its target is to be resolved again."""
        self._links[path].add(signal)

    def remove(self, path: str, signal: Signal) -> None:
        for folder, name in self._names_of.pop(signal, ()):
            d = self._dirs.get(folder)
            if d is not None:
                d.names.get(name, set()).discard(signal)
        self._links.get(path, set()).discard(signal)
        for waiting in self._pending.values():  # rarely more than a few
            waiting.discard(signal)

    def on_change(self, wd: int, name: str) -> set[Signal] | None:
        """Who to wake when the entry ``name`` changed (``Event.CHANGED`` alone: a file was written); None
        when it takes more than waking (a followed symlink, or an unknown watch): ask ``on_event``."""
        d = self._by_wd.get(wd)
        if d is None or (self._links and any(posixpath.join(folder, name) in self._links for folder in d.paths)):
            return None
        return d.names.get(name, _NOBODY)

    def on_event(self, wd: int, event: int, name: str | None) -> Reaction:
        reaction = Reaction(set(), [], [], None)
        if event & Event.OVERFLOW:
            for each in self._dirs.values():
                for sigs in each.names.values():
                    reaction.wake.update(sigs)
                reaction.wake.update(each.any)
            for sigs in self._pending.values():
                reaction.wake.update(sigs)
            return reaction
        d = self._by_wd.get(wd)
        if d is None:
            return reaction
        if name is not None:
            for folder in d.paths:
                self._on_entry(folder, d, event, name, reaction)
        if event & _FOLDER_WENT:
            # the folder itself went away: its followers wait on an ancestor from now on, each by the path
            # it gave
            for folder in d.paths:
                del self._dirs[folder]
            self._by_wd.pop(wd, None)
            if not event & Event.IGNORED:
                reaction = reaction._replace(remove_wd=d.wd)
            for fname, sigs in d.names.items():
                for sig in sigs:
                    given = [f for f in d.paths if (f, fname) in self._names_of.get(sig, ())] or d.paths[:1]
                    reaction.rewatch.extend((posixpath.join(f, fname), sig) for f in given)
                reaction.wake.update(sigs)
            reaction.wake.update(d.any)
        return reaction

    def _on_entry(self, folder: str, d: _Dir, event: int, name: str, reaction: Reaction) -> None:
        path = posixpath.join(folder, name)
        reaction.wake.update(d.names.get(name, ()))
        reaction.relink.extend((path, sig) for sig in self._links.get(path, ()))
        if not event & Event.ENTRY:
            return
        reaction.wake.update(d.any)
        # paths waiting below the new entry move to their own folder's watch
        prefix = path + "/"
        for waiting in [p for p in self._pending if p == path or p.startswith(prefix)]:
            sigs = self._pending.pop(waiting)
            reaction.rewatch.extend((waiting, sig) for sig in sigs)
            reaction.wake.update(sigs)
