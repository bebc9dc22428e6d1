"""tailmerge: follow many growing log files and merge their complete lines into one stream.

Sync face: :func:`follow`, :func:`merge`. Async face: :func:`afollow`, :func:`amerge`.
"""

from typing import TYPE_CHECKING

# ``merge`` and ``verify`` name both a module of this package and a function of the API: both modules are
# imported first, so that importing them later never puts a module where the function is looked up
from . import merge as _merge_module  # noqa: F401
from . import verify as _verify_module  # noqa: F401
from ._lazy import exports

if TYPE_CHECKING:
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

if not TYPE_CHECKING:  # each name's module is imported when the name is first used (the CLI needs few)
    del globals()["merge"], globals()["verify"]  # the modules, set by their import: the functions come from here
    __getattr__, __dir__ = exports(
        __name__,
        {
            **dict.fromkeys(("MergeStats", "afollow", "amerge", "follow", "merge"), ".api"),
            **dict.fromkeys(("Chunk", "Identity", "LineFramer"), ".core"),
            **dict.fromkeys(("ENGINES", "OptionArgs", "Options"), ".options"),
            **dict.fromkeys(("Line", "Output", "OutputClosed", "OutputError"), ".sinks"),
            "StateError": ".state",
            **dict.fromkeys(("Verdict", "verify"), ".verify"),
        },
    )
