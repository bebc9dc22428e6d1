"""Wakers: tell a waiting follower that its path may have changed.

One interface serves every engine. A follower registers a *signal* (anything with ``set()``: an
``asyncio.Event`` for the asyncio engine, a ``threading.Event`` for the threads and mixed engines) and
the waker sets it when the kernel reports a change. Where that is not possible the follower polls.

The inotify waker watches *directories*, not files: one watch covers every followed file in a folder,
and the same watch sees a file appear, be renamed away or deleted (rotation), or a directory appear.
"""

from __future__ import annotations

import errno
import logging
import os
import selectors
import threading
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from asyncinotify import Watch

__all__ = ["InotifyWatcher", "PollWatcher", "Signal", "Watcher", "make_watcher"]

log = logging.getLogger("tailmerge")

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
     "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone"}
)  # fmt: skip


class Signal(Protocol):
    def set(self) -> None: ...


class Watcher:
    """Polling: no change notification; followers wait with a timeout and look again."""

    event_driven = False

    def watch_file(self, path: str, signal: Signal) -> bool:
        """Wake ``signal`` when ``path`` may have changed; False when the caller must poll it."""
        return False

    def unwatch_file(self, path: str, signal: Signal) -> None:
        """Stop waking ``signal`` for ``path``."""

    def watch_dir(self, path: str, signal: Signal) -> bool:
        """Wake ``signal`` when an entry appears in directory ``path``; False when the caller must poll."""
        return False

    async def run(self) -> None:
        """Deliver notifications on the running event loop until cancelled."""

    def run_blocking(self) -> None:
        """Deliver notifications from this thread until ``stop_blocking()`` is called."""

    def stop_blocking(self) -> None:
        """End ``run_blocking()`` (from any thread)."""

    def close(self) -> None:
        """Release the kernel resources."""


PollWatcher = Watcher


def make_watcher(mode: str) -> Watcher:
    """The waker for ``--watch auto|inotify|poll``; auto falls back to polling, saying so once."""
    if mode == "poll":
        return PollWatcher()
    try:
        return InotifyWatcher()
    except OSError as e:
        if e.errno == errno.EMFILE:
            why = "the inotify instance limit is reached (raise fs.inotify.max_user_instances)"
        else:
            why = e.strerror or str(e)
        log.warning("inotify is not available (%s); polling every file instead", why)
        return PollWatcher()


class _Dir:
    """One watched directory and who waits on what in it."""

    __slots__ = ("any", "names", "watch")

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.names: dict[str, set[Signal]] = defaultdict(set)  # entry name -> followers of it
        self.any: set[Signal] = set()  # woken by any entry created or moved in (discovery)


class InotifyWatcher(Watcher):
    """Change notification from the kernel through asyncinotify, one watch per directory."""

    event_driven = True

    def __init__(self) -> None:
        try:
            import asyncinotify
        except ImportError as e:  # pragma: no cover - not Linux
            raise OSError(errno.ENOSYS, "not supported on this platform") from e
        self._ai = asyncinotify
        mask = asyncinotify.Mask
        self._mask = (
            mask.MODIFY | mask.CLOSE_WRITE | mask.ATTRIB | mask.CREATE | mask.DELETE
            | mask.MOVED_FROM | mask.MOVED_TO | mask.DELETE_SELF | mask.MOVE_SELF | mask.ONLYDIR
        )  # fmt: skip
        self._inotify = asyncinotify.Inotify()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._stopped = False
        self._lock = threading.Lock()  # the threads engine registers from many threads
        self._dirs: dict[str, _Dir] = {}
        self._by_wd: dict[int, str] = {}
        # a path whose directory does not exist yet waits on its nearest existing ancestor
        self._pending: dict[str, set[Signal]] = defaultdict(set)
        self._refused: set[str] = set()
        self._links: dict[str, set[Signal]] = defaultdict(set)  # followed symlinks: re-resolved when swapped
        self._names_of: dict[Signal, set[tuple[str, str]]] = defaultdict(set)  # for a quick unwatch
        self._warned_limit = False
        self._warned_mounts: set[str] = set()

    # -- registration ---------------------------------------------------------------------------

    def watch_file(self, path: str, signal: Signal) -> bool:
        path = os.path.abspath(path)
        with self._lock:
            ok = self._add_name(path, signal)
            # a symlink is followed by name (like tail -F); its target's folder is watched too
            try:
                target = os.path.realpath(path)
            except OSError:
                target = path
            if ok and target != path:
                self._links[path].add(signal)
                ok = self._add_name(target, signal)
            return ok

    def unwatch_file(self, path: str, signal: Signal) -> None:
        with self._lock:
            for folder, name in self._names_of.pop(signal, ()):
                d = self._dirs.get(folder)
                if d is not None:
                    d.names.get(name, set()).discard(signal)
            self._links.get(os.path.abspath(path), set()).discard(signal)
            for waiting in self._pending.values():  # rarely more than a few
                waiting.discard(signal)

    def watch_dir(self, path: str, signal: Signal) -> bool:
        path = os.path.abspath(path)
        with self._lock:
            d = self._ensure_dir(path)
            if d is None:
                return False
            d.any.add(signal)
            return True

    def _add_name(self, path: str, signal: Signal) -> bool:
        mount = _network_mount(path)
        if mount is not None:
            if mount not in self._warned_mounts:
                self._warned_mounts.add(mount)
                log.warning(
                    "%s: on a network filesystem (%s), where inotify misses other hosts' writes; polling its files",
                    path,
                    mount,
                )
            return False
        parent = os.path.dirname(path)
        d = self._ensure_dir(parent)
        if d is not None:
            name = os.path.basename(path)
            d.names[name].add(signal)
            self._names_of[signal].add((parent, name))
            return True
        if parent in self._refused:
            return False
        # the folder does not exist (yet): watch the nearest ancestor that does, and come back
        ancestor = parent
        while not os.path.isdir(ancestor):
            up = os.path.dirname(ancestor)
            if up == ancestor:
                return False
            ancestor = up
        a = self._ensure_dir(ancestor)
        if a is None:
            return False
        self._pending[path].add(signal)
        return True

    def _ensure_dir(self, path: str) -> _Dir | None:
        d = self._dirs.get(path)
        if d is not None:
            return d
        if path in self._refused:
            return None
        try:
            watch = self._inotify.add_watch(path, self._mask)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                self._refused.add(path)
                if not self._warned_limit:
                    self._warned_limit = True
                    log.warning(
                        "%s: inotify watch limit reached (fs.inotify.max_user_watches = %s); polling the "
                        "files in folders that do not fit (raise it with sysctl)",
                        path,
                        _read_sysctl("fs/inotify/max_user_watches"),
                    )
            elif e.errno in (errno.EACCES, errno.EPERM):
                self._refused.add(path)
                log.warning("%s: cannot watch folder (permission denied); polling its files", path)
            return None
        d = _Dir(watch)
        self._dirs[path] = d
        self._by_wd[watch.wd] = path
        return d

    # -- delivery -------------------------------------------------------------------------------

    def _dispatch(self, wd: int, mask: int, name: str | None) -> None:
        wake: set[Signal] = set()
        ai = self._ai.Mask
        with self._lock:
            if mask & ai.Q_OVERFLOW:
                # events were dropped: wake everyone, they each look for themselves
                for d in self._dirs.values():
                    for sigs in d.names.values():
                        wake |= sigs
                    wake |= d.any
                for sigs in self._pending.values():
                    wake |= sigs
            else:
                path = self._by_wd.get(wd)
                found = self._dirs.get(path) if path is not None else None
                if path is not None and found is not None:
                    d = found
                    if name is not None:
                        wake |= d.names.get(name, set())
                        link = os.path.join(path, name)
                        for sig in self._links.get(link, ()):
                            # a symlink was swapped: watch its new target's folder too
                            self._add_name(os.path.realpath(link), sig)
                        if mask & (ai.CREATE | ai.MOVED_TO | ai.MOVED_FROM | ai.DELETE):
                            wake |= d.any
                            wake |= self._resolve_pending(os.path.join(path, name))
                    if mask & (ai.DELETE_SELF | ai.MOVE_SELF | ai.IGNORED):
                        # the folder itself went away: its followers wait on an ancestor from now on
                        del self._dirs[path]
                        self._by_wd.pop(wd, None)
                        if not mask & ai.IGNORED:
                            try:
                                self._inotify.rm_watch(d.watch)
                            except OSError:
                                pass  # already gone with its folder
                        for fname, sigs in d.names.items():
                            for sig in sigs:
                                self._add_name(os.path.join(path, fname), sig)
                            wake |= sigs
                        wake |= d.any
        for sig in wake:
            sig.set()

    def _resolve_pending(self, created: str) -> set[Signal]:
        """A folder entry appeared: move paths waiting below it to their own folder's watch."""
        woken: set[Signal] = set()
        prefix = created + os.sep
        for path in [p for p in self._pending if p == created or p.startswith(prefix)]:
            sigs = self._pending.pop(path)
            for sig in sigs:
                self._add_name(path, sig)
            woken |= sigs
        return woken

    async def run(self) -> None:
        async for event in self._inotify:
            self._dispatch(event.watch.wd if event.watch else -1, int(event.mask), _name(event.name))

    def run_blocking(self) -> None:
        # no timeout: an idle waker thread never wakes (each wake-up costs a garbage-collector pass over
        # thousands of follower threads); stop_blocking() wakes it through a pipe
        self._inotify.sync_timeout = 0  # sync_get() only takes what is ready
        with selectors.DefaultSelector() as selector:
            selector.register(self._inotify.fd, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopped:
                selector.select()
                while not self._stopped and (event := self._inotify.sync_get()) is not None:
                    self._dispatch(event.watch.wd if event.watch else -1, int(event.mask), _name(event.name))

    def stop_blocking(self) -> None:
        self._stopped = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass  # closed already: the waker has ended

    def close(self) -> None:
        self._inotify.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)


def _name(name: Path | None) -> str | None:
    return None if name is None else str(name)


def _read_sysctl(name: str) -> str:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return "unknown"


_mounts: list[tuple[str, str]] | None = None


def _network_mount(path: str) -> str | None:
    """The mount point of ``path`` if it lies on a filesystem where inotify misses other hosts' writes."""
    global _mounts
    if _mounts is None:
        try:
            lines = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            lines = []
        mounts = []
        for line in lines:
            fields = line.split()
            if len(fields) >= 3:
                mounts.append((fields[1].replace("\\040", " "), fields[2]))
        _mounts = sorted(mounts, key=lambda m: len(m[0]), reverse=True)
    for mountpoint, fstype in _mounts:
        if path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/"):
            return mountpoint if fstype in NETWORK_FILESYSTEMS else None
    return None
