"""The pure parts, without files: the watch table, the decisions on positions, the follow plan, the three
engines over one scripted follower, the hand-off and the stop token, and the shape of the code itself."""

from __future__ import annotations

import argparse
import ast
import asyncio
import dataclasses
import threading
import time
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import tailmerge
from tailmerge.bridge import Handoff, StopToken
from tailmerge.cli.parser import build_parser, options_from
from tailmerge.core import Change, Chunk, Identity, Wait, follow_path, look, pace
from tailmerge.merge import Merge
from tailmerge.options import Engine, OptionArgs, Options
from tailmerge.run import Run, run_async, run_blocking
from tailmerge.sinks import LineQueue
from tailmerge.sources import Source
from tailmerge.watch import Event, WatchTable

from .conftest import wait_for

SRC = Path(tailmerge.__file__).parent

# -- the watch table ----------------------------------------------------------------------------------


class Rec:
    """A signal that records how often it was set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    def set(self) -> None:
        self.calls += 1

    def __repr__(self) -> str:
        return f"Rec({self.name})"


@pytest.fixture
def table() -> WatchTable:
    t = WatchTable()
    t.add_dir("/logs", 1)
    t.add_dir("/other", 2)
    return t


def test_a_change_in_a_folder_wakes_only_the_followers_of_that_name(table: WatchTable) -> None:
    a, b, c, finder = Rec("a"), Rec("b"), Rec("c"), Rec("finder")
    table.add_name("/logs/a.log", a)
    table.add_name("/logs/b.log", b)
    table.add_name("/other/a.log", c)  # the same name in another folder
    table.add_any("/logs", finder)
    reaction = table.on_event(1, Event.CHANGED, "a.log")
    assert reaction.wake == {a}
    assert reaction.rewatch == [] and reaction.relink == [] and reaction.remove_wd is None
    assert table.on_event(2, Event.CHANGED, "a.log").wake == {c}
    assert table.on_event(1, Event.CHANGED, "nobody.log").wake == set()


def test_a_threading_event_is_a_signal(table: WatchTable) -> None:
    ev = threading.Event()
    table.add_name("/logs/a.log", ev)
    for sig in table.on_event(1, Event.CHANGED, "a.log").wake:
        sig.set()
    assert ev.is_set()


def test_a_new_entry_wakes_discovery_and_resolves_paths_waiting_below_it(table: WatchTable) -> None:
    a, finder, deep, exact, beside = Rec("a"), Rec("finder"), Rec("deep"), Rec("exact"), Rec("beside")
    table.add_name("/logs/a.log", a)
    table.add_any("/logs", finder)
    table.add_pending("/logs/new/sub/x.log", deep)
    table.add_pending("/logs/new", exact)
    table.add_pending("/logs/newer/y.log", beside)  # shares a prefix, not a folder
    reaction = table.on_event(1, Event.ENTRY, "new")
    assert reaction.wake == {finder, deep, exact}
    assert sorted(reaction.rewatch, key=lambda r: r[0]) == [("/logs/new", exact), ("/logs/new/sub/x.log", deep)]
    assert reaction.remove_wd is None
    # resolved once: the next entry finds them gone from the pending list
    assert table.on_event(1, Event.ENTRY, "new").rewatch == []
    # an entry event about a followed name wakes it too (created again after a deletion)
    assert table.on_event(1, Event.ENTRY, "a.log").wake == {a, finder}
    # a content change is no new entry: discovery sleeps on
    assert finder not in table.on_event(1, Event.CHANGED, "other.log").wake


def test_a_symlink_entry_asks_for_its_target_to_be_resolved_again(table: WatchTable) -> None:
    link = Rec("link")
    table.add_name("/logs/current.log", link)
    table.add_link("/logs/current.log", link)
    reaction = table.on_event(1, Event.ENTRY, "current.log")
    assert reaction.relink == [("/logs/current.log", link)]
    assert link in reaction.wake


def test_a_folder_gone_rewatches_its_names_and_asks_to_remove_its_watch(table: WatchTable) -> None:
    a, b, finder, elsewhere = Rec("a"), Rec("b"), Rec("finder"), Rec("elsewhere")
    table.add_name("/logs/a.log", a)
    table.add_name("/logs/b.log", b)
    table.add_any("/logs", finder)
    table.add_name("/other/x.log", elsewhere)
    reaction = table.on_event(1, Event.GONE, None)
    assert sorted(reaction.rewatch, key=lambda r: r[0]) == [("/logs/a.log", a), ("/logs/b.log", b)]
    assert reaction.wake == {a, b, finder}
    assert reaction.remove_wd == 1
    assert not table.watched("/logs") and table.watched("/other")
    # the watch is forgotten: later events on it mean nothing
    assert table.on_event(1, Event.CHANGED, "a.log") == (set(), [], [], None)


@pytest.mark.parametrize("real_first", [True, False])
def test_a_folder_and_a_symlink_to_it_are_one_watch_and_wake_the_followers_of_both(real_first: bool) -> None:
    # /t/linked -> /t/real: the kernel gives both the same watch; the names followed by either path are
    # woken, in whichever order they were watched (a symlink to a file in /t/real first lost them)
    t = WatchTable()
    by_link, by_real = Rec("by link"), Rec("by real")
    order = [("/t/real", "/t/real/c.log", by_real), ("/t/linked", "/t/linked/b.log", by_link)]
    for folder, path, signal in order if real_first else order[::-1]:
        t.add_dir(folder, 7)
        t.add_name(path, signal)
    assert t.on_change(7, "c.log") == {by_real} and t.on_change(7, "b.log") == {by_link}
    assert t.on_event(7, Event.CHANGED, "c.log").wake == {by_real}
    reaction = t.on_event(7, Event.GONE, None)  # both names go, each followed again by the path it gave
    assert sorted(reaction.rewatch, key=lambda r: r[0]) == [("/t/linked/b.log", by_link), ("/t/real/c.log", by_real)]
    assert reaction.wake == {by_link, by_real} and reaction.remove_wd == 7
    assert not t.watched("/t/real") and not t.watched("/t/linked")


def test_a_watch_the_kernel_removed_is_not_removed_again(table: WatchTable) -> None:
    a = Rec("a")
    table.add_name("/logs/a.log", a)
    reaction = table.on_event(1, Event.IGNORED, None)
    assert reaction.remove_wd is None
    assert reaction.rewatch == [("/logs/a.log", a)] and reaction.wake == {a}
    assert not table.watched("/logs")


def test_a_folder_made_anew_takes_its_followers_to_its_new_watch(table: WatchTable) -> None:
    # the old folder's removal is reported late while a file in it is held open: the new folder (same
    # path, new watch) must wake the same followers, and the old watch's events mean nothing
    a, finder = Rec("a"), Rec("finder")
    table.add_name("/logs/a.log", a)
    table.add_any("/logs", finder)
    table.add_dir("/logs", 7)
    assert table.on_event(7, Event.ENTRY, "a.log").wake == {a, finder}
    assert table.on_event(1, Event.CHANGED, "a.log") == (set(), [], [], None)
    table.add_dir("/logs", 7)  # the same watch again: nothing changes
    assert table.on_event(7, Event.CHANGED, "a.log").wake == {a}


def test_an_overflow_wakes_everyone(table: WatchTable) -> None:
    a, c, finder, waiting = Rec("a"), Rec("c"), Rec("finder"), Rec("waiting")
    table.add_name("/logs/a.log", a)
    table.add_name("/other/c.log", c)
    table.add_any("/logs", finder)
    table.add_pending("/logs/later/z.log", waiting)
    reaction = table.on_event(-1, Event.OVERFLOW, None)
    assert reaction.wake == {a, c, finder, waiting}
    assert reaction.rewatch == [] and reaction.remove_wd is None


def test_an_unknown_watch_does_nothing(table: WatchTable) -> None:
    table.add_name("/logs/a.log", Rec("a"))
    for event in (Event.CHANGED, Event.ENTRY, Event.GONE, Event.IGNORED):
        assert table.on_event(99, event, "a.log") == (set(), [], [], None)
    assert table.watched("/logs")


def test_a_removed_follower_is_no_longer_woken(table: WatchTable) -> None:
    a, other, link, waiting = Rec("a"), Rec("other"), Rec("link"), Rec("waiting")
    table.add_name("/logs/a.log", a)
    table.add_name("/logs/a.log", other)
    table.add_name("/logs/l.log", link)
    table.add_link("/logs/l.log", link)
    table.add_pending("/logs/new/w.log", waiting)
    table.remove("/logs/a.log", a)
    table.remove("/logs/l.log", link)
    table.remove("/logs/new/w.log", waiting)
    assert table.on_event(1, Event.CHANGED, "a.log").wake == {other}
    assert table.on_event(1, Event.ENTRY, "l.log") == (set(), [], [], None)
    reaction = table.on_event(1, Event.ENTRY, "new")
    assert waiting not in reaction.wake and all(sig is not waiting for _, sig in reaction.rewatch)
    assert table.on_event(-1, Event.OVERFLOW, None).wake == {other}


# -- decisions on positions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pos", "size", "starts_same", "change"),
    [
        (10, 10, True, Change.SAME),
        (10, 25, True, Change.GREW),
        (0, 0, True, Change.SAME),
        (10, 4, True, Change.TRUNCATED),
        (10, 4, False, Change.TRUNCATED),  # shorter decides, whatever the first bytes
        (10, 0, True, Change.TRUNCATED),
        (10, 25, False, Change.REWRITTEN),
        (10, 10, False, Change.REWRITTEN),
    ],
)
def test_look(pos: int, size: int, starts_same: bool, change: Change) -> None:
    assert look(pos, size, starts_same=starts_same) is change


FILE, OTHER = Identity(8, 100), Identity(8, 200)


@pytest.mark.parametrize(
    ("at_path", "linked", "change"),
    [
        (FILE, True, Change.SAME),
        (None, True, Change.MOVED),
        (OTHER, True, Change.ROTATED),
        (OTHER, False, Change.REPLACED),
        (None, False, Change.DELETED),
        (Identity(9, 100), True, Change.ROTATED),  # the same inode on another device is another file
    ],
)
def test_follow_path(at_path: Identity | None, linked: bool, change: Change) -> None:
    assert follow_path(FILE, at_path, linked=linked) is change


# -- the follow plan ------------------------------------------------------------------------------

Step = list[str] | BaseException


class Scripted:
    """A follower that returns what it is told, step by step, then nothing."""

    def __init__(self, path: str, steps: Sequence[Step], final: Sequence[str] = ()) -> None:
        self.path = path
        self.stream = False
        self.ended = False
        self.rotating = False
        self.caught_up = False
        self.deadline: float | None = None
        self._steps = list(steps)
        self._final = list(final)
        self.looks = 0
        self.finished: list[bool] = []

    def step(self) -> list[str]:
        self.looks += 1
        if not self._steps:
            return []
        item = self._steps.pop(0)
        if isinstance(item, BaseException):
            raise item
        return list(item)

    def finish(self, complete: bool, quiet: bool = False) -> list[str]:
        self.finished.append(complete)
        return list(self._final)

    def next_deadline(self) -> float | None:
        return self.deadline


def plan(follower: Scripted, *, follow: bool = True, event_driven: bool = True) -> Iterator[list[str] | Wait]:
    return pace(follower, follow=follow, event_driven=event_driven, poll_interval=0.1, poll_max=0.5)


def take(it: Iterator[list[str] | Wait], n: int) -> list[list[str] | Wait]:
    return [next(it) for _ in range(n)]


def test_event_driven_items_are_yielded_and_waits_are_for_the_signal() -> None:
    f = Scripted("a", [["1", "2"], [], ["3"]])
    assert take(plan(f), 5) == [["1", "2"], Wait(None), ["3"], Wait(None), Wait(None)]


def test_a_caught_up_follower_waits_for_its_signal_without_looking_again() -> None:
    f = Scripted("a", [["1"], ["2"]])
    f.caught_up = True
    assert take(plan(f), 3) == [["1"], Wait(None), ["2"]]
    assert f.looks == 2  # one look per wake-up: none that would find nothing
    for kind in ({"follow": False}, {"event_driven": False}):  # neither ends nor polls before a look
        f = Scripted("a", [["1"], ["2"]])
        f.caught_up = True
        assert take(plan(f, **kind), 2) == [["1"], ["2"]]


def test_a_polled_follower_backs_off_to_poll_max_and_resets_after_items() -> None:
    f = Scripted("a", [[], [], [], [], [], ["x"], []])
    waits = take(plan(f, event_driven=False), 7)
    assert waits[5] == ["x"]
    timeouts = [w.timeout for w in waits if isinstance(w, Wait)]
    assert timeouts == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5, 0.1])


def test_a_rotating_event_driven_follower_polls_until_its_deadline() -> None:
    f = Scripted("a", [])
    f.rotating = True
    it = plan(f)
    assert [w.timeout for w in take(it, 3) if isinstance(w, Wait)] == pytest.approx([0.1, 0.2, 0.4])
    f.deadline = time.monotonic() + 0.05  # sooner than the next poll
    w = next(it)
    assert isinstance(w, Wait) and w.timeout is not None and 0.0 < w.timeout <= 0.05
    f.rotating = False
    f.deadline = time.monotonic() + 30  # event-driven again: only the deadline bounds the wait
    w = next(it)
    assert isinstance(w, Wait) and w.timeout is not None and 29 < w.timeout <= 30
    f.deadline = time.monotonic() - 1  # overdue: look again at once
    assert next(it) == Wait(0.0)


def test_without_follow_the_plan_ends_at_the_first_empty_look() -> None:
    f = Scripted("a", [["1"], ["2"], [], ["never"]])
    assert list(plan(f, follow=False)) == [["1"], ["2"]]
    assert f.looks == 3
    assert f.finished == []  # finishing is the driver's part


def test_an_os_error_ends_the_plan_and_names_the_path(caplog: pytest.LogCaptureFixture) -> None:
    f = Scripted("gone.log", [["1"], OSError(5, "Input/output error"), ["never"]])
    assert list(plan(f)) == [["1"]]
    assert "gone.log" in caplog.text and "no longer followed" in caplog.text


def test_other_errors_go_through_the_plan() -> None:
    f = Scripted("a", [ValueError("bug")])
    with pytest.raises(ValueError, match="bug"):
        list(plan(f))


# -- the three engines over one script ------------------------------------------------------------


class ChunkScript:
    """A follower of chunks, following a script; stamps its lines with a fake identity."""

    def __init__(
        self, path: str, ino: int, steps: Sequence[Sequence[bytes] | BaseException], final: bytes = b""
    ) -> None:
        self.path = path
        self.stream = False
        self.ended = False
        self.rotating = False
        self.caught_up = False
        self._file = Identity(0, ino)
        self._offset = 0
        self._steps = list(steps)
        self._final = final
        self.finished: list[bool] = []
        self.threads: set[str] = set()

    def _chunk(self, lines: Sequence[bytes], added: bool = False) -> Chunk:
        data = b"".join(lines)
        self._offset += len(data) - added
        return Chunk(data, self._offset, added, self._file)

    def open(self) -> None:
        pass  # nothing to open: the script is in memory

    def identities(self) -> list[Identity]:
        return [self._file]

    def step(self) -> list[Chunk]:
        self.threads.add(threading.current_thread().name)
        if not self._steps:
            return []
        item = self._steps.pop(0)
        if isinstance(item, BaseException):
            raise item
        return [self._chunk(item)] if item else []

    def finish(self, complete: bool, quiet: bool = False) -> list[Chunk]:
        self.finished.append(complete)
        # a final line without a newline: emitted with one added, as a source does
        return [self._chunk([self._final + b"\n"], added=True)] if complete and self._final else []

    def next_deadline(self) -> float | None:
        return None


class ScriptedRun(Run):
    """A run whose sources are scripted followers: ``new_sources`` registers them as it does real sources,
    and only the making of a source is replaced."""

    def __init__(self, options: Options, followers: Sequence[ChunkScript]) -> None:
        self.queue = LineQueue()
        self.scripts = {f.path: f for f in followers}
        super().__init__(options, Merge([self.queue]), StopToken(), [f.path for f in followers], None)

    def _source(self, path: str, at_start: bool, abspath: str, real_path: str | None) -> Source:
        return self.scripts[path]  # type: ignore[return-value]

    def lines(self) -> dict[str, list[tuple[bytes, int, Identity | None]]]:
        got: dict[str, list[tuple[bytes, int, Identity | None]]] = {}
        while (batches := self.queue.get()) is not None:  # the run has finished: this never waits
            for batch in batches:
                for line in batch:
                    got.setdefault(line.path, []).append((line.data, line.offset, line.file))
        return got


def script(tmp: Path) -> list[ChunkScript]:
    # paths that exist nowhere: nothing is opened, stat'ed or watched for real
    return [
        ChunkScript(str(tmp / "a"), 1, [[b"a1\n", b"a2\n"], [], [b"a3\n"], [], [], [b"a4\n"]], final=b"a-last"),
        ChunkScript(str(tmp / "b"), 2, [[], [b"b1\n"], [b"b2\n", b"b3\n"]]),
        ChunkScript(str(tmp / "c"), 3, [OSError(5, "Input/output error"), [b"never\n"]]),
    ]


def deliver(engine: Engine, followers: Sequence[ChunkScript], blocking: bool = False, **opts: Any) -> ScriptedRun:
    options = Options(engine=engine, watch="poll", poll_interval=0.005, **opts)
    run = ScriptedRun(options, followers)
    if blocking:
        run_blocking(run)
    else:
        asyncio.run(asyncio.wait_for(run_async(run), 10))
    return run


EXPECTED_FOLLOWED = {
    "a": [(b"a1\n", 3), (b"a2\n", 6), (b"a3\n", 9), (b"a4\n", 12)],
    "b": [(b"b1\n", 3), (b"b2\n", 6), (b"b3\n", 9)],
}


@pytest.mark.parametrize("mode", ["asyncio", "mixed", "threads", "threads-blocking"])
def test_every_engine_delivers_the_same_script(tmp_path: Path, mode: str) -> None:
    engine = typing.cast(Engine, mode.removesuffix("-blocking"))
    # follow=False: every empty look ends a source, so the script runs up to its first gap
    once = deliver(engine, script(tmp_path), blocking=mode.endswith("blocking"), follow=False)
    got = {Path(p).name: [(d, o) for d, o, _ in lines] for p, lines in once.lines().items()}
    assert got == {"a": [(b"a1\n", 3), (b"a2\n", 6), (b"a-last\n", 12)]}
    assert [f.finished for f in once.scripts.values()] == [[True], [True], [True]]
    assert once.token.reason == "done" and once.token.error is None
    # following: the gaps are waited through; the run ends when nothing grows for a while (a stop)
    followed = deliver(engine, script(tmp_path), blocking=mode.endswith("blocking"), idle_timeout=0.3)
    lines = followed.lines()
    assert {Path(p).name: [(d, o) for d, o, _ in ls] for p, ls in lines.items()} == EXPECTED_FOLLOWED
    assert {ident for ls in lines.values() for _, _, ident in ls} == {Identity(0, 1), Identity(0, 2)}
    scripts = followed.scripts
    # a stop leaves the final line unread; the source that failed was finished at its error
    assert [f.finished for f in scripts.values()] == [[False], [False], [True]]
    assert followed.token.reason == "idle"
    assert followed.merge.consumed == {str(tmp_path / "a"): 12, str(tmp_path / "b"): 9}
    if engine == "asyncio":
        assert all(f.threads == {threading.main_thread().name} for f in scripts.values())
    else:
        assert all(threading.main_thread().name not in f.threads for f in scripts.values())


def test_an_error_in_a_follower_ends_the_run_and_is_raised_by_every_engine(tmp_path: Path, engine: Engine) -> None:
    quiet = ChunkScript(str(tmp_path / "quiet"), 1, [[b"q\n"]])
    broken = ChunkScript(str(tmp_path / "broken"), 2, [[b"x\n"], [], RuntimeError("scripted bug")])
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="scripted bug"):
        deliver(engine, [quiet, broken])
    assert time.monotonic() - started < 5  # the quiet follower, waiting forever, was stopped
    assert quiet.finished == [False]


# -- the hand-off ---------------------------------------------------------------------------------


def _blocked_producer(h: Handoff[str], item: str, size: int) -> threading.Thread:
    t = threading.Thread(target=h.put, args=(item, size), daemon=True)
    t.start()
    t.join(0.1)
    return t


def test_block_policy_makes_a_thread_wait_until_the_consumer_takes() -> None:
    h: Handoff[str] = Handoff(2)
    h.put("a", 2)
    t = _blocked_producer(h, "b", 1)
    assert t.is_alive() and h.size == 2
    assert h.get() == ["a"]
    t.join(2)
    assert not t.is_alive()
    assert h.get() == ["b"]


def test_block_policy_lets_a_too_big_item_into_an_empty_queue() -> None:
    h: Handoff[str] = Handoff(2)
    h.put("huge", 100)  # would never fit: it waits only for the queue to empty
    assert h.size == 100 and h.get() == ["huge"]


def test_block_policy_makes_a_coroutine_await_until_the_consumer_takes() -> None:
    async def main() -> None:
        h: Handoff[str] = Handoff(2)
        await h.aput("a", 2)
        task = asyncio.create_task(h.aput("b", 1))
        await asyncio.sleep(0.05)
        assert not task.done()
        taken = await asyncio.to_thread(h.get)  # the consumer on another thread
        assert taken == ["a"]
        await asyncio.wait_for(task, 2)
        assert await h.aget() == ["b"]

    asyncio.run(main())


def test_release_lets_waiting_producers_through_and_keeps_their_items() -> None:
    h: Handoff[str] = Handoff(2)
    h.put("a", 2)
    t = _blocked_producer(h, "b", 2)
    assert t.is_alive()
    h.release()
    t.join(2)
    assert not t.is_alive()
    h.put("c", 5)  # released: never waits again
    assert h.get() == ["a", "b", "c"]


def test_release_lets_awaiting_producers_through() -> None:
    async def main() -> None:
        h: Handoff[str] = Handoff(1)
        await h.aput("a", 1)
        task = asyncio.create_task(h.aput("b", 1))
        await asyncio.sleep(0.01)
        assert not task.done()
        threading.Thread(target=h.release).start()
        await asyncio.wait_for(task, 2)
        assert h.take_nowait() == ["a", "b"]

    asyncio.run(main())


def test_close_drops_what_is_queued_and_what_comes() -> None:
    h: Handoff[str] = Handoff(2)
    h.put("a", 2)
    t = _blocked_producer(h, "b", 2)
    h.close()
    t.join(2)
    assert not t.is_alive()
    h.put("c", 1)
    assert h.size == 0 and h.take_nowait() == []
    h.end()
    assert h.get() is None


def test_wait_drained_waits_until_a_holding_consumer_is_done() -> None:
    h: Handoff[str] = Handoff(2)
    h.wait_drained()  # nothing put: at once
    h.put("a", 1)
    assert h.take_nowait(hold=True) == ["a"]
    t = threading.Thread(target=h.wait_drained, daemon=True)
    t.start()
    t.join(0.1)
    assert t.is_alive()  # taken but still held
    h.done()
    t.join(2)
    assert not t.is_alive()


def test_wait_drained_never_waits_once_released() -> None:
    h: Handoff[str] = Handoff(2)
    h.put("a", 1)
    t = threading.Thread(target=h.wait_drained, daemon=True)
    t.start()
    t.join(0.1)
    assert t.is_alive()
    h.release()
    t.join(2)
    assert not t.is_alive()


def test_lag_policy_drops_the_oldest_and_counts_them() -> None:
    h: Handoff[str] = Handoff(3, "lag")
    for i in range(5):
        h.put(str(i), 1)  # never waits
    assert h.dropped == 2 and h.dropped_size == 2
    h.put("big", 2)
    assert h.dropped == 4 and h.dropped_size == 4  # "2" and "3" made room
    assert h.get() == ["4", "big"]


def test_lag_policy_keeps_the_newest_item_even_when_too_big() -> None:
    h: Handoff[str] = Handoff(3, "lag")
    h.put("a", 1)
    h.put("huge", 10)
    assert h.get() == ["huge"] and h.dropped == 1 and h.dropped_size == 1


def test_get_waits_for_an_item_then_returns_none_once_ended_and_drained() -> None:
    h: Handoff[str] = Handoff(10)
    assert h.get(timeout=0.01) == []
    threading.Timer(0.05, h.put, args=("late", 1)).start()
    assert h.get(timeout=5) == ["late"]
    h.put("x", 1)
    h.end()
    assert h.get() == ["x"]
    assert h.get() is None and h.take_nowait() is None
    assert asyncio.run(h.aget()) is None


def test_on_change_is_called_when_something_comes() -> None:
    calls: list[int] = []
    h: Handoff[str] = Handoff(10, on_change=lambda: calls.append(h.size))
    h.put("a", 3)
    assert calls == [3]
    h.get()
    assert calls == [3]  # taking is nothing new for the consumer
    h.end()
    assert len(calls) == 2


# -- the stop token -------------------------------------------------------------------------------


def test_the_first_reason_wins_and_the_first_error_is_kept() -> None:
    token = StopToken()
    assert not token.is_set() and token.reason is None
    token.stop("idle")
    token.stop("signal")
    assert token.reason == "idle" and token.is_set() and token.stopped_at is not None
    first, second = OSError("first"), OSError("second")
    token.fail(first)  # an error met while stopping is still recorded
    token.fail(second)
    assert token.reason == "idle" and token.error is first


def test_fail_stops_with_reason_error() -> None:
    token = StopToken()
    boom = ValueError("boom")
    token.fail(boom)
    assert token.reason == "error" and token.error is boom


def test_on_stop_is_called_once_and_at_once_when_already_stopped() -> None:
    token = StopToken()
    calls: list[str] = []
    token.on_stop(lambda: calls.append("early"))
    forgotten = token.on_stop(lambda: calls.append("forgotten"))
    token.forget(forgotten)
    token.stop("done")
    token.stop("signal")
    assert calls == ["early"]
    assert token.on_stop(lambda: calls.append("late")) == 0
    assert calls == ["early", "late"]


def test_wait_wakes_when_stopped_from_another_thread() -> None:
    token = StopToken()
    assert token.wait(0.01) is False
    threading.Timer(0.05, token.stop, args=("signal",)).start()
    started = time.monotonic()
    assert token.wait(5) is True
    assert time.monotonic() - started < 2


def test_wait_async_wakes_when_stopped_from_another_thread() -> None:
    async def main() -> None:
        token = StopToken()
        assert await token.wait_async(0.01) is False
        threading.Timer(0.05, token.stop, args=("signal",)).start()
        assert await asyncio.wait_for(token.wait_async(), 5) is True
        assert await token.wait_async() is True  # already stopped: at once

    asyncio.run(main())


def relays() -> int:
    """Relay threads of linked stop flags now running (other tests' threads may still be ending)."""
    return sum(t.name == "tailmerge stop_event" for t in threading.enumerate())


def test_a_linked_threading_event_stops_with_reason_stop_event_and_its_thread_ends() -> None:
    before = relays()
    token = StopToken()
    flag = threading.Event()
    unlink = token.link(flag)
    assert relays() == before + 1
    flag.set()
    assert token.wait(2) and token.reason == "stop_event"
    unlink()
    assert relays() == before


def test_unlinking_an_unset_event_ends_its_thread_without_stopping() -> None:
    before = relays()
    token = StopToken()
    unlink = token.link(threading.Event())
    unlink()
    assert relays() == before and not token.is_set()
    # stopped for another reason: the relay ends too
    unlink = token.link(threading.Event())
    token.stop("done")
    wait_for(lambda: relays() == before, timeout=1, what="the relay thread's end")
    unlink()
    assert token.reason == "done"


def test_a_flag_that_can_only_be_looked_at_is_polled() -> None:
    class Flag:
        value = False

        def is_set(self) -> bool:
            return self.value

    before = relays()
    token = StopToken()
    flag = Flag()
    unlink = token.link(flag)
    flag.value = True
    assert token.wait(2) and token.reason == "stop_event"
    unlink()
    assert relays() == before


def test_a_linked_asyncio_event_stops_with_reason_stop_event() -> None:
    async def main() -> None:
        token = StopToken()
        flag = asyncio.Event()
        unlink = token.link(flag)
        asyncio.get_running_loop().call_later(0.02, flag.set)
        assert await asyncio.wait_for(token.wait_async(), 2)
        assert token.reason == "stop_event"
        unlink()
        quiet = StopToken()
        unlink = quiet.link(asyncio.Event())
        unlink()
        for _ in range(3):
            await asyncio.sleep(0)
        assert not quiet.is_set()
        assert len(asyncio.all_tasks()) == 1  # only main: the awaiting task was cancelled

    asyncio.run(main())


# -- options defined once -------------------------------------------------------------------------


def test_every_option_is_a_keyword_of_the_api_with_the_same_type() -> None:
    option_types = typing.get_type_hints(Options)
    arg_types = typing.get_type_hints(OptionArgs)
    assert [f.name for f in dataclasses.fields(Options)] == list(arg_types)
    assert {f.name: option_types[f.name] for f in dataclasses.fields(Options)} == arg_types


def _follow_parser() -> argparse.ArgumentParser:
    parser = build_parser("test")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    follow = sub.choices["follow"]
    assert isinstance(follow, argparse.ArgumentParser)
    return follow


def test_the_command_line_has_one_option_per_field_with_the_same_default() -> None:
    parser = _follow_parser()
    dests = [a.dest for a in parser._actions]
    for f in dataclasses.fields(Options):
        # a field without a flag of its own is set through another one (from_line: --lines +N)
        assert dests.count(f.name) == (f.metadata["flag"] is not None), f.name
    assert options_from(parser.parse_args(["a.log", "-n", "+3"]))["from_line"] == 3
    ns = build_parser("test").parse_args(["follow", "a.log"])
    assert Options(**options_from(ns)) == Options()
    assert options_from(ns) == {f.name: getattr(Options(), f.name) for f in dataclasses.fields(Options)}


def test_every_follow_option_says_its_default() -> None:
    missing = [
        "/".join(a.option_strings)
        for a in _follow_parser()._actions
        if a.option_strings
        and a.nargs != 0  # flags (--no-follow, --append, -v, -h) have no default to say
        and "default" not in (a.help or "")
    ]
    assert missing == []


# -- the shape of the code ------------------------------------------------------------------------


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def test_no_module_is_over_400_lines() -> None:
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def _runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""

    def walk(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from (n for stmt in child.orelse for n in walk_stmt(stmt))
                continue
            yield from walk_stmt(child)

    def walk_stmt(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        else:
            yield from walk(node)

    return walk(tree)


def _import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in mods)
                continue
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target in mods:
                graph[name].add(target)
            # ``from . import x``: x may be a module
            graph[name].update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods)
        graph[name].discard(name)
    return graph


def test_the_import_graph_has_no_cycle() -> None:
    graph = _import_graph()
    assert "tailmerge.core.pace" in graph and "tailmerge.core" in graph["tailmerge.run.pipeline"]
    state: dict[str, int] = {}  # 1: on the path, 2: done
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_core_does_no_io_and_no_concurrency() -> None:
    banned = {"os", "threading", "asyncio", "selectors", "socket"}
    found: dict[str, set[str]] = {}
    for name, path in _modules().items():
        if not name.startswith("tailmerge.core"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                tops = {(node.module or "").split(".")[0]}
            else:
                continue
            if tops & banned:
                found.setdefault(name, set()).update(tops & banned)
    assert found == {}
