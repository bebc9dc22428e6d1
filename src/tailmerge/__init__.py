"""tailmerge: follow many growing log files and merge their complete lines into one stream.

Sync face: :func:`follow`, :func:`merge`. Async face: :func:`afollow`, :func:`amerge`.
"""

from .api import MergeStats, afollow, amerge, follow, merge
from .core import Chunk, Identity, LineFramer
from .options import ENGINES, OptionArgs, Options
from .sinks import Line, Output, OutputClosed, OutputError
from .state import StateError
from .verify import Verdict, verify

__all__ = [
    "ENGINES",
    "Chunk",
    "Identity",
    "Line",
    "LineFramer",
    "MergeStats",
    "OptionArgs",
    "Options",
    "Output",
    "OutputClosed",
    "OutputError",
    "StateError",
    "Verdict",
    "afollow",
    "amerge",
    "follow",
    "merge",
    "verify",
]
__version__ = "0.2.0"
