"""Habits that tail and Fluent Bit users bring: -n, -, --version, exit statuses, colour, headers."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

import tailmerge
from tailmerge.options import Engine

from .conftest import PY, file_lines, run_cli, wait_for
from .conftest import tailmerge as start_tailmerge


def cli_with_stdin(data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([PY, "-m", "tailmerge", *args], input=data, capture_output=True, timeout=20)


# -- 9. numbers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("follow", "--idle-exit", "nan", "a.log"),
        ("follow", "--idle-exit", "inf", "a.log"),
        ("follow", "--poll-interval", "0", "a.log"),
        ("follow", "--rotate-wait", "-1", "a.log"),
        ("follow", "--max-line-bytes", "1", "a.log"),
        ("follow", "-n", "-1", "a.log"),
        ("follow", "-n", "+0", "a.log"),
        ("demo", "--seconds", "nan"),
        ("demo", "--files", "0"),
        ("verify", "a.log", "--merged", "b.log", "--budget", "0"),
    ],
)
def test_bad_numbers_are_usage_errors(args: tuple[str, ...]) -> None:
    res = run_cli(*args, timeout=10)
    assert res.returncode == 2
    err = res.stderr.decode()
    assert f"usage: tailmerge {args[0]}" in err
    error_line = err.strip().splitlines()[-1]
    option = [a for a in args if a.startswith("--") or a == "-n"][-1]
    assert error_line.count(option) == 1, error_line  # named once, not "--x: --x must be..."


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
def test_the_api_rejects_bad_numbers_too(value: float) -> None:
    with pytest.raises(ValueError):
        tailmerge.Options(idle_timeout=value)
    with pytest.raises(ValueError):
        tailmerge.Options(rotate_wait=value)


# -- 12. -n ---------------------------------------------------------------------------------------------


def test_lines_from_the_end_then_follows(tmp_path: Path, engine: Engine) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"1\n2\n3\n4\n5\n")
    out = tmp_path / "out.log"
    proc = start_tailmerge("follow", str(a), "-n", "2", "-o", str(out), "--engine", engine)
    wait_for(lambda: file_lines(out) == [b"4\n", b"5\n"], what="the last two lines")
    with a.open("ab") as f:
        f.write(b"6\n")
    wait_for(lambda: file_lines(out) == [b"4\n", b"5\n", b"6\n"], what="the new line")
    proc.terminate()
    proc.communicate(timeout=5)


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("0", b""),
        ("1", b"5\n"),
        ("3", b"3\n4\n5\n"),
        ("9", b"1\n2\n3\n4\n5\n"),
        ("+1", b"1\n2\n3\n4\n5\n"),
        ("+4", b"4\n5\n"),
        ("+9", b""),
    ],
)
def test_lines_as_tail_counts_them(tmp_path: Path, arg: str, expected: bytes) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"1\n2\n3\n4\n5\n")
    res = run_cli("follow", str(a), "-n", arg, "--no-follow")
    assert res.returncode == 0
    assert res.stdout == expected


def test_an_unfinished_last_line_counts_as_a_line(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"1\n2\n3")
    assert run_cli("follow", str(a), "-n", "2", "--no-follow").stdout == b"2\n3\n"
    assert run_cli("follow", str(a), "-n", "0", "--no-follow").stdout == b"3\n"  # a line being written


# -- 13. standard input ---------------------------------------------------------------------------------


def test_dash_is_standard_input_merged_with_files(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"from a\n")
    res = cli_with_stdin(b"from pipe\nlast, no newline", "follow", "-", str(a), "--no-follow", "--format", "jsonl")
    assert res.returncode == 0, res.stderr.decode()
    objs = [json.loads(line) for line in res.stdout.splitlines()]
    assert sorted((o["path"], o["line"]) for o in objs) == [
        ("-", "from pipe"), ("-", "last, no newline"), (str(a), "from a"),
    ]  # fmt: skip


def test_label_stdin_names_it_and_dash_o_is_standard_output(tmp_path: Path) -> None:
    res = cli_with_stdin(b"x\n", "follow", "-", "--label-stdin", "kubectl", "--format", "labeled", "-o", "-")
    assert res.returncode == 0
    assert res.stdout == b"kubectl | x\n"


def test_standard_input_ends_the_follow_when_it_closes(tmp_path: Path) -> None:
    # without --no-follow: the pipe's end ends its source, and with no other source the run ends
    res = cli_with_stdin(b"one\ntwo\n", "follow", "-")
    assert res.returncode == 0
    assert res.stdout == b"one\ntwo\n"


# -- 14. the command line itself ------------------------------------------------------------------------


def test_version_bare_and_unknown_options() -> None:
    assert run_cli("--version").stdout.decode().strip() == f"tailmerge {tailmerge.__version__}"
    bare = run_cli()
    assert bare.returncode == 2 and b"{follow,serve,verify,state,demo}" in bare.stderr
    bogus = run_cli("follow", "--bogus", "a.log")
    assert bogus.returncode == 2
    assert b"usage: tailmerge follow" in bogus.stderr and b"--bogus" in bogus.stderr


def test_headers_format_says_where_lines_come_from(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"a1\na2\n")
    b.write_bytes(b"b1\n")
    res = run_cli("follow", str(a), str(b), "--no-follow", "--format", "headers", "--engine", "threads")
    assert res.returncode == 0
    first, second = f"==> {a} <==\na1\na2\n", f"==> {b} <==\nb1\n"  # a thread per file: either may go first
    assert res.stdout in ((first + "\n" + second).encode(), (second + "\n" + first).encode())


# -- 15. exit status ------------------------------------------------------------------------------------


def test_no_follow_with_a_missing_input_merges_the_rest_and_exits_1(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"a\n")
    res = run_cli("follow", str(a), str(tmp_path / "missing.log"), "--no-follow")
    assert res.returncode == 1
    assert res.stdout == b"a\n"
    assert f"{tmp_path / 'missing.log'}: no such file".encode() in res.stderr


# -- 16. colour -----------------------------------------------------------------------------------------


def test_colour_always_never_and_padded_labels(tmp_path: Path) -> None:
    a, long = tmp_path / "a.log", tmp_path / "longer-name.log"
    a.write_bytes(b"x\n")
    long.write_bytes(b"y\n")
    args = ("follow", str(a), str(long), "--no-follow", "--format", "labeled", "--engine", "threads")
    plain = run_cli(*args, "--color", "never").stdout
    # a thread per file: either file may come first
    assert sorted(plain.splitlines()) == [b"a.log           | x", b"longer-name.log | y"]
    assert b"\x1b[" in run_cli(*args, "--color", "always").stdout


def test_no_color_is_honoured_by_the_api_on_a_terminal(tmp_path: Path) -> None:
    # a real terminal: a pty as the output; NO_COLOR set: no escape codes
    import os
    import pty

    a = tmp_path / "a.log"
    a.write_bytes(b"x\n")
    leader, follower = pty.openpty()
    try:
        script = f"import tailmerge; tailmerge.merge([{str(a)!r}], format='labeled', follow=False)"
        env = {**os.environ, "NO_COLOR": "1"}
        subprocess.run([PY, "-c", script], stdout=follower, env=env, timeout=20, check=True)
        seen = os.read(leader, 4096)
    finally:
        os.close(leader)
        os.close(follower)
    assert b"a.log | x" in seen and b"\x1b[" not in seen


# -- 17. 18. Line ---------------------------------------------------------------------------------------


def test_line_text_drops_cr_and_cut_lines_are_marked(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"windows\r\n" + b"z" * 25 + b"\n")
    lines = list(tailmerge.follow([a], follow=False, max_line_bytes=10))
    assert lines[0].text == "windows" and lines[0].data == b"windows\r\n"
    assert [ln.cut for ln in lines[1:]] == [True, True, False]
    assert b"".join(ln.data for ln in lines[1:]) == b"z" * 9 + b"\n" + b"z" * 9 + b"\n" + b"z" * 7 + b"\n"
    assert lines[0].file is not None and lines[0].inode == a.stat().st_ino


def test_jsonl_marks_cut_pieces_and_names_the_file(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"z" * 25 + b"\n")
    res = run_cli("follow", str(a), "--no-follow", "--format", "jsonl", "--max-line-bytes", "10")
    objs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [o.get("cut", False) for o in objs] == [True, True, False]
    assert {o["inode"] for o in objs} == {a.stat().st_ino}


# -- 5. labels that become ambiguous ------------------------------------------------------------------


def test_labels_grow_when_a_same_named_file_appears_and_verify_accepts_them(tmp_path: Path) -> None:
    one, two = tmp_path / "h" / "one", tmp_path / "h" / "two"
    one.mkdir(parents=True)
    (one / "x.log").write_bytes(b"one-1\n")
    out = tmp_path / "out.log"
    proc = start_tailmerge("follow", str(tmp_path / "h" / "*" / "x.log"), "--format", "labeled", "-o", str(out))
    wait_for(lambda: file_lines(out) == [b"x.log | one-1\n"], what="the first line, labelled by its name")
    two.mkdir()
    (two / "x.log").write_bytes(b"two-1\n")
    wait_for(lambda: len(file_lines(out)) == 2, what="the second file's line")
    with (one / "x.log").open("ab") as f:
        f.write(b"one-2\n")
    wait_for(lambda: len(file_lines(out)) == 3, what="the first file's second line")
    proc.terminate()
    _, err = proc.communicate(timeout=5)
    assert file_lines(out) == [b"x.log | one-1\n", b"two/x.log | two-1\n", b"one/x.log | one-2\n"]
    assert err.count(b"label 'x.log' is now 'one/x.log'") == 1
    res = run_cli("verify", str(one / "x.log"), str(two / "x.log"), "--merged", str(out), "--format", "labeled")
    assert res.returncode == 0, res.stdout
