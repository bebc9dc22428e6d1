"""Shared helpers: real writer processes, the real CLI in a subprocess, line checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, cast

import pytest
from hypothesis import settings

from tailmerge import ENGINES
from tailmerge.options import Engine

from .sse import Stream

PY = sys.executable

# no per-example deadline: on a loaded 2-core machine an example's time says nothing about the code
settings.register_profile("tailmerge", deadline=None)
settings.load_profile("tailmerge")

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: mounts a tmpfs, drops capabilities or runs as another user"
)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Engine:
    return cast(Engine, request.param)


_started: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """A test that fails half way leaves no writer or merger of its own running into the tests after it
    (where it would be reported as their unclosed file or running subprocess)."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def writer(files: Sequence[Path], *args: str) -> subprocess.Popen[bytes]:
    """Start a real writer process appending self-identifying lines to ``files``."""
    _started.append(proc := subprocess.Popen([PY, "-m", "tailmerge._writer", *args, *map(str, files)]))
    return proc


def tailmerge(
    *args: str,
    stdout: int | IO[bytes] = subprocess.PIPE,
    stderr: int | IO[bytes] = subprocess.PIPE,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start the real command line in its own process (``preexec_fn``: run in the child first, to set a
    limit)."""
    argv = [PY, "-m", "tailmerge", *args]
    _started.append(proc := subprocess.Popen(argv, stdout=stdout, stderr=stderr, preexec_fn=preexec_fn))
    return proc


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([PY, "-m", "tailmerge", *args], capture_output=True, timeout=timeout)


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def file_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


def verify_ok(inputs: Sequence[Path], merged: Path, fmt: str = "raw") -> None:
    res = run_cli("verify", *map(str, inputs), "--merged", str(merged), "--format", fmt)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Callable[[int], list[Path]]]:
    def make(n: int) -> list[Path]:
        paths = [tmp_path / f"in{i}.log" for i in range(n)]
        for p in paths:
            p.touch()
        return paths

    yield make


def assert_no_traceback(stderr: bytes) -> None:
    assert b"Traceback" not in stderr, stderr.decode()


os.environ.setdefault("PYTHONUNBUFFERED", "1")


# -- tailmerge serve ------------------------------------------------------------------------------


class Served:
    """A ``tailmerge serve`` (or ``follow --serve``) process, the URL it printed, and the streams opened."""

    def __init__(self, *args: str, cwd: Path, url_on: str = "stdout") -> None:
        self.proc = subprocess.Popen(
            [PY, "-m", "tailmerge", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stream = self.proc.stdout if url_on == "stdout" else self.proc.stderr
        assert stream is not None
        line = stream.readline().decode()
        assert "http://" in line, (line, self.stop())
        self.url = line[line.index("http://") :].strip()
        self.base = self.url.split("?")[0].rstrip("/")
        self.streams: list[Stream] = []

    def stream(self, last_id: str | None = None, rcvbuf: int | None = None) -> Stream:
        opened = Stream(self.url, last_id=last_id, rcvbuf=rcvbuf)
        self.streams.append(opened)
        return opened

    def stop(self) -> bytes:
        for opened in self.streams:
            opened.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


Serve = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start one: ``serve(*args, url_on="stdout")``; every one started is stopped after the test."""
    started: list[Served] = []

    def start(*args: str, url_on: str = "stdout") -> Served:
        served = Served(*args, cwd=tmp_path, url_on=url_on)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()
