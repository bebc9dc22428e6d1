"""Stopping, for real: every entry point gives back its threads and descriptors however it ends; Ctrl-C,
SIGTERM and a reader that goes away end real processes quickly and cleanly."""

from __future__ import annotations

import array
import asyncio
import fcntl
import os
import re
import signal
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import tailmerge
from tailmerge import afollow, amerge, follow, merge
from tailmerge.options import Engine

from .conftest import PY, assert_no_traceback, file_lines, wait_for

F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
LINES = [b"line %02d\n" % i for i in range(20)]


@contextmanager
def reaped(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    """Whatever happens, no process outlives the test and no pipe to one stays open."""
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _threads(*, loop_workers: bool = True) -> int:
    """Live threads; without the event loop's default executor workers (they idle until the loop closes)."""
    return sum(1 for t in threading.enumerate() if loop_workers or not t.name.startswith("asyncio_"))


def _back_to(threads: int, fds: int, what: str) -> None:
    try:
        wait_for(lambda: _threads() <= threads and _fds() <= fds, timeout=1.0, what=what)
    except AssertionError:
        names = [t.name for t in threading.enumerate()]
        raise AssertionError(
            f"{what}: threads {_threads()} (was {threads}) {names}, fds {_fds()} (was {fds})"
        ) from None


async def _aback_to(threads: int, fds: int, what: str) -> None:
    deadline = time.monotonic() + 1.0
    while _threads(loop_workers=False) > threads or _fds() > fds:
        if time.monotonic() > deadline:
            names = [t.name for t in threading.enumerate()]
            raise AssertionError(f"{what}: threads {names} (were {threads}), fds {_fds()} (were {fds})")
        await asyncio.sleep(0.01)


# -- every entry point, every way of ending: nothing left behind --------------------------------------

SCENARIOS = {
    "merge": ["done", "directory", "bad_option", "bad_output", "stop_event"],
    "amerge": ["done", "directory", "bad_option", "bad_output", "stop_event", "cancel"],
    "follow": ["done", "directory", "bad_option", "stop_event", "break", "close"],
    "afollow": ["done", "directory", "bad_option", "stop_event", "break", "close"],
}
CASES = [(entry, scenario) for entry, scenarios in SCENARIOS.items() for scenario in scenarios]


@pytest.fixture
def src(tmp_path: Path) -> Path:
    a = tmp_path / "a.log"
    a.write_bytes(b"".join(LINES))
    (tmp_path / "a-directory").mkdir()
    return a


def _args(src: Path, scenario: str) -> tuple[list[Path], dict[str, Any]]:
    """The paths and options of a scenario; each one ends by itself, or is ended by the test."""
    if scenario == "done":
        return [src], {"follow": False}
    if scenario == "directory":
        # followed: the directory is waited on, until the run is idle
        return [src, src.parent / "a-directory"], {"idle_timeout": 0.3}
    if scenario == "bad_option":
        return [src], {"poll_interval": -1}
    return [src], {}  # follow until stopped


def _merge_expect(scenario: str) -> type[BaseException] | None:
    return {"bad_option": ValueError, "bad_output": tailmerge.OutputError}.get(scenario)


@pytest.mark.parametrize(("entry", "scenario"), CASES)
def test_nothing_is_left_behind(src: Path, engine: Engine, entry: str, scenario: str) -> None:
    paths, opts = _args(src, scenario)
    out = src.parent / ("missing" if scenario == "bad_output" else ".") / "out.log"
    if entry in ("amerge", "afollow"):
        threads, fds = _threads(), _fds()
        runner = _amerge if entry == "amerge" else _afollow
        asyncio.run(asyncio.wait_for(runner(paths, out, engine, scenario, opts), 20))
        _back_to(threads, fds, f"{entry} {scenario} (after asyncio.run)")
        return
    threads, fds = _threads(), _fds()
    if entry == "merge":
        _merge(paths, out, engine, scenario, opts)
    else:
        _follow(paths, engine, scenario, opts)
    _back_to(threads, fds, f"{entry} {scenario}")


def _merge(paths: list[Path], out: Path, engine: Engine, scenario: str, opts: dict[str, Any]) -> None:
    expected = _merge_expect(scenario)
    stop = threading.Event()

    def three_lines_then_stop() -> None:
        wait_for(lambda: len(file_lines(out)) >= 3, what="three lines")
        stop.set()

    setter = threading.Thread(target=three_lines_then_stop)
    if scenario == "stop_event":
        setter.start()
    if expected is not None:
        with pytest.raises(expected):
            merge(paths, out, engine=engine, stop_event=stop, **opts)
        return
    stats = merge(paths, out, engine=engine, stop_event=stop, **opts)
    if scenario == "stop_event":
        setter.join()
    assert out.read_bytes() == b"".join(LINES) and stats.bytes == len(b"".join(LINES))


def _follow(paths: list[Path], engine: Engine, scenario: str, opts: dict[str, Any]) -> None:
    stop = threading.Event()
    got: list[bytes] = []
    if scenario == "bad_option":
        with pytest.raises(ValueError, match="poll_interval"):
            follow(paths, engine=engine, **opts)
        return
    if scenario == "close":
        it = follow(paths, engine=engine, **opts)
        got = [next(it).data for _ in range(3)]
        it.close()
        assert got == LINES[:3]
        return
    for line in follow(paths, engine=engine, stop_event=stop, **opts):
        got.append(line.data)
        if len(got) == 3 and scenario == "break":
            break
        if len(got) == 3 and scenario == "stop_event":
            stop.set()  # the loop goes on; follow() itself must end
    assert got == (LINES if scenario in ("done", "directory") else LINES[:3])


async def _amerge(paths: list[Path], out: Path, engine: Engine, scenario: str, opts: dict[str, Any]) -> None:
    threads, fds = _threads(loop_workers=False), _fds()
    expected = _merge_expect(scenario)
    stop = asyncio.Event()

    async def three_lines_then(action: Callable[[], object]) -> None:
        await asyncio.to_thread(wait_for, lambda: len(file_lines(out)) >= 3, what="three lines")
        action()

    if expected is not None:
        with pytest.raises(expected):
            await amerge(paths, out, engine=engine, stop_event=stop, **opts)
    elif scenario in ("stop_event", "cancel"):
        task = asyncio.create_task(amerge(paths, out, engine=engine, stop_event=stop, **opts))
        await three_lines_then(stop.set if scenario == "stop_event" else task.cancel)
        if scenario == "cancel":
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            await task
        assert await asyncio.to_thread(out.read_bytes) == b"".join(LINES)
    else:
        await amerge(paths, out, engine=engine, stop_event=stop, **opts)
        assert await asyncio.to_thread(out.read_bytes) == b"".join(LINES)
    await _aback_to(threads, fds, f"amerge {scenario}")


async def _afollow(paths: list[Path], out: Path, engine: Engine, scenario: str, opts: dict[str, Any]) -> None:
    threads, fds = _threads(loop_workers=False), _fds()
    stop = asyncio.Event()
    got: list[bytes] = []
    if scenario == "bad_option":
        with pytest.raises(ValueError, match="poll_interval"):
            async for _ in afollow(paths, engine=engine, **opts):
                pass
    elif scenario == "close":
        lines = afollow(paths, engine=engine, **opts)
        got = [(await anext(lines)).data for _ in range(3)]
        await lines.aclose()
        assert got == LINES[:3]
    else:
        async for line in afollow(paths, engine=engine, stop_event=stop, **opts):
            got.append(line.data)
            if len(got) == 3 and scenario == "break":
                break
            if len(got) == 3 and scenario == "stop_event":
                stop.set()
        assert got == (LINES if scenario in ("done", "directory") else LINES[:3])
    await _aback_to(threads, fds, f"afollow {scenario}")


# -- Ctrl-C in a program that uses the API ------------------------------------------------------------

CHILD = """
import os, signal, sys, threading, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal, whatever the test runner set
import tailmerge
mode, engine, src, out, taker = sys.argv[1:]

def take_it():  # the kernel may give a process-directed signal to any thread: here, not the main one
    while not (os.path.exists(out) and os.path.getsize(out)):  # running: the handler is in place
        time.sleep(0.01)
    time.sleep(0.2)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)

if taker == "thread":
    threading.Thread(target=take_it, daemon=True).start()
if mode == "merge":
    tailmerge.merge([src], out, engine=engine)
else:
    for line in tailmerge.follow([src], engine=engine):
        with open(out, "ab") as f:
            f.write(line.data)
"""


@pytest.mark.parametrize("taker", ["main", "thread"])
@pytest.mark.parametrize("mode", ["merge", "follow"])
def test_ctrl_c_ends_a_program_with_a_plain_keyboard_interrupt(
    tmp_path: Path, engine: Engine, mode: str, taker: str
) -> None:
    # taker: which thread takes the signal; the main thread may sleep on a lock that nothing else releases
    src, out = tmp_path / "a.log", tmp_path / "out.log"
    src.write_bytes(b"hello\n")
    child = subprocess.Popen([PY, "-c", CHILD, mode, engine, str(src), str(out), taker], stderr=subprocess.PIPE)
    with reaped(child):
        wait_for(lambda: file_lines(out) == [b"hello\n"], what="the first line")  # it runs, and delivers
        started = time.monotonic()
        if taker == "main":
            child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=5)
    elapsed = time.monotonic() - started
    text = err.decode()
    assert elapsed < 2.0, (elapsed, text)
    assert text.startswith("Traceback") and text.rstrip("\n").splitlines()[-1] == "KeyboardInterrupt", text
    for noise in ("During handling of the above exception", "Task was destroyed", "RuntimeError", "Exception ignored"):
        assert noise not in text, text
    assert child.returncode in (-signal.SIGINT, 130)


# -- a stop_event set inside the loop ends it at that very line ---------------------------------------


def test_stop_event_set_in_a_follow_loop_ends_it_after_that_line(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "a.log"
    src.write_bytes(b"".join(b"%d\n" % i for i in range(100)))  # one read, one batch of 100 lines
    stop = threading.Event()
    got: list[bytes] = []
    # idle_timeout only keeps a broken stop from hanging the test
    for line in follow([src], engine=engine, stop_event=stop, idle_timeout=3):
        got.append(line.data)
        if len(got) == 5:
            stop.set()
    assert got == [b"0\n", b"1\n", b"2\n", b"3\n", b"4\n"]


def test_stop_event_set_in_an_afollow_loop_ends_it_after_that_line(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "a.log"
    src.write_bytes(b"".join(b"%d\n" % i for i in range(100)))

    async def main() -> list[bytes]:
        stop = asyncio.Event()
        got: list[bytes] = []
        async for line in afollow([src], engine=engine, stop_event=stop, idle_timeout=3):
            got.append(line.data)
            if len(got) == 5:
                stop.set()
        return got

    assert asyncio.run(main()) == [b"0\n", b"1\n", b"2\n", b"3\n", b"4\n"]


# -- the command line ---------------------------------------------------------------------------------


def _pipeline(
    args: list[str], reader: list[str], reader_out: int = subprocess.PIPE
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """``tailmerge ARGS | READER``, as a shell builds it: two processes and one pipe between them."""
    r, w = os.pipe()
    try:
        merger = subprocess.Popen([PY, "-m", "tailmerge", *args], stdout=w, stderr=subprocess.PIPE)
        downstream = subprocess.Popen(reader, stdin=r, stdout=reader_out)
    finally:
        os.close(r)
        os.close(w)
    return merger, downstream


def _in_pipe(fd: int) -> int:
    """Bytes waiting in the pipe whose read end is ``fd``."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


LINE = b"%s\n" % (b"z" * 99)


def _stalled_then_terminated(tmp_path: Path, engine: Engine) -> tuple[int, bytes, float, int]:
    """``tailmerge follow big.log | sleep 5``; SIGTERM once the pipe is full. Returns the exit status,
    stderr, how long the exit took, and how many bytes the pipe held (written, never read)."""
    big = tmp_path / "big.log"
    big.write_bytes(LINE * 200_000)  # 20 MB: far more than the pipe and the write-ahead hold
    r, w = os.pipe()
    try:
        merger = subprocess.Popen([PY, "-m", "tailmerge", "follow", str(big), "--engine", engine],
                                  stdout=w, stderr=subprocess.PIPE)  # fmt: skip
        sleeper = subprocess.Popen(["sleep", "5"], stdin=r, stdout=subprocess.DEVNULL)
        os.close(w)
        with reaped(merger, sleeper):
            # the reader never reads (this test only looks at how full the pipe is): once the pipe is full
            # the writer thread is stuck in a write
            wait_for(lambda: _in_pipe(r) >= fcntl.fcntl(r, F_GETPIPE_SZ), what="a full pipe")
            time.sleep(0.3)  # let the reading side fill the write-ahead behind it too
            started = time.monotonic()
            merger.send_signal(signal.SIGTERM)
            _, err = merger.communicate(timeout=5)
            elapsed = time.monotonic() - started
        return merger.returncode, err, elapsed, _in_pipe(r)
    finally:
        os.close(r)


def test_sigterm_with_a_stalled_reader_exits_at_once_and_says_what_was_not_written(
    tmp_path: Path, engine: Engine
) -> None:
    status, err, elapsed, _ = _stalled_then_terminated(tmp_path, engine)
    assert elapsed < 1.5, err.decode()
    assert status == 1, err.decode()
    # a follower thread reads on only once its batch is written, so the threads engine may stop with the file
    # read part way: the line it was in the middle of is named (never written in part)
    unfinished = rb"(tailmerge: \S+big\.log: \d+ bytes of an unfinished line not read\n)?"
    not_written = rb"tailmerge: standard output: \d+ bytes not written \(its reader stopped reading\)\n"
    assert re.fullmatch(unfinished + not_written, err), err
    assert_no_traceback(err)


def test_the_bytes_not_written_are_counted_exactly(tmp_path: Path) -> None:
    status, err, _, in_pipe = _stalled_then_terminated(tmp_path, "asyncio")
    found = re.search(rb"(\d+) bytes not written", err)
    assert status == 1 and found is not None, err.decode()
    unwritten = int(found[1])
    # tailmerge took whole lines from the file: what reached the pipe and what it says it could not write
    # add up to whole lines (the pipe holds bytes of a write that never returned: they were written)
    assert (in_pipe + unwritten) % len(LINE) == 0, f"{unwritten} not written, {in_pipe} in the pipe"


WRITER = """
import sys, time
with open(sys.argv[1], "ab", buffering=0) as f:
    f.write(b"complete\\n")
    f.write(b"partial")
    time.sleep(30)
"""


def test_sigterm_while_a_line_is_half_written_leaves_it_out_and_names_it(tmp_path: Path, engine: Engine) -> None:
    src, out = tmp_path / "app.log", tmp_path / "out.log"
    src.touch()
    merger = subprocess.Popen(
        [PY, "-m", "tailmerge", "follow", str(src), "-o", str(out), "--engine", engine], stderr=subprocess.PIPE
    )
    writing = subprocess.Popen([PY, "-c", WRITER, str(src)])
    with reaped(merger, writing):
        wait_for(lambda: src.stat().st_size == len(b"complete\npartial"), what="the half line")
        wait_for(lambda: file_lines(out) == [b"complete\n"], what="the complete line")
        merger.send_signal(signal.SIGTERM)
        _, err = merger.communicate(timeout=5)
    assert out.read_bytes() == b"complete\n"  # no half line, not even with a newline added
    assert f"{src}: 7 bytes of an unfinished line not read".encode() in err, err.decode()
    assert merger.returncode == 0, err.decode()
    assert_no_traceback(err)


def test_a_reader_that_leaves_ends_the_pipeline(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "a.log"
    src.write_bytes(b"only line\n")  # and then nothing more: only the reader's leaving can end it
    merger, head = _pipeline(["follow", str(src), "--engine", engine], ["head", "-1"])
    with reaped(merger, head):
        shown, _ = head.communicate(timeout=5)
        left = time.monotonic()  # the reader has gone: from here, not from a start a loaded machine slows
        _, err = merger.communicate(timeout=5)
        elapsed = time.monotonic() - left
    assert shown == b"only line\n"
    assert elapsed < 1.0, err.decode()
    assert merger.returncode in (141, 0), err.decode()
    assert_no_traceback(err)
    assert err == b"", err.decode()


# -- many files on the blocking engines: a thread per busy file, not per file ------------------------


@pytest.mark.parametrize("engine", ["threads", "mixed"])
def test_many_files_on_the_blocking_engines_hold_a_few_threads_and_stop_at_once(tmp_path: Path, engine: str) -> None:
    files = 1500
    folder = tmp_path / "logs"
    folder.mkdir()
    paths = [folder / f"f{i:04d}.log" for i in range(files)]
    for i, p in enumerate(paths):
        p.write_bytes(b"first %d\n" % i)
    out = tmp_path / "out.log"
    argv = [PY, "-m", "tailmerge", "follow", f"{folder}/*.log", "--engine", engine, "-o", str(out)]
    merger = subprocess.Popen(argv, stderr=subprocess.PIPE)
    with reaped(merger):
        wait_for(lambda: len(file_lines(out)) >= files, timeout=60, what="every file's first line")
        threads = int(Path(f"/proc/{merger.pid}/status").read_text().split("Threads:")[1].split()[0])
        assert threads < 30, threads  # idle followers hold no thread (the workers, the waker, the writer)
        for i, p in enumerate(paths[::15]):  # files written while followed: each woken, read on a worker
            with p.open("ab") as f:
                f.write(b"second %d\n" % i)
        wait_for(lambda: len(file_lines(out)) >= files + 100, timeout=30, what="the lines written later")
        signalled = time.monotonic()
        merger.send_signal(signal.SIGTERM)
        _, stderr = merger.communicate(timeout=30)
        took = time.monotonic() - signalled
    assert merger.returncode == 0 and took < 5.0, (merger.returncode, took)  # under 0.2 s here; the suite loads
    assert_no_traceback(stderr)
    lines = file_lines(out)
    expected = [b"first %d\n" % i for i in range(files)] + [b"second %d\n" % i for i in range(100)]
    assert sorted(lines) == sorted(expected)  # none lost, split, glued or doubled
