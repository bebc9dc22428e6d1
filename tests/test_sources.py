"""A source on real files: where it starts (a saved position, tail's -n, what this run already read)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tailmerge.core import Chunk, Identity, Span
from tailmerge.sinks.contract import as_chunks
from tailmerge.sources import Ledger, Source
from tailmerge.sources.ledger import FileRead
from tailmerge.sources.moved import resume_saved
from tailmerge.sources.start import end_offset, from_line_offset, last_lines_offset


def identity(path: Path) -> Identity:
    st_ = path.stat()
    return Identity(st_.st_dev, st_.st_ino)


def joined(chunks: Sequence[Chunk | Span]) -> bytes:
    """The bytes of chunks (a source without spans makes none)."""
    return b"".join(c.data for c in as_chunks(chunks))


def read_all(source: Source) -> bytes:
    data = joined(source.step())
    source.close()
    return data


def saved(path: Path, file: Identity, offset: int, fingerprint: bytes = b"") -> Ledger:
    """A ledger as a state seeds it: ``path`` was reading ``file`` to ``offset`` when a run stopped."""
    return Ledger([FileRead(str(path), file, fingerprint, offset, finished=False)])


def test_a_source_resumes_at_a_saved_position_of_the_same_file(tmp_path: Path) -> None:
    a = tmp_path / "a.log"
    a.write_bytes(b"one\ntwo\nthree\n")
    source = Source(str(a), max_line_bytes=1024, ledger=saved(a, identity(a), 4, b"one\n"))
    chunks = source.step()
    assert joined(chunks) == b"two\nthree\n"
    assert chunks[0].file == identity(a) and chunks[0].start == 4 and chunks[-1].end == 14
    source.close()


def test_a_saved_position_of_another_file_is_not_applied(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"one\ntwo\n")
    b.write_bytes(b"x\n")
    assert read_all(Source(str(a), max_line_bytes=1024, ledger=saved(a, identity(b), 4))) == b"one\ntwo\n"


def test_the_ledger_resumes_a_file_met_again_under_a_rotated_name(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"line %d\n" % 1 * 50)
    ledger = Ledger()
    first = Source(str(log), max_line_bytes=1024, ledger=ledger, rotate_wait=0.0)
    assert len(first.step()) == 1
    log.rename(tmp_path / "app.log.1")
    log.write_bytes(b"new\n")
    assert joined(first.step()) == b"new\n"  # rotated: the new file is followed
    first.step()  # the rotated file, quiet for rotate_wait, is let go: recorded in the ledger
    first.close()
    with (tmp_path / "app.log.1").open("ab") as f:
        f.write(b"late\n")
    again = Source(str(tmp_path / "app.log.1"), max_line_bytes=1024, ledger=ledger)
    assert read_all(again) == b"late\n"  # the same file: only what came after
    other = tmp_path / "other.log"
    other.write_bytes(b"line 1\n" * 50)  # same first bytes, but not a sibling by name: read whole
    assert read_all(Source(str(other), max_line_bytes=1024, ledger=ledger)) == b"line 1\n" * 50


lines = st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=12)


@settings(max_examples=150, deadline=None)
@given(lines=lines, partial=st.binary(max_size=6).map(lambda b: b.replace(b"\n", b"")), n=st.integers(0, 15))
def test_start_offsets_agree_with_tail(lines: list[bytes], partial: bytes, n: int) -> None:
    data = b"".join(line + b"\n" for line in lines) + partial
    fd = os.memfd_create("t")
    try:
        os.write(fd, data)
        size = len(data)
        all_lines = [line + b"\n" for line in lines] + ([partial] if partial else [])  # only b"\n" ends a line
        # tail -n N: the last N lines, an unfinished last line counting as one
        expected_last = b"".join(all_lines[-n:]) if n else data[end_offset(fd, size, 1 << 20) :]
        assert data[last_lines_offset(fd, size, n, 1 << 20) :] == expected_last
        # tail -n +N: from line N on
        if n >= 1:
            assert data[from_line_offset(fd, size, n) :] == b"".join(all_lines[n - 1 :])
        # --from end: just past the last complete line
        assert data[end_offset(fd, size, 1 << 20) :] == partial
    finally:
        os.close(fd)


def test_a_saved_empty_file_is_never_mistaken_for_a_copy_and_no_copy_is_finished_twice(tmp_path: Path) -> None:
    # copytruncate under SIGKILL restarts: a state that knew app.log only while it was empty (no first bytes to
    # know it by) and the newest copy under another saved read; every sibling "began" with the empty bytes,
    # so the newest copy was finished for both, and its lines came out twice
    app = tmp_path / "app.log"
    for n, first in ((1, 0), (2, 10), (3, 20)):
        (tmp_path / f"app.log.{n}").write_bytes(b"".join(b"line %d\n" % i for i in range(first, first + 10)))
    app.write_bytes(b"")
    copy3 = os.stat(tmp_path / "app.log.3")
    gone = Identity(copy3.st_dev, 1)  # the file the state was reading, under no name now
    saved = [
        FileRead(str(app), gone, b"", 0, finished=False),
        FileRead(str(app), Identity(copy3.st_dev, copy3.st_ino), b"line 20\n", 0, finished=False),
    ]
    _, moved = resume_saved(str(app), Ledger(saved), None)
    try:
        taken = [identity for _, identity, _ in moved]
        assert taken.count(Identity(copy3.st_dev, copy3.st_ino)) == 1
        assert len(taken) == len(set(taken))
    finally:
        for fd, _, _ in moved:
            os.close(fd)
