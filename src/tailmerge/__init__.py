"""tailmerge: follow many growing log files and merge their complete lines into one stream.

Sync face: :func:`follow`, :func:`merge`. Async face: :func:`afollow`, :func:`amerge`.
"""

from ._api import Line, MergeStats, OptionArgs, afollow, amerge, follow, merge
from ._framing import Chunk, LineFramer
from ._options import ENGINES, Options
from ._sinks import Output, OutputClosed, OutputError
from ._verify import Verdict, verify

__all__ = [
    "ENGINES",
    "Chunk",
    "Line",
    "LineFramer",
    "MergeStats",
    "OptionArgs",
    "Options",
    "Output",
    "OutputClosed",
    "OutputError",
    "Verdict",
    "afollow",
    "amerge",
    "follow",
    "merge",
    "verify",
]
__version__ = "0.1.0"
