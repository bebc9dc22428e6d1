"""What is checked and opened before a merge starts, in an order that never harms the output: the
arguments, then the state (locked), then the output (cut back to what the state committed)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .sinks import FORMATS, Output
from .sources import is_pattern
from .state import StateError

if TYPE_CHECKING:
    from .state import Checkpoint, FsyncPolicy

__all__ = ["PathArg", "as_paths", "check_output", "colour_auto", "open_output", "prepare_merge"]

PathArg = str | os.PathLike[str]


def as_paths(paths: Iterable[PathArg]) -> list[str]:
    """The API's path arguments as strings (a single path is refused: it is a common slip)."""
    if isinstance(paths, str | bytes | os.PathLike):
        raise TypeError("paths must be a list of paths, not a single path")
    return [os.fspath(p) for p in paths]


def colour_auto(output: Output) -> bool:
    """Colour when the output is a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return output.isatty() and not os.environ.get("NO_COLOR")


def check_output(paths: Iterable[str], output: str | None) -> None:
    """Refuse an output that is one of the literal inputs (by identity: a link to it counts), before the
    output is opened, and so truncated. Glob matches of the output are left out while following."""
    if output is None or not os.path.exists(output):
        return
    for path in paths:
        if not is_pattern(path) and os.path.exists(path) and os.path.samefile(path, output):
            raise ValueError(f"the output {output} is also an input ({path})")


def open_output(path: str | None, append: bool, checkpoint: Checkpoint | None) -> Output:
    """The output for a run; with a checkpoint that has committed into a file, that file, cut back to its
    committed size (what was written after the last commit is read again)."""
    committed = checkpoint.store.output() if checkpoint is not None else None
    if checkpoint is None or committed is None or committed.file is None:
        return Output(path, append=append)
    state = checkpoint.store.path
    if path is None:
        raise StateError(f"state {state}: belongs to the output {committed.path}, not standard output")
    if not os.path.exists(path):
        if committed.path != os.path.abspath(path):
            raise StateError(f"state {state}: belongs to the output {committed.path}, not {path}")
        raise StateError(
            f"state {state}: its output {path} is gone ({committed.size} bytes were committed); "
            "restore it, or start afresh with a new state"
        )
    from .state import trim_output

    out = Output(path, append=True)
    try:
        trim_output(out.fd, out.name, state, committed)
    except BaseException:
        out.close()
        raise
    return out


def prepare_merge(
    paths: Iterable[PathArg],
    output: PathArg | Output | None,
    fmt: str,
    *,
    append: bool,
    state: PathArg | None,
    fsync: FsyncPolicy,
) -> tuple[list[str], Output, Checkpoint | None]:
    """Check everything that can be checked, then open the state (locked) and the output, in that order,
    so a bad argument or an unusable state leaves the output untouched."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    args = as_paths(paths)
    target = output if isinstance(output, Output) else os.fspath(output) if output is not None else None
    if isinstance(target, str) and target.startswith(("redis://", "rediss://")):
        # a path would be made of it (a folder named "redis:"): shipping is the command line's
        raise ValueError(f"{target}: a Redis output is for the command line (tailmerge follow ... -o {target})")
    if isinstance(target, Output) and state is not None:
        raise ValueError("state= needs the output as a path (it checks and trims the file before opening it)")
    if not isinstance(target, Output):
        check_output(args, target)
    checkpoint = None
    if state is not None:
        from .state import open_checkpoint  # SQLite only with a state

        checkpoint = open_checkpoint(os.fspath(state), fsync)
    try:
        out = target if isinstance(target, Output) else open_output(target, append, checkpoint)
    except BaseException:
        if checkpoint is not None:
            checkpoint.close()
        raise
    return args, out, checkpoint
