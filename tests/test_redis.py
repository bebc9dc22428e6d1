"""Redis Streams: shipping lines exactly once (``-o redis://...``), against a real ``redis-server``."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from tailmerge import ENGINES
from tailmerge import merge as tailmerge_merge
from tailmerge.cli import cli

from .conftest import PY, run_cli, tailmerge, verify_ok, wait_for, writer
from .redisd import RedisServer, needs_redis

pytestmark = needs_redis


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield srv
    srv.stop()


@pytest.fixture
def stream(request: pytest.FixtureRequest) -> str:
    return f"s-{request.node.name}"


def entries(client: redis.Redis, stream: str) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))]


def by_path(client: redis.Redis, stream: str) -> dict[str, list[bytes]]:
    """Each file's lines as the stream holds them, in stream order."""
    out: dict[str, list[bytes]] = {}
    for fields in entries(client, stream):
        out.setdefault(fields[b"path"].decode(), []).append(fields[b"line"])
    return out


def assert_exactly_once(client: redis.Redis, stream: str, files: list[Path]) -> None:
    shipped = by_path(client, stream)
    for f in files:
        want = f.read_bytes().splitlines(keepends=True)
        got = shipped.get(str(f), [])
        if got != want:
            seen = set(got)
            missing = [line for line in want if line not in seen]
            doubled = len(got) - len(set(got))
            raise AssertionError(
                f"{f.name}: {len(want)} lines written, {len(got)} in the stream; {len(missing)} missing "
                f"(first {missing[:1]}), {doubled} doubled, in order: {got == sorted(got, key=want.index)}"
            )


@pytest.mark.parametrize("engine", ENGINES)
def test_lines_are_shipped_exact_and_a_second_run_ships_only_what_is_new(
    server: RedisServer, stream: str, tmp_path: Path, engine: str
) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"plain\r\ncrlf\r\n\xff\xfe not utf-8\n\x00nul\n")
    b.write_bytes(b"one\n")
    url = server.url(stream)
    res = run_cli("follow", "--engine", engine, "--no-follow", str(a), str(b), "-o", url, "--host-name", "web1")
    assert res.returncode == 0, res.stderr.decode()
    client = server.client()
    assert_exactly_once(client, stream, [a, b])
    first = next(e for e in entries(client, stream) if e[b"path"] == str(a).encode())
    assert first[b"host"] == b"web1" and first[b"file"] == f"{a.stat().st_dev}:{a.stat().st_ino}".encode()
    assert [int(e[b"offset"]) for e in entries(client, stream) if e[b"path"] == str(a).encode()] == [7, 13, 26, 31]
    # again, with more lines and a file that is new: only those are shipped
    with a.open("ab") as f:
        f.write(b"later\n")
    c = tmp_path / "c.log"
    c.write_bytes(b"new file\n")
    res = run_cli("follow", "--engine", engine, "--no-follow", str(a), str(b), str(c), "-o", url, "--host-name", "web1")
    assert res.returncode == 0, res.stderr.decode()
    assert_exactly_once(client, stream, [a, b, c])
    # another host name has positions of its own: it ships everything again, under its name
    res = run_cli("follow", "--engine", engine, "--no-follow", str(b), "-o", url, "--host-name", "web2")
    assert res.returncode == 0, res.stderr.decode()
    assert [e[b"host"] for e in entries(client, stream) if e[b"path"] == str(b).encode()] == [b"web1", b"web2"]


def test_maxlen_trims_the_stream_to_about_n_entries(server: RedisServer, stream: str, tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"".join(b"line %d\n" % i for i in range(5000)))
    res = run_cli("follow", "--no-follow", str(a), "-o", server.url(stream), "--maxlen", "1000")
    assert res.returncode == 0, res.stderr.decode()
    n = server.client().xlen(stream)
    assert 1000 <= n < 2000  # approximate trimming: whole macro nodes go
    assert entries(server.client(), stream)[-1][b"line"] == b"line 4999\n"


def test_bad_addresses_and_servers_are_named_with_the_exit_codes_of_files(
    server: RedisServer, stream: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"x\n")
    server.client().set(f"{stream}-str", "a string")
    for args, code, said in [
        ((f"redis://127.0.0.1:{server.port}",), 2, "no stream name"),
        (("redis://127.0.0.1:99999/s",), 2, "port"),
        ((f"redis://127.0.0.1:{server.port}/s?db=x",), 2, "db must be a number"),
        ((server.url(stream), "--state", str(tmp_path / "st")), 2, "positions in Redis"),
        (("redis://127.0.0.1:1/s",), 1, "cannot reach redis://127.0.0.1:1"),
        ((server.url(f"{stream}-str"),), 1, "holds a string, not a stream"),
    ]:
        assert cli("follow", "--no-follow", str(a), "-o", *args) == code, args  # in this process: fast
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, (args, err)
        assert ("usage:" in err) == (code == 2), err
    # the same addresses read as inputs
    server.client().xadd(f"{stream}-alien", {"msg": "not ours"})
    for args, code, said in [
        ((f"redis://127.0.0.1:{server.port}",), 2, "no stream name"),
        (("redis://127.0.0.1:1/s",), 1, "cannot reach redis://127.0.0.1:1"),
        ((server.url(f"{stream}-str"),), 1, "holds a string, not a stream"),
        ((server.url(f"{stream}-alien"),), 1, "is not a tailmerge line (no host, path, file, offset, line field)"),
        ((str(a), "--group", "g"), 2, "--group and --consumer are for reading redis:// streams"),
        ((server.url(stream), "--consumer", "c"), 2, "give --group too"),
    ]:
        assert cli("follow", "--no-follow", *args, "-o", str(tmp_path / "out")) == code, args
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, (args, err)
        assert ("usage:" in err) == (code == 2), err
    assert cli("follow", "--no-follow", str(a), "-o", server.url(stream), "--host-name", " ") == 2
    assert "--host-name must not be empty" in capsys.readouterr().err


def test_a_wrong_password_is_said_and_the_right_one_works_from_the_url_or_rediscli_auth(tmp_path: Path) -> None:
    srv = RedisServer(tmp_path / "redis", "--requirepass", "sesame").start()
    try:
        a = tmp_path / "a.log"
        a.write_bytes(b"x\n")
        res = run_cli("follow", "--no-follow", str(a), "-o", srv.url("s", "wrong"))
        assert res.returncode == 1 and "authentication failed" in res.stderr.decode(), res.stderr.decode()
        assert "wrong" not in res.stderr.decode().replace("wrong password", "")  # the password is never shown
        res = run_cli("follow", "--no-follow", str(a), "-o", srv.url("s"))
        assert res.returncode == 1 and "authentication" in res.stderr.decode().lower(), res.stderr.decode()
        res = run_cli("follow", "--no-follow", str(a), "-o", srv.url("s", "sesame"))
        assert res.returncode == 0, res.stderr.decode()
        env = {**os.environ, "REDISCLI_AUTH": "sesame"}
        b = tmp_path / "b.log"
        b.write_bytes(b"y\n")
        done = subprocess.run(
            [PY, "-m", "tailmerge", "follow", "--no-follow", str(b), "-o", srv.url("s")], capture_output=True, env=env
        )
        assert done.returncode == 0, done.stderr.decode()
        assert srv.client("sesame").xlen("s") == 2
    finally:
        srv.stop()


def _shipper(files: list[Path], url: str, engine: str, *extra: str, quiet: bool = False) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PY, "-m", "tailmerge", "follow", "--engine", engine, *map(str, files), "-o", url, "--host-name", "h", *extra],
        stderr=subprocess.DEVNULL if quiet else subprocess.PIPE,
    )


@pytest.mark.timeout(180)  # 20 starts of a shipper (redis-py is imported in each) on a loaded machine
def test_shipper_killed_with_sigkill_twenty_times_loses_and_doubles_nothing(
    server: RedisServer, stream: str, tmp_path: Path
) -> None:
    files = [tmp_path / f"w{i}.log" for i in range(4)]
    for f in files:
        f.touch()
    writers = [writer([f], "--rate", "1000", "--seconds", "60") for f in files]
    client = server.client()
    rng = random.Random(12)
    grew = 0
    try:
        for kill in range(20):
            before = client.xlen(stream)
            shipper = _shipper(files, server.url(stream), ENGINES[kill % len(ENGINES)], quiet=True)
            # starting takes 0.5-2 s on a busy machine: killed once it ships, at a random moment after
            deadline = time.monotonic() + 15
            while client.xlen(stream) == before and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
            shipper.send_signal(signal.SIGKILL)
            shipper.wait()
            grew += client.xlen(stream) > before
    finally:
        for w in writers:
            w.terminate()  # each line is one write: a writer ends between lines
            w.wait()
    assert grew == 20, f"only {grew} of 20 shippers shipped anything before they were killed"
    last = _shipper(files, server.url(stream), "asyncio", "--idle-exit", "1")
    _, err = last.communicate(timeout=60)
    assert last.returncode == 0, err.decode()
    assert_exactly_once(client, stream, files)
    assert all(len(f.read_bytes().splitlines()) > 5000 for f in files)
    # and as a user checks it: a reader's output of the stream, verified against the files
    merged = tmp_path / "merged.log"
    res = run_cli("follow", "--no-follow", server.url(stream), "-o", str(merged))
    assert res.returncode == 0, res.stderr.decode()
    verify_ok(files, merged)


def test_a_server_stopped_and_started_mid_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    srv = RedisServer(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always").start()
    try:
        files = [tmp_path / f"w{i}.log" for i in range(2)]
        for f in files:
            f.touch()
        writers = [writer([f], "--rate", "500", "--seconds", "5") for f in files]
        shipper = _shipper(files, srv.url("s"), "asyncio", "--idle-exit", "1.5")
        client = srv.client()
        deadline = time.monotonic() + 10
        while client.xlen("s") < 500 and time.monotonic() < deadline:
            time.sleep(0.05)
        srv.stop()
        time.sleep(1.5)  # the writers go on; the shipper keeps what it reads, then waits
        srv.start()
        for w in writers:
            w.wait()
        _, err = shipper.communicate(timeout=60)
        assert shipper.returncode == 0, err.decode()
        said = err.decode()
        assert said.count("waiting for it") == 1 and "back after" in said, said
        assert_exactly_once(srv.client(), "s", files)
    finally:
        srv.stop()


@pytest.mark.parametrize("engine", ["threads", "asyncio"])
def test_ctrl_c_while_an_ended_run_waits_for_an_absent_server_gives_up(tmp_path: Path, engine: str) -> None:
    # the run ends by itself (idle) with a line not shipped: nothing but a signal ends the wait for the server
    srv = RedisServer(tmp_path / "redis").start()
    try:
        log = tmp_path / "a.log"
        log.write_bytes(b"first\n")
        shipper = _shipper([log], srv.url("s"), engine, "--idle-exit", "1")
        client = srv.client()
        wait_for(lambda: client.xlen("s") == 1, what="the first line shipped")
        srv.stop()
        with log.open("ab") as f:
            f.write(b"second\n")
        time.sleep(2.5)  # idle after a second: the run has ended, its last line waits for the server
        assert shipper.poll() is None
        shipper.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, err = shipper.communicate(timeout=15)
        assert time.monotonic() - started < 3.0, err.decode()
        assert shipper.returncode == 1 and b"not shipped" in err, err.decode()
    finally:
        srv.stop()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_reader_follows_a_stream_merged_with_a_file_labelled_by_host_and_path(
    server: RedisServer, stream: str, tmp_path: Path, engine: str
) -> None:
    shipped, local = tmp_path / "shipped.log", tmp_path / "local.log"
    shipped.write_bytes(b"first\n")
    local.write_bytes(b"here\n")
    out = tmp_path / "out"
    reader = tailmerge(
        "follow", "--engine", engine, "--format", "labeled", server.url(stream), str(local), "-o", str(out)
    )
    try:
        res = run_cli("follow", "--no-follow", str(shipped), "-o", server.url(stream), "--host-name", "web1")
        assert res.returncode == 0, res.stderr.decode()
        with shipped.open("ab") as f:
            f.write(b"second\n")
        res = run_cli("follow", "--no-follow", str(shipped), "-o", server.url(stream), "--host-name", "web1")
        assert res.returncode == 0, res.stderr.decode()
        wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") == 3, what="the reader's lines")
    finally:
        reader.send_signal(signal.SIGTERM)
        _, err = reader.communicate(timeout=20)
    assert reader.returncode == 0, err.decode()
    rows = [[part.strip() for part in line.split(" | ")] for line in out.read_bytes().decode().splitlines()]
    # labels as for files: the shortest that tells the sources apart (the host shows when paths clash)
    assert [row for row in rows if row[0] == "shipped.log"] == [["shipped.log", "first"], ["shipped.log", "second"]]
    assert ["local.log", "here"] in rows


def test_a_reader_reads_no_further_ahead_than_the_merge_takes(
    server: RedisServer, stream: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tailmerge.sources import stream as stream_module
    from tailmerge.streams.address import parse_address
    from tailmerge.watch import Watcher

    shipped = tmp_path / "shipped.log"
    shipped.write_bytes(b"".join(b"line %05d %s\n" % (i, b"x" * 80) for i in range(5000)))  # 5,000 x 92 bytes
    res = run_cli("follow", "--no-follow", str(shipped), "-o", server.url(stream), "--host-name", "web1")
    assert res.returncode == 0, res.stderr.decode()
    monkeypatch.setattr(stream_module, "READ_AHEAD", 10_000)
    source = stream_module.StreamSource(parse_address(server.url(stream)), follow=False)
    woken = threading.Event()
    source.watch(Watcher(), woken)
    try:
        wait_for(lambda: source.entries > 0, what="the first read")
        time.sleep(0.5)  # unbounded, the reader would have read all 5,000 by now
        assert source.entries <= stream_module.READ_COUNT + 200, source.entries  # one read past the bound
        got = 0
        deadline = time.monotonic() + 20
        while not source.ended and time.monotonic() < deadline:  # the merge takes: the reader goes on
            got += sum(c.data.count(b"\n") for c in source.step())
            woken.wait(0.5)
            woken.clear()
        assert got == 5000
    finally:
        source.finish(False)


def test_two_hosts_ship_into_one_stream_and_a_reader_in_a_group_merges_them_once(
    server: RedisServer, stream: str, tmp_path: Path
) -> None:
    hosts = {name: [tmp_path / name / f"app{i}.log" for i in range(2)] for name in ("web1", "web2")}
    for files in hosts.values():
        files[0].parent.mkdir()
        for f in files:
            f.touch()
    url = server.url(stream)
    out = tmp_path / "merged.log"
    group = ("--group", "mergers", "--consumer", "r1")
    reader = tailmerge("follow", "--engine", "mixed", url, *group, "--idle-exit", "2", "-o", str(out))
    writers = [writer([f], "--rate", "300", "--seconds", "3") for files in hosts.values() for f in files]
    shippers = [
        _shipper(files, url, engine, "--host-name", name, "--idle-exit", "1")
        for (name, files), engine in zip(hosts.items(), ("threads", "asyncio"), strict=True)
    ]
    for w in writers:
        w.wait()
    for s in shippers:
        _, err = s.communicate(timeout=30)
        assert s.returncode == 0, err.decode()
    _, err = reader.communicate(timeout=30)
    assert reader.returncode == 0, err.decode()
    everything = [f for files in hosts.values() for f in files]
    verify_ok(everything, out)
    client = server.client()
    assert {e[b"host"] for e in entries(client, stream)} == {b"web1", b"web2"}
    pending = cast(dict[str, int], client.xpending(stream, "mergers"))
    assert pending["pending"] == 0  # every entry acknowledged once written
    # the group has read everything: another reader in it gets nothing more
    again = run_cli("follow", "--no-follow", url, "--group", "mergers", "--consumer", "r2")
    assert again.returncode == 0 and again.stdout == b"", again.stderr.decode()


@pytest.mark.parametrize("engine", ["threads", "asyncio"])
def test_two_shippers_with_the_same_host_name_are_told_apart_and_one_stops(
    server: RedisServer, stream: str, tmp_path: Path, engine: str
) -> None:
    # both would write one positions hash: the second's first transaction takes it over, and the first
    # finds another's token there at its next one
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    for f in logs:
        f.write_bytes(b"first\n")
    url = server.url(stream)
    first = _shipper([logs[0]], url, engine)
    client = server.client()
    wait_for(lambda: client.xlen(stream) == 1, what="the first shipper's line")
    second = _shipper([logs[1]], url, engine, "--idle-exit", "3")
    wait_for(lambda: client.xlen(stream) == 2, what="the second shipper's line")
    with logs[0].open("ab") as out:
        out.write(b"second\n")
    _, err = first.communicate(timeout=20)
    assert first.returncode == 1, err.decode()
    assert b"another shipper is shipping as host name 'h'" in err and b"--host-name" in err, err.decode()
    _, err = second.communicate(timeout=20)
    assert second.returncode == 0, err.decode()  # the one that took over goes on


def _timed_writer(path: Path, seconds: float, rate: float, stop: threading.Event) -> threading.Thread:
    """A thread appending lines that begin with the time they are written, one write per line."""

    def write() -> None:
        with path.open("ab", buffering=0) as f:
            end, n = time.monotonic() + seconds, 0
            while time.monotonic() < end and not stop.is_set():
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S") + f".{time.time_ns() // 1000 % 1_000_000:06d}"
                f.write(f"{stamp} {path.name} line {n}\n".encode())
                n += 1
                time.sleep(1 / rate)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


@pytest.mark.timeout(120)
@pytest.mark.parametrize("order", ["arrival", "time", "group"])
def test_a_reader_with_a_state_killed_with_sigkill_writes_every_line_once(
    server: RedisServer, stream: str, tmp_path: Path, order: str
) -> None:
    # two hosts ship into one stream while a reader with a state is killed and restarted: each host and
    # path's last entry id is committed with the output, so each restart goes on where the output ends;
    # in a consumer group, an entry is acknowledged only once a commit holds it
    hosts = {name: tmp_path / name / "app.log" for name in ("web1", "web2")}
    for f in hosts.values():
        f.parent.mkdir()
        f.touch()
    url, out, state = server.url(stream), tmp_path / "merged.log", tmp_path / "state.db"
    stop = threading.Event()
    writers = [_timed_writer(f, 60.0, 400, stop) for f in hosts.values()]
    shippers = [_shipper([f], url, "asyncio", "--host-name", name, "--idle-exit", "1") for name, f in hosts.items()]
    group = ("--group", "g", "--consumer", "c1") if order == "group" else ()
    timed = ("--order", "time", "--lateness", "0.2") if order == "time" else ()
    reading = ("follow", url, "--state", str(state), "-o", str(out), *timed, *group)
    rng = random.Random(7)
    try:
        for kill in range(4):
            before = out.stat().st_size if out.exists() else 0
            reader = tailmerge(*reading, "--engine", ENGINES[kill % len(ENGINES)])
            try:
                grown = lambda b=before: out.exists() and out.stat().st_size > b  # noqa: E731
                wait_for(grown, timeout=20, what=f"run {kill} writing")
            except AssertionError:
                reader.kill()
                raise AssertionError(reader.communicate()[1].decode()) from None
            time.sleep(rng.uniform(0.0, 0.3))
            reader.send_signal(signal.SIGKILL)
            reader.wait()
    finally:
        stop.set()
        for t in writers:
            t.join()
    for s in shippers:
        _, err = s.communicate(timeout=30)
        assert s.returncode == 0, err.decode()
    last = tailmerge(*reading, "--idle-exit", "1.5")
    _, err = last.communicate(timeout=30)
    assert last.returncode == 0, err.decode()
    verify_ok(list(hosts.values()), out)
    shown = run_cli("state", "show", str(state)).stdout.decode()
    assert "web1:" in shown and "web2:" in shown, shown  # each host and path with its last entry id
    # a short run commits once, at its end: what that commit holds is acknowledged then
    with hosts["web1"].open("ab") as late:
        late.write(b"a late line\n")
    res = run_cli("follow", "--no-follow", str(hosts["web1"]), "-o", url, "--host-name", "web1")
    assert res.returncode == 0, res.stderr.decode()
    size = out.stat().st_size
    again = run_cli("follow", "--no-follow", url, "--state", str(state), "-o", str(out), *group)
    assert again.returncode == 0 and out.read_bytes()[size:] == b"a late line\n", again.stderr.decode()
    verify_ok(list(hosts.values()), out)
    if group:
        assert cast(dict[str, int], server.client().xpending(stream, "g"))["pending"] == 0
    # a run with nothing new writes nothing
    again = run_cli("follow", "--no-follow", url, "--state", str(state), "-o", str(out), *group)
    assert again.returncode == 0 and out.stat().st_size == size + 12, again.stderr.decode()
    if group:  # every entry acknowledged: by the runs' commits, or skipped (the state had it) and acknowledged
        assert cast(dict[str, int], server.client().xpending(stream, "g"))["pending"] == 0


def test_standard_input_is_shipped_too(server: RedisServer, stream: str) -> None:
    done = subprocess.run(
        [PY, "-m", "tailmerge", "follow", "-", "-o", server.url(stream), "--host-name", "pipe"],
        input=b"one\ntwo\nno newline",
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr.decode()
    shipped = entries(server.client(), stream)
    assert [e[b"line"] for e in shipped] == [b"one\n", b"two\n", b"no newline\n"]
    assert {(e[b"path"], e[b"file"]) for e in shipped} == {(b"-", b"")}


def test_the_api_refuses_a_redis_output_instead_of_making_a_folder_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"x\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="for the command line"):
        tailmerge_merge([log], "redis://127.0.0.1:6379/s", follow=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log"]


def test_the_redis_demo_ships_two_hosts_and_reads_them_back_verified(server: RedisServer) -> None:
    res = run_cli("demo", "--redis", server.url("demo"), "--seconds", "1", "--files", "2", timeout=90)
    said = res.stdout.decode()
    assert res.returncode == 0, said + res.stderr.decode()
    assert "web1/service1.log | web1 service1.log" in said and "web2 service2.log" in said  # the reader, live
    assert "each exactly once and in order" in said, said
    assert server.client().keys("*demo*") == []  # its stream and positions are deleted after
