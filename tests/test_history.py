"""Compressed generations (``app.log.2.gz``, ``.bz2``, ``.xz``) are inputs too: read whole, decompressed, once."""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import lzma
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import tailmerge
from tailmerge.core import Framing, Identity, record_starts
from tailmerge.options import Engine
from tailmerge.sources.compressed import READ_SIZE, Compressed
from tailmerge.verify import verify

from .conftest import file_lines, run_cli, verify_ok, wait_for
from .conftest import tailmerge as start_tailmerge

OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def lines(name: str, n: int) -> bytes:
    return b"".join(b"%s line %d\n" % (name.encode(), i) for i in range(n))


def compress(path: Path, data: bytes) -> Path:
    with OPENERS[path.suffix](path, "wb") as f:
        f.write(data)
    return path


def aged(path: Path, seconds_ago: float) -> Path:
    """Give ``path`` an older mtime (a glob lists generations oldest first by it)."""
    t = time.time() - seconds_ago
    os.utime(path, (t, t))
    return path


def history(tmp: Path) -> tuple[list[Path], bytes]:
    """A rotated log: app.log.2.gz (oldest), app.log.1, app.log; the generations oldest first, and every line."""
    old, mid, new = lines("two", 50), lines("one", 30), lines("live", 20)
    gz, one, live = tmp / "app.log.2.gz", tmp / "app.log.1", tmp / "app.log"
    compress(gz, old)
    one.write_bytes(mid)
    live.write_bytes(new)
    return [aged(gz, 300), aged(one, 200), live], old + mid + new


@contextmanager
def running(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """The CLI in its own process, killed if the test fails before it ends."""
    proc = start_tailmerge(*args)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def sorted_lines(data: bytes) -> list[bytes]:
    return sorted(data.splitlines(keepends=True))


# -- a glob over the generations ------------------------------------------------------------------------------


def test_a_glob_over_compressed_and_plain_generations_reads_each_line_once(tmp_path: Path, engine: Engine) -> None:
    gens, everything = history(tmp_path)
    out = tmp_path / "merged.log"
    res = run_cli("follow", str(tmp_path / "app.log*"), "--no-follow", "-o", str(out), "--engine", engine)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stderr == b""
    assert b"\x1f\x8b" not in out.read_bytes()  # no compressed bytes as lines
    assert sorted_lines(out.read_bytes()) == sorted_lines(everything)
    # the generations oldest first, the archive among them (``tailmerge verify`` itself: in the state test)
    assert verify([str(g) for g in gens], str(out)).ok is True
    assert verify([str(tmp_path / "app.log*")], str(out)).ok is True  # a glob lists them oldest first too


@pytest.mark.parametrize("suffix", [".bz2", ".xz"])
def test_bzip2_and_xz_archives_are_read_decompressed(tmp_path: Path, suffix: str) -> None:
    archive = compress(tmp_path / f"app.log.3{suffix}", lines("three", 40) + b"last, no newline")
    out = tmp_path / "out.jsonl"
    tailmerge.merge([archive], out, format="jsonl", follow=False)
    objs = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert [o["line"] for o in objs] == [f"three line {i}" for i in range(40)] + ["last, no newline"]
    # offsets are positions in the decompressed content; the inode is the archive's
    assert [o["offset"] for o in objs[:2]] == [len(b"three line 0\n"), len(b"three line 0\nthree line 1\n")]
    assert objs[-1]["offset"] == len(lines("three", 40) + b"last, no newline")
    assert {o["inode"] for o in objs} == {archive.stat().st_ino}


def test_a_big_archive_is_read_a_block_per_step_with_offsets_in_its_content(tmp_path: Path) -> None:
    data = b"".join(b"%08d %s\n" % (i, b"x" * (i % 150)) for i in range(60_000)) + b"unterminated"
    archive = compress(tmp_path / "big.log.1.gz", data)
    source = Compressed(str(archive), framing=Framing())
    got: list[bytes] = []
    steps = 0
    while not source.ended:
        chunks = source.step()
        steps += 1
        assert sum(len(c.data) for c in chunks) <= READ_SIZE + 256  # a block (and its head) per step
        for c in chunks:
            assert c.file == Identity(archive.stat().st_dev, archive.stat().st_ino)
            assert data[c.start : c.end] == c.data  # offsets in the decompressed content
            got.append(c.data)
    got += [c.data for c in source.finish(True)]
    assert steps > len(data) // READ_SIZE
    assert b"".join(got) == data + b"\n"  # a finished file's last line gets its newline
    assert source.next_deadline() is None


def test_an_archive_found_while_following_is_read_once_it_has_been_quiet(tmp_path: Path) -> None:
    """It may still be being written (logrotate compressing): it waits for --rotate-wait without a change."""
    archive = compress(tmp_path / "app.log.1.gz", b"a\n")
    source = Compressed(str(archive), framing=Framing(), settle=0.5)
    assert source.step() == [] and not source.ended
    due = source.next_deadline()
    assert due is not None and due - time.monotonic() > 0.3
    compress(archive, b"a\nb\n")  # written again: the wait starts again
    os.utime(archive, ns=(archive.stat().st_mtime_ns + 10**7,) * 2)
    assert source.step() == []
    later = source.next_deadline()
    assert later is not None and later > due
    aged(archive, 10)  # quiet for long enough by its modification time
    got = []
    while not source.ended:
        got += [c.data for c in source.step()]
    assert got + [c.data for c in source.finish(True)] == [b"a\nb\n"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"last_lines": 2}, b"4\n5\n"),
        ({"last_lines": 9}, b"1\n2\n3\n4\n5\n"),
        ({"from_line": 4}, b"4\n5\n"),
        ({"from_line": 9}, b""),
        ({"start_at_end": True}, b"5\n"),  # as for a plain file: its unfinished last line is still read
    ],
)
def test_lines_and_from_apply_to_an_archive_given_at_start(
    tmp_path: Path, options: dict[str, Any], expected: bytes
) -> None:
    archive = compress(tmp_path / "a.log.1.gz", b"1\n2\n3\n4\n5")
    out = tmp_path / "out.log"
    tailmerge.merge([archive], out, follow=False, **options)
    assert out.read_bytes() == expected


# -- a bad archive ------------------------------------------------------------------------------------------


def test_a_corrupt_or_truncated_archive_is_named_and_the_others_are_merged(tmp_path: Path) -> None:
    good = tmp_path / "app.log"
    good.write_bytes(lines("live", 5))
    (tmp_path / "app.log.3.gz").write_bytes(b"this was never gzip\n")
    whole = gzip.compress(lines("two", 2000))
    (tmp_path / "app.log.2.gz").write_bytes(whole[: len(whole) // 2])  # cut in the middle of a copy
    res = run_cli("follow", str(tmp_path / "app.log*"), "--no-follow")
    assert res.returncode == 1  # as for an unreadable input with --no-follow
    err = res.stderr.decode()
    assert f"{tmp_path / 'app.log.3.gz'}: not a gzip file" in err
    assert f"{tmp_path / 'app.log.2.gz'}: compressed data ends early" in err
    assert "Traceback" not in err
    out = res.stdout.splitlines(keepends=True)
    assert [line for line in out if line.startswith(b"live")] == lines("live", 5).splitlines(keepends=True)
    two = [line for line in out if line.startswith(b"two")]
    assert len(two) > 100 and two == lines("two", len(two)).splitlines(keepends=True)  # a whole prefix, no cut line


def test_records_read_before_the_damage_are_kept_whole(tmp_path: Path) -> None:
    record = b"start %d\n  detail a\n  detail b\n"
    content = b"".join(record % i for i in range(3000))
    whole = gzip.compress(content)
    bad = tmp_path / "app.log.1.gz"
    bad.write_bytes(whole[: len(whole) // 2])
    source = Compressed(str(bad), framing=Framing(starts=record_starts("indented")))
    got: list[bytes] = []
    while not source.ended:
        got += [c.data for c in source.step()]
    got += [c.data for c in source.finish(True)]  # the held record: its lines are complete
    assert source.problem is not None and source.problem.startswith("compressed data ends early")
    at = re.search(r"read to byte (\d+) of its content", source.problem)
    assert at is not None
    read = content[: int(at[1])]
    assert len(got) > 100 and b"".join(got) == read[: read.rfind(b"\n") + 1]  # every complete line, none cut


# -- with a state ---------------------------------------------------------------------------------------------


def test_with_a_state_an_archive_is_read_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    gens, everything = history(tmp_path)
    out, state = tmp_path / "merged.log", tmp_path / "state.db"
    args = ["follow", str(tmp_path / "app.log*"), "-o", str(out), "--state", str(state), "--no-follow"]
    assert run_cli(*args).returncode == 0
    assert sorted_lines(out.read_bytes()) == sorted_lines(everything)
    with caplog.at_level(logging.INFO, logger="tailmerge"):
        tailmerge.merge([tmp_path / "app.log*"], out, append=True, state=state, follow=False)
    assert sorted_lines(out.read_bytes()) == sorted_lines(everything)  # nothing doubled
    assert f"{gens[0]}: already read" in caplog.text
    verify_ok(gens, out)  # ``tailmerge verify`` takes the archive as an input, oldest first


def test_with_a_state_a_generation_compressed_while_stopped_is_not_read_again(tmp_path: Path) -> None:
    """logrotate's compress: app.log.1, read by a run, becomes app.log.2.gz (another file) before the next."""
    gens, everything = history(tmp_path)
    out, state = tmp_path / "merged.log", tmp_path / "state.db"
    tailmerge.merge([tmp_path / "app.log*"], out, state=state, follow=False)
    # rotate: app.log.2.gz -> app.log.3.gz, app.log.1 -> app.log.2.gz, app.log -> app.log.1, a new app.log
    gens[0].rename(tmp_path / "app.log.3.gz")
    compress(tmp_path / "app.log.2.gz", gens[1].read_bytes())
    gens[1].unlink()
    gens[2].rename(tmp_path / "app.log.1")
    gens[2].write_bytes(b"new line\n")
    tailmerge.merge([tmp_path / "app.log*"], out, append=True, state=state, follow=False)
    assert sorted_lines(out.read_bytes()) == sorted_lines(everything + b"new line\n")


def test_with_a_state_a_finished_generation_compressed_while_stopped_is_known_by_its_copy(tmp_path: Path) -> None:
    """A finished file that is gone is forgotten at start, unless a compressed copy of it is beside it."""
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    glob = tmp_path / "app.log*"
    app.write_bytes(lines("first", 30))
    tailmerge.merge([glob], out, state=state, follow=False)
    app.rename(tmp_path / "app.log.1")
    app.write_bytes(lines("second", 3))
    tailmerge.merge([glob], out, append=True, state=state, follow=False)  # app.log.1 finished
    compress(tmp_path / "app.log.1.gz", (tmp_path / "app.log.1").read_bytes())
    with (tmp_path / "app.log.1").open("rb"):  # held: its inode is not reused (by the state's journal)
        (tmp_path / "app.log.1").unlink()
        tailmerge.merge([glob], out, append=True, state=state, follow=False)
    assert sorted_lines(out.read_bytes()) == sorted_lines(lines("first", 30) + lines("second", 3))


def test_with_a_state_a_file_compressed_while_stopped_is_finished_from_its_archive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopped while app.log was read; it grew, was rotated and compressed: the archive gives the rest."""
    app, out, state = tmp_path / "app.log", tmp_path / "merged.log", tmp_path / "state.db"
    glob = tmp_path / "app.log*"
    app.write_bytes(lines("first", 30))
    tailmerge.merge([glob], out, state=state, follow=False)
    with app.open("ab") as f:
        f.write(b"written while stopped\n")
    app.rename(tmp_path / "app.log.1")  # logrotate: rename, create, compress, remove
    app.write_bytes(b"new file\n")
    compress(tmp_path / "app.log.1.gz", (tmp_path / "app.log.1").read_bytes())
    (tmp_path / "app.log.1").unlink()
    with caplog.at_level(logging.INFO, logger="tailmerge"):
        tailmerge.merge([glob], out, append=True, state=state, follow=False)
    assert sorted_lines(out.read_bytes()) == sorted_lines(lines("first", 30) + b"written while stopped\nnew file\n")
    assert "was compressed into" in caplog.text and "not beside it" not in caplog.text


def test_with_a_state_an_archive_left_half_way_is_resumed_where_it_was_left(tmp_path: Path) -> None:
    archive = compress(tmp_path / "app.log.1.gz", lines("old", 100))
    state = tmp_path / "state.db"
    taken = []
    for line in tailmerge.follow([archive], state=state, follow=False):
        taken.append(line.data)
        if len(taken) == 41:
            break  # the 41st was handed out, not yet delivered (the loop did not ask for the next)
    again = [line.data for line in tailmerge.follow([archive], state=state, follow=False)]
    assert again == lines("old", 100).splitlines(keepends=True)[40:]  # from the first line not delivered
    assert [line.data for line in tailmerge.follow([archive], state=state, follow=False)] == []


# -- following --------------------------------------------------------------------------------------------------


def test_following_an_archive_and_a_live_file(tmp_path: Path, engine: Engine) -> None:
    """The archive's lines come out, then the live file is followed; a bad archive stops nothing."""
    archive = compress(tmp_path / "app.log.1.gz", lines("old", 30))
    bad = tmp_path / "app.log.2.xz"
    bad.write_bytes(b"\xfd7zXZ\x00 and nothing after the magic")
    live, out = tmp_path / "app.log", tmp_path / "merged.log"
    live.write_bytes(b"live 0\n")
    args = ["follow", str(bad), str(archive), str(live), "-o", str(out), "--idle-exit", "0.5", "--engine", engine]
    with running(*args) as proc:
        wait_for(lambda: len(file_lines(out)) == 31, what="the archive's lines and the live file's")
        with live.open("ab") as f:
            f.write(b"live 1\n")
        wait_for(lambda: file_lines(out)[-1:] == [b"live 1\n"], what="the appended line")
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()  # following: a bad input is no exit status
    assert f"{bad}: ".encode() in err
    assert sorted(file_lines(out)) == sorted_lines(lines("old", 30) + b"live 0\nlive 1\n")


def test_an_archive_compressed_from_a_followed_file_is_not_read_again(tmp_path: Path) -> None:
    """logrotate with ``compress`` under a glob that follows: the archive is a copy of a file already read;
    a new archive put beside them is read, once it has been quiet for --rotate-wait."""
    live, out = tmp_path / "app.log", tmp_path / "merged.log"
    first = b"".join(b"first generation line %03d with some padding to pass 256 bytes\n" % i for i in range(20))
    live.write_bytes(first)
    with running("follow", str(tmp_path / "app.log*"), "-o", str(out), "--rotate-wait", "0.2", "-v") as proc:
        wait_for(lambda: len(file_lines(out)) == 20, what="the first generation")
        live.rename(tmp_path / "app.log.1")
        live.write_bytes(b"second generation\n")
        wait_for(lambda: len(file_lines(out)) == 21, what="the new file")
        compress(tmp_path / "app.log.1.gz", (tmp_path / "app.log.1").read_bytes())
        (tmp_path / "app.log.1").unlink()
        compress(tmp_path / "app.log.9.gz", b"an archive from elsewhere\n")
        wait_for(lambda: len(file_lines(out)) == 22, what="the new archive")
        time.sleep(0.5)  # the copy has been quiet as long: it is looked at by now too
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()
    assert f"{tmp_path / 'app.log.1.gz'}: already read".encode() in err, err.decode()
    assert sorted(file_lines(out)) == sorted_lines(first + b"second generation\nan archive from elsewhere\n")


# -- verify ----------------------------------------------------------------------------------------------------


def test_verify_reads_a_compressed_input_decompressed(tmp_path: Path) -> None:
    archive = compress(tmp_path / "app.log.1.gz", b"a\nb\n")
    live = tmp_path / "app.log"
    live.write_bytes(b"c\n")
    merged = tmp_path / "merged.log"
    merged.write_bytes(b"a\nc\nb\n")
    assert verify([str(archive), str(live)], str(merged)).ok is True
    merged.write_bytes(b"a\nc\n")
    verdict = verify([str(archive), str(live)], str(merged))
    assert verdict.ok is False and f"missing: {archive} line 2" in verdict.message


def test_verify_names_a_corrupt_input(tmp_path: Path) -> None:
    bad = tmp_path / "app.log.1.gz"
    bad.write_bytes(b"plain text\n")
    merged = tmp_path / "merged.log"
    merged.write_bytes(b"plain text\n")
    res = run_cli("verify", str(bad), "--merged", str(merged))
    assert res.returncode == 2
    assert f"{bad}: not a gzip file".encode() in res.stderr
