"""Sinks: where the merged stream goes, each with a backpressure policy (see ``contract``)."""

from .contract import Batch, Origin, Sink
from .file_sink import FileSink
from .formats import FORMATS, Format, Formatter, Labels, labels_for
from .output import Output, OutputClosed, OutputError
from .queue import Line, LineQueue

__all__ = [
    "FORMATS",
    "Batch",
    "FileSink",
    "Format",
    "Formatter",
    "Labels",
    "Line",
    "LineQueue",
    "Origin",
    "Output",
    "OutputClosed",
    "OutputError",
    "Sink",
    "labels_for",
]
