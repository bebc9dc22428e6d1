"""Glob discovery as a new user meets it: relative patterns, excludes, symlinked folders, no match yet."""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailmerge.sources import Discovery

from .conftest import PY, file_lines, wait_for


def run_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, run in ``cwd`` (relative patterns are relative to it)."""
    return subprocess.run([PY, "-m", "tailmerge", *args], cwd=cwd, capture_output=True, text=True, timeout=30)


def jsonl_paths(stdout: str) -> list[str]:
    return sorted(json.loads(line)["path"] for line in stdout.splitlines())


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text or f"{path.name}\n")
    return path


@pytest.fixture
def chdir(tmp_path: Path) -> Iterator[Path]:
    """Run in ``tmp_path``, for the in-process tests of relative patterns."""
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


# -- 7: --exclude as the user writes it ----------------------------------------------------------


def test_exclude_matches_the_path_as_written_and_the_file_name(tmp_path: Path) -> None:
    write(tmp_path / "g" / "keep" / "a.log")
    write(tmp_path / "g" / "skip" / "b.log")
    write(tmp_path / "g" / "abs" / "c.log")
    write(tmp_path / "g" / "d.old.log")
    res = run_in(tmp_path, "follow", "g/**/*.log", "--no-follow", "--format", "jsonl",
                 "--exclude", "g/skip/*", "--exclude", f"{tmp_path}/g/abs/*", "--exclude", "*.old.log")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert jsonl_paths(res.stdout) == ["g/keep/a.log"]
    assert "excludes nothing" not in res.stderr


def test_exclude_written_relative_applies_to_an_absolute_pattern(tmp_path: Path) -> None:
    write(tmp_path / "g" / "keep" / "a.log")
    write(tmp_path / "g" / "skip" / "b.log")
    res = run_in(tmp_path, "follow", f"{tmp_path}/g/*/*.log", "--no-follow", "--format", "jsonl",
                 "--exclude", "./g/skip/*")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert jsonl_paths(res.stdout) == [f"{tmp_path}/g/keep/a.log"]


def test_an_exclude_that_matches_nothing_is_named_once(tmp_path: Path) -> None:
    write(tmp_path / "g" / "a.log")
    res = run_in(tmp_path, "follow", "g/*.log", "--no-follow", "--exclude", "logs/skip/*", "--exclude", "a.log")
    assert res.returncode == 0, res.stderr
    warned = [line for line in res.stderr.splitlines() if "excludes nothing" in line]
    assert len(warned) == 1 and "logs/skip/*" in warned[0], res.stderr
    assert res.stdout == ""  # a.log: excluded by name


def test_the_exclude_warning_is_about_the_first_look_only(chdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    d = Discovery(["g/*.log"], ["*.old.log"])
    with caplog.at_level(logging.WARNING, logger="tailmerge"):
        assert d.step() == []
        write(chdir / "g" / "a.log")
        assert d.step() == ["g/a.log"]
    warned = [r.getMessage() for r in caplog.records if "--exclude" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("--exclude *.old.log: excludes nothing"), warned


# -- 8: ** and symlinked folders -----------------------------------------------------------------


def test_double_star_does_not_descend_into_symlinked_folders(tmp_path: Path) -> None:
    write(tmp_path / "g" / "a" / "x.log")
    write(tmp_path / "g" / "a" / "b" / "y.log")
    write(tmp_path / "outside.log")
    write(tmp_path / "elsewhere" / "z.log")
    (tmp_path / "g" / "loop").symlink_to("..")  # a loop: g/loop/g/loop/...
    (tmp_path / "g" / "a" / "other").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "g" / "linked.log").symlink_to(tmp_path / "outside.log")  # a symlinked file is followed
    started = time.monotonic()
    res = run_in(tmp_path, "follow", f"{tmp_path}/g/**/*.log", "--no-follow", "--format", "jsonl")
    assert res.returncode == 0, res.stderr
    assert jsonl_paths(res.stdout) == [f"{tmp_path}/g/{p}" for p in ["a/b/y.log", "a/x.log", "linked.log"]]
    assert time.monotonic() - started < 5


def test_discovery_watches_no_folder_through_a_symlink_loop(tmp_path: Path, chdir: Path) -> None:
    write(tmp_path / "g" / "a" / "x.log")
    (tmp_path / "g" / "loop").symlink_to("..")
    from tailmerge.sources.discovery import match

    folders: dict[str, None] = {}
    assert sorted(match("g/**/*.log", folders)) == ["g/a/x.log"]
    assert list(folders) == [str(tmp_path / "g"), str(tmp_path / "g" / "a")]


_names = st.sampled_from(["a", "b", ".h", "x.log", ".y.log", "z.txt"])
_trees = st.lists(st.lists(_names, min_size=1, max_size=4), max_size=12)
_patterns = st.sampled_from([
    "**", "**/*.log", "t/**", "t/**/*.log", "t/**/.*", "t/*/*.log", "t/*/", "t/**/", "t/.*/*",
    "t/a/**/b/*", "t/**/a/**/*", "t//**//x.log", "t/[ab]/*", "t/?/x.log", "t/*/b/**", "t/**/**/*.log",
])  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=_trees, pattern=_patterns)
def test_match_is_glob_in_a_tree_without_symlinks(chdir: Path, tree: list[list[str]], pattern: str) -> None:
    from tailmerge.sources.discovery import match

    root = chdir / "t"
    for parts in tree:
        folder = root.joinpath(*parts[:-1])
        if any(p.is_file() for p in [folder, *folder.parents]):
            continue  # a file already holds this name
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / parts[-1]).exists():
            (folder / parts[-1]).touch()
    try:
        assert sorted(match(pattern)) == sorted(glob.glob(pattern, recursive=True))
        absolute = f"{chdir}/{pattern}"
        assert sorted(match(absolute)) == sorted(glob.glob(absolute, recursive=True))
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- 15: a pattern that matches nothing yet ---------------------------------------------------------


def test_a_pattern_that_matches_nothing_says_so_once_and_names_its_folder_with_v(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    pattern = "logs/app/*.log"
    quiet = run_in(tmp_path, "follow", pattern, "--idle-exit", "0.2")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.count(f"{pattern}: no file matches yet; watching for one") == 1, quiet.stderr
    assert "watching /" not in quiet.stderr
    verbose = run_in(tmp_path, "follow", pattern, "--idle-exit", "0.2", "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert verbose.stderr.count("no file matches yet") == 1, verbose.stderr
    assert f"{pattern}: watching {tmp_path / 'logs'}" in verbose.stderr  # logs/app is not there yet


def test_a_pattern_that_matches_is_not_named(tmp_path: Path) -> None:
    write(tmp_path / "logs" / "a.log")
    res = run_in(tmp_path, "follow", "logs/*.log", "--idle-exit", "0.2", "-v")
    assert res.returncode == 0 and "no file matches" not in res.stderr, res.stderr


def test_without_follow_an_unmatched_pattern_is_named_at_once(chdir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tailmerge"):
        assert Discovery(["logs/*.log"], follow=False).step() == []
    assert [r.getMessage() for r in caplog.records] == ["logs/*.log: no file matches"]


# -- 17: paths spelled as the glob produced them ----------------------------------------------------


def test_jsonl_path_is_the_path_the_glob_produced(tmp_path: Path) -> None:
    write(tmp_path / "logs" / "a.log")
    write(tmp_path / "logs" / "b.log")
    res = run_in(tmp_path, "follow", "logs/*.log", "logs/b.log", f"{tmp_path}/logs/a*.log", "./logs/?.log",
                 "--no-follow", "--format", "jsonl")  # fmt: skip
    assert res.returncode == 0, res.stderr
    # each file once, under the first spelling that names it: a literal first, then the patterns' matches
    assert jsonl_paths(res.stdout) == ["logs/a.log", "logs/b.log"]
    res = run_in(tmp_path, "follow", f"{tmp_path}/logs/*.log", "--no-follow", "--format", "jsonl")
    assert jsonl_paths(res.stdout) == [f"{tmp_path}/logs/a.log", f"{tmp_path}/logs/b.log"]


def test_files_under_a_relative_glob_are_found_as_they_appear(tmp_path: Path) -> None:
    """Only change notification can find them in time: the poll interval is an hour."""
    write(tmp_path / "logs" / "first.log", "first\n")
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([PY, "-m", "tailmerge", "follow", "logs/**/*.log", "-o", str(out), "--format", "jsonl",
                             "--poll-interval", "3600"], cwd=tmp_path, stderr=subprocess.PIPE)  # fmt: skip
    try:
        wait_for(lambda: len(file_lines(out)) == 1, what="the first file")
        (tmp_path / "logs" / "new" / "deeper").mkdir(parents=True)
        time.sleep(0.2)  # let the new folders be watched, then write in them
        write(tmp_path / "logs" / "new" / "deeper" / "second.log", "second\n")
        wait_for(lambda: len(file_lines(out)) == 2, what="the file in a new folder")
        (tmp_path / "logs" / "gone").mkdir()
        time.sleep(0.2)  # watched
        (tmp_path / "logs" / "gone").rmdir()
        time.sleep(0.2)  # its watch went with it
        (tmp_path / "logs" / "gone").mkdir()  # the same name, a new folder: to be watched afresh
        time.sleep(0.2)
        write(tmp_path / "logs" / "gone" / "third.log", "third\n")
        wait_for(lambda: len(file_lines(out)) == 3, what="the file in a folder made again")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    paths = [json.loads(line)["path"] for line in file_lines(out)]
    assert paths == ["logs/first.log", "logs/new/deeper/second.log", "logs/gone/third.log"]


# -- kept: regular files only, each once --------------------------------------------------------------


def test_only_regular_files_and_each_once(tmp_path: Path, chdir: Path) -> None:
    write(tmp_path / "g" / "a.log")
    (tmp_path / "g" / "dir.log").mkdir()
    os.mkfifo(tmp_path / "g" / "fifo.log")
    (tmp_path / "g" / "dangling.log").symlink_to("nowhere")
    d = Discovery(["g/*.log", "g/?.log", f"{tmp_path}/g/*.log"])
    assert d.step() == ["g/a.log"]
    assert d.step() == []
    write(tmp_path / "g" / "nowhere")  # the dangling link now names a regular file
    assert d.step() == ["g/dangling.log"]
