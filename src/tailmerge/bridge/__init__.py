"""Crossing between threads and the event loop: the stop token, the bell, the bounded hand-off, the portal."""

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .bell import Bell, signals_wake
    from .handoff import Handoff, Policy
    from .portal import Portal, refuse_in_loop
    from .stop import Reason, StopFlag, StopToken, call_soon
    from .workers import Timer, Workers

__all__ = [
    "Bell",
    "Handoff",
    "Policy",
    "Portal",
    "Reason",
    "StopFlag",
    "StopToken",
    "Timer",
    "Workers",
    "call_soon",
    "refuse_in_loop",
    "signals_wake",
]

if not TYPE_CHECKING:  # each module is imported when one of its names is first used
    __getattr__, __dir__ = exports(
        __name__,
        {
            **dict.fromkeys(("Bell", "signals_wake"), ".bell"),
            **dict.fromkeys(("Handoff", "Policy"), ".handoff"),
            **dict.fromkeys(("Portal", "refuse_in_loop"), ".portal"),
            **dict.fromkeys(("Reason", "StopFlag", "StopToken", "call_soon"), ".stop"),
            **dict.fromkeys(("Timer", "Workers"), ".workers"),
        },
    )
