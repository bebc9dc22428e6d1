"""Hostile input: odd bytes, odd files, odd names. Each names the file and never stops the others."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
from pathlib import Path

from tailmerge import follow
from tailmerge.options import Engine

from .conftest import PY, assert_no_traceback, file_lines, run_cli, tailmerge, wait_for


def test_nul_bytes_invalid_utf8_and_crlf_pass_through_unchanged(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "odd.log"
    data = b"nul\x00inside\n\xff\xfe not utf-8\r\nwindows line\r\nplain\n"
    src.write_bytes(data)
    raw = run_cli("follow", str(src), "--no-follow", "--engine", engine)
    assert raw.stdout == data
    jsonl = run_cli("follow", str(src), "--no-follow", "--engine", engine, "--format", "jsonl")
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    restored = b"".join(
        (r["line"].encode() if "line" in r else base64.b64decode(r["line_base64"])) + b"\n" for r in rows
    )
    assert restored == data  # lossless, whatever the bytes
    ends = [data.index(b"\n", start) + 1 for start in [0, 11, 25, 39]]
    assert [r["offset"] for r in rows] == ends == [11, 25, 39, 45]


def test_a_100_mb_line_without_newline_keeps_memory_bounded(tmp_path: Path, engine: Engine) -> None:
    src = tmp_path / "huge.log"
    with src.open("wb") as f:
        for _ in range(100):
            f.write(b"z" * (1 << 20))
    out = tmp_path / "out.log"

    # VmHWM, not ru_maxrss: the latter is inherited from the forking parent (pytest) across exec
    res = subprocess.run(
        [PY, "-c", "import re, sys; from tailmerge.cli import cli; rc = cli(*sys.argv[1:]); "
         "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], file=sys.stderr); sys.exit(rc)",
         "follow", str(src), "-o", str(out), "--no-follow", "--engine", engine],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    peak_kib = int(res.stderr.splitlines()[-1])
    assert peak_kib < 120 * 1024, f"peak RSS {peak_kib} KiB for a 100 MiB line"
    assert b"longer than --max-line-bytes" in res.stderr
    assert res.stderr.count(b"longer than") == 1  # one warning per file, not one per piece
    pieces = file_lines(out)
    assert len(pieces) == 101 and all(len(p) <= 1 << 20 for p in pieces)
    assert sum(len(p) - 1 for p in pieces) == 100 << 20  # every byte, in pieces


def _peak_kib(*args: str) -> int:
    """VmHWM of a run of the CLI with ``args`` (not ru_maxrss: inherited from pytest across exec)."""
    res = subprocess.run(
        [PY, "-c", "import re, sys; from tailmerge.cli import cli; rc = cli(*sys.argv[1:]); "
         "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], file=sys.stderr); sys.exit(rc)",
         *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return int(res.stderr.splitlines()[-1])


def test_copying_many_big_files_holds_a_few_steps_not_one_per_file(tmp_path: Path, engine: Engine) -> None:
    # each follower used to read its next step (8 MiB) and wait for the merge holding it, and kept its last
    # one while waiting (asyncio: 73 MiB over the small run); now at most two followers hold what they read
    # (on the loop, turns; blocking, the two workers, whose legs end after a step while others wait)
    line = b"x" * 95 + b"\n"
    big = line * ((12 << 20) // len(line))
    names = []
    for i in range(8):
        (tmp_path / f"big{i}.log").write_bytes(big)
        names.append(str(tmp_path / f"big{i}.log"))
    (tmp_path / "small.log").write_bytes(line)
    # into /dev/null: as into a pipe, the writer thread writes and a hand-over waits for it
    fixed = ("follow", "--no-follow", "--format", "labeled", "--engine", engine)
    base = _peak_kib(*fixed, str(tmp_path / "small.log"))
    peak = _peak_kib(*fixed, *names)
    assert peak - base < 40 * 1024, f"{(peak - base) // 1024} MiB over a one-line run"


def test_an_empty_file_is_fine(tmp_path: Path, engine: Engine) -> None:
    (tmp_path / "empty.log").touch()
    (tmp_path / "full.log").write_bytes(b"x\n")
    res = run_cli("follow", str(tmp_path / "empty.log"), str(tmp_path / "full.log"), "--no-follow", "--engine", engine)
    assert res.returncode == 0 and res.stdout == b"x\n" and res.stderr == b""


def test_a_file_replaced_by_a_directory_or_a_fifo_is_named_and_waited_for(tmp_path: Path, engine: Engine) -> None:
    odd, good = tmp_path / "odd.log", tmp_path / "good.log"
    odd.write_bytes(b"odd 1\n")
    good.write_bytes(b"good 1\n")
    out = tmp_path / "out.log"
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as err:
        proc = subprocess.Popen([PY, "-m", "tailmerge", "follow", str(odd), str(good), "-o", str(out),
                                 "--engine", engine, "--rotate-wait", "0.1"], stderr=err)  # fmt: skip
    wait_for(lambda: len(file_lines(out)) == 2, what="the first lines")
    odd.unlink()
    odd.mkdir()
    wait_for(lambda: b"odd.log: is a directory" in errors.read_bytes(), what="the directory message")
    odd.rmdir()
    os.mkfifo(odd)
    wait_for(lambda: b"odd.log: is not a regular file" in errors.read_bytes(), what="the FIFO message")
    with good.open("ab") as f:
        f.write(b"good 2\n")  # the others go on meanwhile
    wait_for(lambda: len(file_lines(out)) == 3, what="the good file's line")
    odd.unlink()
    odd.write_bytes(b"odd again\n")
    wait_for(lambda: len(file_lines(out)) == 4, what="the regular file back")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    assert_no_traceback(errors.read_bytes())
    assert sorted(file_lines(out)) == [b"good 1\n", b"good 2\n", b"odd 1\n", b"odd again\n"]


def test_paths_with_spaces_and_non_utf8_names(tmp_path: Path, engine: Engine) -> None:
    weird = os.path.join(os.fsencode(tmp_path), b"caf\xe9 log file.txt")
    with open(weird, "wb") as f:
        f.write(b"from the weird file\n")
    spaced = tmp_path / "with space.log"
    spaced.write_bytes(b"from the spaced file\n")
    res = subprocess.run(
        [PY.encode(), b"-m", b"tailmerge", b"follow", weird, os.fsencode(spaced), b"--no-follow",
         b"--format", b"labeled", b"--engine", engine.encode()],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.splitlines()) == [
        b"caf\xe9 log file.txt | from the weird file",
        b"with space.log    | from the spaced file",  # labels are padded to one width
    ]
    lines = list(follow([os.fsdecode(weird)], follow=False))
    assert lines[0].path == os.fsdecode(weird) and lines[0].data == b"from the weird file\n"


def test_a_bad_file_never_stops_the_others(tmp_path: Path, engine: Engine) -> None:
    """A directory, a FIFO and a missing path given as inputs: messages, and the good file is merged."""
    good = tmp_path / "good.log"
    good.write_bytes(b"ok\n")
    (tmp_path / "dir.log").mkdir()
    os.mkfifo(tmp_path / "fifo.log")
    proc = tailmerge("follow", str(tmp_path / "dir.log"), str(tmp_path / "fifo.log"), str(tmp_path / "nope.log"),
                     str(good), "--engine", engine, "--idle-exit", "0.5")  # fmt: skip
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert out == b"ok\n"
    for msg in (b"dir.log: is a directory", b"fifo.log: is not a regular file", b"nope.log: no such file"):
        assert msg in err, err
    assert_no_traceback(err)
