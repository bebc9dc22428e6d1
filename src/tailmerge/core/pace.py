"""The follow loop as a plan: what to read, what to hand over and how long to wait, with no I/O in it.

Every engine runs this same plan; an engine only decides how a step waits and where items go.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import NamedTuple, Protocol, TypeVar

__all__ = ["Follower", "Wait", "pace"]

log = logging.getLogger("tailmerge")

T = TypeVar("T")


class Follower(Protocol[T]):
    """What an engine drives: a source (its items are chunks) or glob discovery (its items are paths)."""

    path: str
    stream: bool
    """A stream (standard input) is read to its end even without ``follow``."""

    @property
    def ended(self) -> bool:
        """The input has ended (a stream closed); files never end by themselves."""
        ...

    @property
    def rotating(self) -> bool:
        """True while something must be polled whatever the waker says (a rotated file)."""
        ...

    @property
    def caught_up(self) -> bool:
        """The last step read all there was and nothing else is due: with a waker, wait for it now,
        without looking again first (a look that would find nothing costs a third of a wake-up)."""
        ...

    def step(self) -> list[T]:
        """What is ready now (possibly nothing); never waits."""
        ...

    def finish(self, complete: bool, quiet: bool = False) -> list[T]:
        """Done: release everything. ``complete``: the input ended (emit a final line), not a stop.
        ``quiet``: the stop came from the reader of the output (it left, or stopped reading), so what is
        left unread is said at info level, not warned about."""
        ...

    def next_deadline(self) -> float | None:
        """Monotonic time at which ``step()`` must run again whatever the waker says."""
        ...


class Wait(NamedTuple):
    """Wait for the follower's signal, at most ``timeout`` seconds (None: until signalled)."""

    timeout: float | None


def pace(
    follower: Follower[T], *, follow: bool, event_driven: bool, poll_interval: float, poll_max: float
) -> Iterator[list[T] | Wait]:
    """Yield items to hand over, or how long to wait before looking again; return when done.

    A polled follower backs off from ``poll_interval`` to ``poll_max`` while nothing changes; an
    event-driven one waits for its signal, and polls only while it is ``rotating``, until its deadline.
    Without ``follow`` the plan ends at the first look that finds nothing (a stream: at its end).
    """
    interval = poll_interval
    # one slot, emptied by the yield: a plan suspended after a hand-over keeps none of the lines it handed
    # over, so a follower waiting for its next turn holds no step's bytes
    got: list[list[T]] = []
    while True:
        try:
            got.append(follower.step())
        except OSError as e:
            log.error("%s: %s; no longer followed", follower.path, e)
            return
        if got[0]:
            interval = poll_interval
            yield got.pop()
            if not (follow and event_driven and follower.caught_up):
                continue
        elif follower.ended or not (follow or follower.stream):
            return
        else:
            got.clear()
        timeout: float | None = None
        if not event_driven or follower.rotating:
            timeout = interval
            interval = min(interval * 2, poll_max)
        deadline = follower.next_deadline()
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        yield Wait(timeout)
