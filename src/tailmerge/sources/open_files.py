"""The files that sources hold open, least recently read first, and how many they may hold at once.

More files than the open-file limit allows can still be followed: a source whose file has been idle the
longest closes it to make room for one that must read (and opens it again by name when its watch says it
changed). This module only counts and chooses; the holders close their own files (``close_idle``), since
only a holder knows whether it is busy.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol

__all__ = ["Holder", "OpenFiles"]


class Holder(Protocol):
    def close_idle(self) -> bool:
        """Close the files held, if idle: not being read right now and each still at its path. The holder
        tells ``OpenFiles.hold`` what it holds afterwards; returns whether it closed anything."""
        ...


class OpenFiles:
    """Holders by how recently they read, each with how many files it holds open, within ``limit``.

    Thread-safe (the threads engine reads from many threads). No method holds the lock while a holder
    closes, so a holder may tell ``hold`` from inside ``close_idle``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._held: OrderedDict[Holder, int] = OrderedDict()  # least recently read first
        self._count = 0
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """Files held open now."""
        return self._count

    def hold(self, holder: Holder, files: int) -> None:
        """``holder`` holds ``files`` open now (0: none) and has just read."""
        with self._lock:
            self._count += files - self._held.pop(holder, 0)
            if files > 0:
                self._held[holder] = files

    def lower(self, by: int) -> None:
        """Opening failed for want of descriptors below the limit (what the reserve was kept for took more):
        hold ``by`` fewer than are held now from then on."""
        with self._lock:
            self.limit = max(1, min(self.limit, self._count) - by)

    def make_room(self, files: int, asking: Holder | None = None) -> bool:
        """Ask the least recently read holders (not ``asking``) to close their files until ``files`` more
        fit within the limit. False when they do not: every other holder was busy, or holds nothing.

        Each holder asked moves to the back of the queue whether it closed or not (a busy one is being
        read), so every holder is asked at most once."""
        with self._lock:
            asks = len(self._held)
        while asks > 0:
            with self._lock:
                if self._count + files <= self.limit:
                    return True
                oldest = next(iter(self._held), None)
                if oldest is None:
                    return False
                self._held.move_to_end(oldest)
            asks -= 1
            if oldest is not asking:
                oldest.close_idle()  # outside the lock: it tells hold() what it holds now
        with self._lock:
            return self._count + files <= self.limit
