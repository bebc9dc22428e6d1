"""Crossing between threads and the event loop: the stop token, the bounded hand-off, the portal."""

from .handoff import Handoff, Policy
from .portal import Portal, refuse_in_loop
from .stop import Reason, StopFlag, StopToken, call_soon

__all__ = ["Handoff", "Policy", "Portal", "Reason", "StopFlag", "StopToken", "call_soon", "refuse_in_loop"]
