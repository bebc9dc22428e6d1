"""A log writer for the demo, the tests and the benchmarks: ``python -m tailmerge._writer``.

Every line identifies itself: ``WRITER FILE SEQ WRITE_TIME_NS PADDING``, so a checker can count lost,
doubled and split lines and measure latency. It can write each line in two halves, and rotate its files
by rename (as logrotate does by default) or by copy-and-truncate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import time
from collections.abc import Sequence

__all__ = ["main"]


class _Log:
    def __init__(self, path: str, rotate: str | None, every: int) -> None:
        self.path = path
        self.rotate = rotate
        self.every = every
        self.written = 0
        self.generation = 0
        self.fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def write(self, data: bytes, split_s: float) -> None:
        if split_s > 0 and len(data) > 2:
            half = len(data) // 2
            os.write(self.fd, data[:half])
            time.sleep(split_s)
            os.write(self.fd, data[half:])
        else:
            os.write(self.fd, data)
        self.written += 1
        if self.rotate and self.every and self.written % self.every == 0:
            self._rotate()

    def _rotate(self) -> None:
        self.generation += 1
        rotated = f"{self.path}.{self.generation}"
        if self.rotate == "rename":
            os.rename(self.path, rotated)
            os.close(self.fd)
            self.fd = self._open()
        else:  # copytruncate: the writer keeps its descriptor; O_APPEND carries on at the new end
            shutil.copyfile(self.path, rotated)
            os.truncate(self.path, 0)


def main(argv: Sequence[str] | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C in the demo ends writers quietly, no traceback
    p = argparse.ArgumentParser(prog="python -m tailmerge._writer")
    p.add_argument("files", nargs="+")
    p.add_argument("--id", default=str(os.getpid()))
    p.add_argument("--rate", type=float, default=100.0, help="lines per second, over all files")
    p.add_argument("--count", type=int, default=0, help="lines per file (0: until --seconds)")
    p.add_argument("--seconds", type=float, default=0.0)
    p.add_argument("--split-ms", type=float, default=0.0, help="write each line in two halves this far apart")
    p.add_argument("--line-bytes", type=int, default=60, help="pad lines to about this length")
    p.add_argument("--rotate", choices=("rename", "copytruncate"))
    p.add_argument("--rotate-every", type=int, default=0, help="rotate each file after this many lines")
    a = p.parse_args(argv)
    logs = [_Log(f, a.rotate, a.rotate_every) for f in a.files]
    interval = 1.0 / a.rate if a.rate > 0 else 0.0
    start = time.monotonic()
    seq = 0
    while True:
        log = logs[seq % len(logs)]
        n = seq // len(logs)
        if a.count and n >= a.count:
            break
        if a.seconds and time.monotonic() - start >= a.seconds:
            break
        head = f"{a.id} {os.path.basename(log.path)} {n:08d} {time.time_ns()} "
        line = (head + "x" * max(0, a.line_bytes - len(head) - 1) + "\n").encode()
        log.write(line, a.split_ms / 1000.0)
        seq += 1
        if interval:
            delay = start + seq * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    for log in logs:
        os.close(log.fd)


if __name__ == "__main__":
    main()
