"""The inotify waker: one watch per folder (``inotify_fd``); the table says who to wake.

One watch covers every followed file in a folder, and the same watch sees a file appear, be renamed away
or deleted (rotation), or a folder appear. System calls happen outside the table's lock.

Each event comes as plain integers and a ``str`` name, which is what a wake-up per written line can
afford; asyncinotify made an enum, a ``Path``, a dataclass, a weak reference and a ``select()`` call per
event (about a third of a follower's CPU per line).
"""

from __future__ import annotations

import errno
import logging
import os
import select
import stat
import threading
from pathlib import Path

from .inotify_fd import (
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_MODIFY,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_ONLYDIR,
    IN_Q_OVERFLOW,
    InotifyFd,
)
from .mounts import network_mount
from .poll import Watcher
from .table import Event, Reaction, Signal, WatchTable

__all__ = ["InotifyWatcher"]

log = logging.getLogger("tailmerge")


class InotifyWatcher(Watcher):
    """Change notification from the kernel, one watch per directory."""

    event_driven = True

    def __init__(self) -> None:
        self._mask = (
            IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE | IN_DELETE
            | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
        )  # fmt: skip
        self._events = (
            (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB, Event.CHANGED),
            (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE, Event.ENTRY),
            (IN_DELETE_SELF | IN_MOVE_SELF, Event.GONE),
            (IN_IGNORED, Event.IGNORED),
            (IN_Q_OVERFLOW, Event.OVERFLOW),
        )
        self._kinds: dict[int, int] = {}
        self._inotify = InotifyFd()
        self._fd: int = self._inotify.fd
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._stopped = False
        self._lock = threading.Lock()  # the threads engine registers from many threads
        self._table = WatchTable()
        self._watches: set[int] = set()
        # signals woken by anything but a file being written: their followers look at the path again
        self._entry_news: set[Signal] = set()
        self._refused: set[str] = set()
        self._warned_limit = False
        self._warned_mounts: set[str] = set()
        self._real_folders: dict[str, tuple[tuple[int, int], str]] = {}  # folder: (its directory, its real path)

    # -- registration ---------------------------------------------------------------------------

    def watch_file(self, path: str, signal: Signal, real: str | None = None) -> bool:
        path = os.path.abspath(path)
        with self._lock:
            self._entry_news.add(signal)  # what happened before the watch is not known: look once
        ok = self._add_name(path, signal)
        # a symlink is followed by name (like tail -F); its target's folder is watched too
        try:
            target = real if real is not None else self._realpath(path)
        except OSError:
            target = path
        if ok and target != path:
            with self._lock:
                self._table.add_link(path, signal)
            ok = self._add_name(target, signal)
        return ok

    def _realpath(self, path: str) -> str:
        """``os.path.realpath(path)`` (``path`` absolute and normalized), its folder resolved once: a
        folder's real path is reused while the folder still names the same directory, and only the file's
        own name is looked at each time (thousands of files in a few folders; realpath asks the kernel
        about every part of every path)."""
        folder, _, name = path.rpartition("/")
        if not folder or not name:
            return os.path.realpath(path)
        try:
            st = os.stat(folder)
        except OSError:
            return os.path.realpath(path)  # gone, or a loop: resolved as far as it goes
        directory = (st.st_dev, st.st_ino)
        known = self._real_folders.get(folder)
        if known is None or known[0] != directory:
            known = self._real_folders[folder] = (directory, os.path.realpath(folder))
        candidate = os.path.join(known[1], name)
        try:
            if stat.S_ISLNK(os.lstat(candidate).st_mode):
                return os.path.realpath(path)  # the file is a symlink: resolved in full
        except OSError:
            pass  # missing: realpath keeps the name as it is
        return candidate

    def unwatch_file(self, path: str, signal: Signal) -> None:
        with self._lock:
            self._table.remove(os.path.abspath(path), signal)
            self._entry_news.discard(signal)

    def entry_changed(self, signal: Signal) -> bool:
        with self._lock:
            if signal in self._entry_news:
                self._entry_news.discard(signal)
                return True
            return False

    def watch_dir(self, path: str, signal: Signal) -> bool:
        path = os.path.abspath(path)
        if not self._ensure_dir(path, fresh=True):
            return False
        with self._lock:
            self._table.add_any(path, signal)
        return True

    def _add_name(self, path: str, signal: Signal) -> bool:
        mount = network_mount(path)
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
        if self._ensure_dir(parent):
            with self._lock:
                self._table.add_name(path, signal)
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
        if not self._ensure_dir(ancestor):
            return False
        with self._lock:
            self._table.add_pending(path, signal)
        return True

    def _ensure_dir(self, path: str, *, fresh: bool = False) -> bool:
        """Watch folder ``path``. ``fresh``: ask the kernel even if it is watched already (the same folder
        gives the same watch), because a folder deleted and made again under the same name is a new
        folder: glob discovery's folders come and go; a file's folder is looked up in the table."""
        if not fresh:
            with self._lock:
                if self._table.watched(path):
                    return True
        if path in self._refused:
            return False
        try:
            wd: int = self._inotify.add_watch(path, self._mask)  # the same folder twice gives the same watch
        except OSError as e:
            self._refuse(path, e)
            return False
        with self._lock:
            self._table.add_dir(path, wd)
            self._watches.add(wd)
        return True

    def _refuse(self, path: str, e: OSError) -> None:
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

    # -- delivery -------------------------------------------------------------------------------

    def _dispatch(self, wd: int, mask: int, name: str | None) -> None:
        event = self._kinds.get(mask)
        if event is None:  # a few distinct masks come up: each is translated once
            event = 0
            for bits, kind in self._events:
                if mask & bits:
                    event |= kind
            self._kinds[mask] = event
        with self._lock:
            if event == Event.CHANGED and name is not None:  # a file written: most events, the short way
                woken = self._table.on_change(wd, name)
                if woken is not None:
                    for sig in woken:
                        sig.set()
                    return
            reaction: Reaction = self._table.on_event(wd, event, name)
            self._entry_news.update(reaction.wake)
        if reaction.remove_wd is not None:
            self._rm_watch(reaction.remove_wd)
        for path, sig in reaction.rewatch:
            self._add_name(path, sig)
        for link, sig in reaction.relink:
            self._add_name(os.path.realpath(link), sig)  # a symlink was swapped: watch its new target too
        for sig in reaction.wake:
            sig.set()

    def _rm_watch(self, wd: int) -> None:
        with self._lock:
            if wd not in self._watches:
                return
            self._watches.discard(wd)
        try:
            self._inotify.rm_watch(wd)
        except OSError:
            pass  # already gone with its folder

    async def run(self) -> None:
        # the loop watches the descriptor once for the whole run, and each wake-up takes the events of one
        # read (a reader added and removed per read, as an async iterator would, costs a system call each)
        import asyncio

        loop = asyncio.get_running_loop()
        loop.add_reader(self._fd, self._drain, True)  # one read a turn
        try:
            await loop.create_future()  # until the run cancels this task
        finally:
            loop.remove_reader(self._fd)

    def run_blocking(self) -> None:
        # no timeout: an idle waker thread never wakes (each wake-up costs a garbage-collector pass over
        # thousands of follower threads); stop_blocking() wakes it through a pipe
        # poll(), not an epoll selector: it needs no descriptor of its own, which this thread could only
        # get after the run's sources have taken every one the limit allows
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while not self._stopped:
            poller.poll()
            self._drain()

    def _drain(self, one_read: bool = False) -> None:
        """Dispatch every event that is ready; ``one_read``: only those of one read of the descriptor, then
        give the loop back (a file written without pause keeps it ready, and the followers woken need the
        loop too; the reader fires again)."""
        while not self._stopped:
            events = self._inotify.read()  # what is there now, in one read
            if not events:
                return
            for wd, mask, name in events:
                self._dispatch(wd, mask, name)
            if one_read:
                return

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


def _read_sysctl(name: str) -> str:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return "unknown"
