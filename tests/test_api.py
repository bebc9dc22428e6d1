"""The Python API: both faces, stopping, leaving early, and refusing to deadlock a running loop."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import tailmerge
from tailmerge import afollow, amerge, follow, merge
from tailmerge.options import Engine, Options
from tailmerge.run import make_run, run_to_end
from tailmerge.sinks.queue import LineQueue

from .conftest import verify_ok, writer


def test_the_twins_take_the_same_arguments() -> None:
    # defaults live in Options alone; the sync and async faces must not drift apart
    assert inspect.signature(follow) == inspect.signature(afollow).replace(
        return_annotation=inspect.signature(follow).return_annotation
    )
    assert inspect.signature(merge).parameters == inspect.signature(amerge).parameters


def test_follow_yields_lines_with_path_and_offset(tmp_path: Path, engine: Engine) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"one\ntwo\nthree")
    lines = list(follow([a], engine=engine, follow=False))
    assert [(ln.path, ln.data, ln.offset) for ln in lines] == [
        (str(a), b"one\n", 4), (str(a), b"two\n", 8), (str(a), b"three\n", 13),
    ]  # fmt: skip
    assert lines[0].text == "one"


def test_afollow_sees_lines_as_they_are_written(tmp_path: Path, engine: Engine) -> None:
    a = tmp_path / "a.log"
    a.touch()

    async def main() -> list[bytes]:
        got = []
        async for line in afollow([a], engine=engine, idle_timeout=1.0):
            got.append(line.data)
            if len(got) == 1:
                with a.open("ab") as f:
                    f.write(b"second\n")
        return got

    async def feed() -> None:
        await asyncio.sleep(0.2)
        with a.open("ab") as f:
            f.write(b"first\n")

    async def both() -> list[bytes]:
        feeder = asyncio.create_task(feed())
        got = await main()
        await feeder
        return got

    assert asyncio.run(both()) == [b"first\n", b"second\n"]


def test_leaving_follow_early_stops_every_thread_and_closes_files(tmp_path: Path, engine: Engine) -> None:
    files = [tmp_path / f"f{i}.log" for i in range(5)]
    for f in files:
        f.write_bytes(b"x\n" * 10)
    before = threading.active_count()
    fds_before = _open_fds()
    it = follow(files, engine=engine)
    first = next(it)
    assert first.data == b"x\n"
    it.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before, [t.name for t in threading.enumerate()]
    assert _open_fds() <= fds_before


def test_leaving_follow_early_warns_of_nothing_left_unread(
    tmp_path: Path, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # steps of 8 MiB end mid-line, and the follower is a step or two ahead of the consumer: the part line
    # after the last step read is left unread, as the consumer asked
    big = tmp_path / "big.log"
    big.write_bytes((b"x" * 999 + b"\n") * 32_000)  # 32 MB of long lines (the API makes an object a line)
    caplog.set_level(logging.INFO, logger="tailmerge")
    with contextlib.closing(follow([big], follow=False, engine=engine)) as lines:
        assert next(lines).data == b"x" * 999 + b"\n"
    unread = [r for r in caplog.records if "unfinished line not read" in r.getMessage()]
    assert unread and all(r.levelno == logging.INFO for r in unread), caplog.text


def test_lines_reach_the_consumer_a_small_step_at_a_time(tmp_path: Path, engine: Engine) -> None:
    # each line becomes an object: a step of 8 MiB of short lines made 645,000 before the first came out
    big = tmp_path / "big.log"
    big.write_bytes(b"line 0000000\n" * 1_000_000)  # 13 MB
    queue = LineQueue()
    run = make_run([str(big)], Options(engine=engine, follow=False), [queue])
    runner = threading.Thread(target=run_to_end, args=(run,))
    runner.start()
    try:
        first = queue.get()
        assert first
        taken = sum(len(line.data) for batch in first for line in batch)
        assert 0 < taken <= LineQueue.step_bytes, taken
    finally:
        queue.close()
        run.token.stop("consumer")
        runner.join(timeout=10)
    assert not runner.is_alive()


def test_stop_event_ends_a_merge(tmp_path: Path, engine: Engine) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"1\n2\n")
    out = tmp_path / "out.log"
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    stats = merge([a], out, engine=engine, stop_event=stop)
    assert 0.4 < time.monotonic() - started < 2.0
    assert out.read_bytes() == b"1\n2\n" and stats.sources == 1
    assert stats.bytes == 4 and stats.per_source == {str(a): 4}


def test_amerge_with_asyncio_stop_event(tmp_path: Path, engine: Engine) -> None:
    files = [tmp_path / f"f{i}.log" for i in range(3)]
    for f in files:
        f.touch()
    out = tmp_path / "out.log"

    async def main() -> tailmerge.MergeStats:
        stop = asyncio.Event()
        proc = writer(files, "--rate", "300", "--count", "30")
        task = asyncio.create_task(amerge(files, out, engine=engine, stop_event=stop))
        await asyncio.to_thread(proc.wait)
        await asyncio.sleep(0.5)
        stop.set()
        return await asyncio.wait_for(task, 5)

    stats = asyncio.run(main())
    assert stats.bytes == sum(f.stat().st_size for f in files) > 0
    verify_ok(files, out)


@pytest.mark.parametrize("call", ["follow", "merge"])
def test_a_sync_call_inside_a_running_loop_raises(tmp_path: Path, call: str) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"x\n")

    async def main() -> None:
        with pytest.raises(RuntimeError, match=f"a{call}"):
            if call == "follow":
                follow([a])
            else:
                merge([a], tmp_path / "out.log")

    asyncio.run(asyncio.wait_for(main(), 5))


def test_sync_iterator_survives_a_slow_consumer(tmp_path: Path) -> None:
    """Backpressure: a consumer slower than the writer still gets every line, in order."""
    a = tmp_path / "a.log"
    a.write_bytes(b"".join(b"%d\n" % i for i in range(20_000)))
    got = [int(line.data) for line in follow([a], follow=False)]
    assert got == list(range(20_000))


def _open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


def test_labels_are_coloured_on_request_and_plain_in_a_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one, two = tmp_path / "a" / "x.log", tmp_path / "b" / "x.log"
    one.write_bytes(b"1\n")
    two.write_bytes(b"2\n")
    plain, coloured = tmp_path / "plain.out", tmp_path / "colour.out"
    merge([one, two], plain, format="labeled", follow=False)
    merge([one, two], coloured, format="labeled", follow=False, colour=True)
    assert sorted(plain.read_bytes().splitlines()) == [b"a/x.log | 1", b"b/x.log | 2"]
    lines = sorted(coloured.read_bytes().splitlines())
    assert lines[0].startswith(b"\x1b[") and b"a/x.log\x1b[0m | 1" in lines[0]
    assert lines[0][:5] != lines[1][:5]  # a colour per source


def test_a_single_path_instead_of_a_list_is_refused(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"x\n")
    for wrong in (str(a), a):
        with pytest.raises(TypeError, match="list of paths"):
            merge(wrong, tmp_path / "out.log", follow=False)  # type: ignore[arg-type]


def test_the_mixed_engine_crosses_to_the_loop_once_per_followed_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a leg that reads a line and then waits sends the line with its end: one crossing from a worker to the
    # loop per line, not two (each costs 150-200 µs of CPU here)
    crossings = 0
    cross = asyncio.BaseEventLoop.call_soon_threadsafe

    def counted(loop: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> Any:
        nonlocal crossings
        if threading.current_thread().name == "tailmerge worker":
            crossings += 1
        return cross(loop, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "call_soon_threadsafe", counted)
    log = tmp_path / "a.log"
    log.write_bytes(b"")
    lines = follow([log], engine="mixed")
    with log.open("ab", buffering=0) as f:
        f.write(b"first\n")
        assert next(lines).text == "first"
        before = crossings
        for i in range(40):  # each line read alone: written once the one before it came out
            f.write(b"line %d\n" % i)
            assert next(lines).text == f"line {i}"
    lines.close()
    assert 40 <= crossings - before <= 44
