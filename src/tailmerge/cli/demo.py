"""``tailmerge demo``: live writers, a live labelled merge on the terminal, then a verdict."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from types import FrameType

from ..api import follow
from ..core import Chunk
from ..sinks import Formatter, Output, labels_for
from ..verify import verify

__all__ = ["run_demo"]


def run_demo(*, engine: str = "asyncio", seconds: float = 4.0, files: int = 4, writers: int = 3) -> int:
    """Run the demo; Ctrl-C or SIGTERM end it early, with its writers and its temporary folder gone."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _demo(engine, seconds, files, writers)
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _demo(engine: str, seconds: float, files: int, writers: int) -> int:
    with tempfile.TemporaryDirectory(prefix="tailmerge-demo-") as tmp:
        paths = [os.path.join(tmp, f"service{i + 1}.log") for i in range(files)]
        for path in paths:
            open(path, "wb").close()
        merged_path = os.path.join(tmp, "merged.log")
        print(f"demo: {writers} writer processes append to {files} logs in {tmp} for {seconds:g} s;", flush=True)
        print(f"demo: the {engine} engine merges them live (one writer splits each line in two writes)\n", flush=True)
        procs = []
        for w in range(writers):
            mine = paths[w::writers] or [paths[w % files]]
            split = ["--split-ms", "30"] if w == 0 else []
            cmd = [sys.executable, "-m", "tailmerge._writer", "--id", f"w{w + 1}", "--rate", "8",
                   "--seconds", str(seconds), *split, *mine]  # fmt: skip
            # a session of their own: a Ctrl-C at the terminal reaches the demo, which ends them itself
            procs.append(subprocess.Popen(cmd, start_new_session=True))
        try:
            return _show(engine, paths, merged_path, procs)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                proc.wait()


def _show(engine: str, paths: list[str], merged_path: str, procs: list[subprocess.Popen[bytes]]) -> int:
    done = threading.Event()

    def wait_writers() -> None:
        for proc in procs:
            proc.wait()
        done.set()

    threading.Thread(target=wait_writers, daemon=True).start()
    screen = Output(None)
    colour = screen.isatty()
    labels = dict(zip(paths, labels_for(paths), strict=True))
    formatters = {p: Formatter("labeled", p, labels[p], colour=i if colour else None) for i, p in enumerate(paths)}
    count = 0
    with open(merged_path, "wb") as merged:
        # the sync face of the API: the asyncio core runs in a helper thread (bottom-up)
        for line in follow(paths, engine=engine, stop_event=_after(done, 0.5)):  # type: ignore[arg-type]
            merged.write(line.data)
            screen.write(formatters[line.path].format([Chunk(line.data, line.offset, file=line.file)]))
            count += 1
    for proc in procs:
        if proc.returncode:
            print(f"demo: writer exited with {proc.returncode}", file=sys.stderr)
    verdict = verify(paths, merged_path)
    print(f"\ndemo: merged {count} lines; tailmerge verify says:")
    print(f"demo: {verdict.message}")
    return 0 if verdict.ok else 1


def _after(event: threading.Event, grace: float) -> threading.Event:
    """An event set ``grace`` seconds after ``event``, so the last lines written are still read."""
    later = threading.Event()

    def wait() -> None:
        event.wait()
        threading.Timer(grace, later.set).start()

    threading.Thread(target=wait, daemon=True).start()
    return later
