"""``tailmerge follow``: the merge into a file or standard output, stopped by signals."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from ..opening import colour_auto, prepare_merge
from ..options import Options
from ..run import make_run, run_to_end
from ..sinks import FileSink, OutputClosed, OutputError, Sink
from ..sources import raise_fd_limit
from ..state import StateError
from .parser import UsageError, options_from
from .running import not_all_read, signals_stop
from .view import hub_for, serve_run, web_options

if TYPE_CHECKING:
    from ..serve.server import WebOptions

__all__ = ["EXIT_PIPE", "UsageError", "run_follow"]

EXIT_PIPE = 141


def run_follow(ns: argparse.Namespace, *, own_process: bool = False) -> int:
    target = None if ns.output in (None, "-") else ns.output
    try:
        opts = Options(**options_from(ns))
        web = _web(ns)
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None
    if own_process:
        from .._heap import collect_less, keep_freed_heap

        collect_less()  # the objects of thousands of files live as long as the run
        # buffers that come and go a step at a time: a time order's, and any format's copy of what it read
        # (raw output is moved by the kernel; ctypes, which the tuning needs, costs its start 5 ms)
        if opts.order == "time" or ns.format != "raw":
            keep_freed_heap()
    if own_process and ns.format == "jsonl":  # numpy (JSONL's offsets) multiplies no matrices: no BLAS threads
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    raise_fd_limit()
    if streams := [p for p in ns.paths if p.startswith(("redis://", "rediss://"))]:
        from ..streams.address import parse_address

        try:
            for url in streams:
                parse_address(url)
        except ValueError as e:
            raise UsageError(str(e)) from None
    if (opts.group is not None or opts.consumer is not None) and not streams:
        raise UsageError("--group and --consumer are for reading redis:// streams (give one as a PATH)")
    if opts.consumer is not None and opts.group is None:
        raise UsageError("--consumer names a reader of a consumer group: give --group too")
    if ns.host_name is not None and not ns.host_name.strip():
        raise UsageError("--host-name must not be empty")
    if target is not None and target.startswith(("redis://", "rediss://")):
        if web is not None:
            raise UsageError("--serve is for a merge into a file or standard output, not -o redis://...")
        from .ship import run_ship  # redis-py only to ship

        return run_ship(ns, opts, target)
    if ns.host_name is not None or ns.maxlen is not None:
        raise UsageError("--host-name and --maxlen are for a Redis output (-o redis://HOST:PORT/STREAM)")
    try:
        paths, output, checkpoint = prepare_merge(
            ns.paths, target, ns.format, append=ns.append, state=ns.state, fsync=ns.fsync
        )
    except StateError as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        raise UsageError(str(e)) from None
    except OutputError as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    progress = _progress(paths) if not opts.follow and sys.stderr.isatty() else None
    colour = {"always": True, "never": False}.get(ns.color, colour_auto(output))
    sink = FileSink(
        output, ns.format, colour=colour, progress=progress.update if progress else None, checkpoint=checkpoint
    )
    hub = hub_for(web) if web is not None else None
    sinks: list[Sink] = [sink] if hub is None else [sink, hub]
    run = make_run(paths, opts, sinks, output, checkpoint.ledger if checkpoint else None)
    try:
        with signals_stop(run, output.reopen):
            if hub is not None and web is not None:
                if (status := serve_run(run, hub, web, sys.stderr)) is not None:
                    return status
            else:
                run_to_end(run)
    except OutputClosed:
        _silence_stdout()
        return EXIT_PIPE
    except OutputError as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    except StateError as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        if type(e).__name__ not in ("StreamError", "EntryError"):  # a stream read (redis-py only then)
            raise
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    finally:
        sink.close()
        if checkpoint is not None:
            checkpoint.close()
        if progress is not None:
            progress.close()
    if run.unwritten:
        print(
            f"tailmerge: {output.name}: {run.unwritten} bytes not written (its reader stopped reading)",
            file=sys.stderr,
        )
        return 1
    return 1 if not opts.follow and not_all_read(run) else 0


def _web(ns: argparse.Namespace) -> WebOptions | None:
    """``--serve [HOST:]PORT``'s page, if asked for."""
    if ns.serve is None:
        return None
    from ..serve.server import parse_address

    host, port = parse_address(ns.serve)
    return web_options(ns, host, port)


def _progress(paths: list[str]) -> Any:
    from tqdm import tqdm

    total = 0
    for p in paths:
        try:
            total += os.path.getsize(p)
        except OSError:
            pass
    return tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, desc="tailmerge", leave=False)


def _silence_stdout() -> None:
    # the reader is gone: point stdout at /dev/null so the interpreter's final flush stays quiet
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
