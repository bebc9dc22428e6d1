"""Running the pipeline: the run's sequence and drivers (``pipeline``) and the three engines."""

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .engines import AsyncioEngine, MixedEngine, ThreadsEngine, run_async, run_blocking, run_to_end
    from .pipeline import Engine, Run, make_run, troubled

__all__ = [
    "AsyncioEngine",
    "Engine",
    "MixedEngine",
    "Run",
    "ThreadsEngine",
    "make_run",
    "run_async",
    "run_blocking",
    "run_to_end",
    "troubled",
]

if not TYPE_CHECKING:  # each module is imported when one of its names is first used
    __getattr__, __dir__ = exports(
        __name__,
        {
            **dict.fromkeys(
                ("AsyncioEngine", "MixedEngine", "ThreadsEngine", "run_async", "run_blocking", "run_to_end"), ".engines"
            ),
            **dict.fromkeys(("Engine", "Run", "make_run", "troubled"), ".pipeline"),
        },
    )
