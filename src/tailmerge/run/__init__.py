"""Running the pipeline: the run's sequence and drivers (``pipeline``) and the three engines."""

from .engines import AsyncioEngine, MixedEngine, ThreadsEngine, run_async, run_blocking
from .pipeline import Engine, Run, troubled

__all__ = ["AsyncioEngine", "Engine", "MixedEngine", "Run", "ThreadsEngine", "run_async", "run_blocking", "troubled"]
