"""Wakers: tell a waiting follower that its path may have changed (inotify), or let it poll."""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

from .._lazy import exports
from .poll import Watcher
from .table import Event, Reaction, Signal, WatchTable

if TYPE_CHECKING:
    from .inotify import InotifyWatcher

__all__ = ["Event", "InotifyWatcher", "Reaction", "Signal", "WatchTable", "Watcher", "make_watcher"]

log = logging.getLogger("tailmerge")

if not TYPE_CHECKING:  # inotify (and inotify_simple) only when a run follows
    __getattr__, __dir__ = exports(__name__, {"InotifyWatcher": ".inotify"})


def make_watcher(mode: str) -> Watcher:
    """The waker for ``--watch auto|inotify|poll``; auto falls back to polling, saying so once."""
    if mode == "poll":
        return Watcher()
    from .inotify import InotifyWatcher

    try:
        return InotifyWatcher()
    except OSError as e:
        if e.errno == errno.EMFILE:
            why = "the inotify instance limit is reached (raise fs.inotify.max_user_instances)"
        else:
            why = e.strerror or str(e)
        log.warning("inotify is not available (%s); polling every file instead", why)
        return Watcher()
