"""Sinks: where the merged stream goes, each with a backpressure policy (see ``contract``)."""

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from .contract import Batch, Origin, Sink, span_switch
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
    "span_switch",
]

if not TYPE_CHECKING:  # each module is imported when one of its names is first used
    __getattr__, __dir__ = exports(
        __name__,
        {
            **dict.fromkeys(("Batch", "Origin", "Sink", "span_switch"), ".contract"),
            "FileSink": ".file_sink",
            **dict.fromkeys(("FORMATS", "Format", "Formatter", "Labels", "labels_for"), ".formats"),
            **dict.fromkeys(("Output", "OutputClosed", "OutputError"), ".output"),
            **dict.fromkeys(("Line", "LineQueue"), ".queue"),
        },
    )
