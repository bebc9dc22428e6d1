"""A real ``redis-server`` for the tests: on a free loopback port, in a temporary folder, stopped after."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

__all__ = ["RedisServer", "free_port", "needs_redis"]

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs redis-server (.ci/run installs it)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process; ``stop()`` and ``start()`` again keep its port and folder (its AOF)."""

    def __init__(self, folder: Path, *args: str, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def url(self, stream: str, password: str | None = None) -> str:
        auth = f":{password}@" if password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{stream}"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--save", "", "--logfile", str(self.folder / "redis.log"), *self.args],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    said = (self.folder / "redis.log").read_text()
                    raise RuntimeError(f"redis-server did not start: {said}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: the AOF is flushed), as a service manager stops it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def client(self, password: str | None = None) -> redis.Redis:
        return redis.Redis(port=self.port, password=password)
