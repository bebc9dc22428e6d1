"""The time-order buffer (pure): what goes in, in what order it comes out, and what is held."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tailmerge.core import NO_TIME, Chunk, Release, SourceClock, TimedRun, TimeOrder, TimeParser, Window


def unit(source: int, n: int, time: float | None) -> TimedRun:
    """A run of one line ``source-n`` at ``time``."""
    data = b"%d-%d\n" % (source, n)
    return TimedRun(Chunk(data, n + 1), [len(data)], [NO_TIME if time is None else time], [time])


def runs(releases: list[Release]) -> list[tuple[int, list[Chunk]]]:
    return [run for r in releases for run in r.runs()]


def names(releases: list[Release]) -> list[bytes]:
    """Each unit released, in order: as the runs give it (by the merged order's indexes), checked against
    the lines a raw sink joins (sorted themselves)."""
    out = [c.data for _, chunks in runs(releases) for c in chunks]
    assert [line + b"\n" for r in releases for line in r.lines()] == out
    return out


sorted_times = st.lists(st.integers(0, 50), max_size=12).map(sorted)


@settings(max_examples=60, deadline=None)
@given(st.lists(sorted_times, min_size=1, max_size=5), st.data())
def test_an_exact_merge_is_a_stable_sort_of_sorted_sources(sources: list[list[int]], data: st.DataObject) -> None:
    order = TimeOrder(None)
    for key in range(len(sources)):
        order.add_source(key, 0.0)
    pending = [[unit(k, n, float(t)) for n, t in enumerate(times)] for k, times in enumerate(sources)]
    # the sources' units arrive interleaved at random, in twos or ones; each ends after its last
    turns = data.draw(
        st.permutations([k for k, units in enumerate(pending) for _ in units] + list(range(len(pending))))
    )
    out: list[bytes] = []
    for key in turns:
        if pending[key]:
            units, pending[key] = pending[key][:2], pending[key][2:]
            out += names(order.add(key, units, 0.0) + order.release(0.0))
        elif not order._queues[key].ended:
            order.end(key)
            out += names(order.release(0.0))
    out += names(order.flush())
    everything = [(t, k, n) for k, times in enumerate(sources) for n, t in enumerate(times)]
    assert out == [b"%d-%d\n" % (k, n) for _, k, n in sorted(everything)]
    assert order.late == 0


def test_a_source_with_nothing_yet_holds_the_others_until_it_ends() -> None:
    order = TimeOrder(None)
    order.add_source(0, 0.0)
    order.add_source(1, 0.0)
    assert order.add(0, [unit(0, 0, 5.0)], 0.0) + order.release(0.0) == []
    assert order.held(0) == len(b"0-0\n")
    assert names(order.add(1, [unit(1, 0, 3.0)], 0.0) + order.release(0.0)) == [b"1-0\n"]
    order.end(1)
    assert names(order.release(0.0)) == [b"0-0\n"]


def test_live_units_wait_at_most_the_lateness_and_later_ones_are_counted() -> None:
    order = TimeOrder(1.0)
    order.add_source(0, 0.0)
    order.add_source(1, 0.0)
    assert order.add(0, [unit(0, 0, 10.0)], 0.2) + order.release(0.2) == []
    assert order.next_deadline() == 1.2
    assert names(order.release(1.2)) == [b"0-0\n"]  # source 1 said nothing: 0-0 goes when its time is up
    # source 1's earlier line now comes too late: out at once, and counted
    assert names(order.add(1, [unit(1, 0, 9.0)], 1.3)) == [b"1-0\n"]
    assert order.late == 1


def test_a_quiet_source_does_not_hold_the_others_back() -> None:
    order = TimeOrder(1.0)
    order.add_source(0, 0.0)
    order.add_source(1, 0.0)
    order.add(1, [unit(1, 0, 1.0)], 0.0)
    order.release(0.0)
    # source 1 is past 1.0 and quiet since 0.0; at 1.5 source 0's line at 2.0 need not wait for it
    assert names(order.add(0, [unit(0, 0, 2.0)], 1.5) + order.release(1.5)) == [b"1-0\n", b"0-0\n"]


def test_a_runs_of_one_source_comes_as_one_release_and_each_source_keeps_its_order() -> None:
    order = TimeOrder(None)
    for key in (0, 1):
        order.add_source(key, 0.0)
    order.add(0, [unit(0, 0, 1.0), unit(0, 1, 2.0), unit(0, 2, 0.5), unit(0, 3, 9.0)], 0.0)
    order.add(1, [unit(1, 0, 5.0)], 0.0)
    order.end(0)
    order.end(1)
    releases = order.release(0.0)
    # 0-2 is earlier than 0-1 but stays after it: a file's order is never changed
    assert [(k, [c.data for c in cs]) for k, cs in runs(releases)] == [
        (0, [b"0-0\n", b"0-1\n", b"0-2\n"]),
        (1, [b"1-0\n"]),
        (0, [b"0-3\n"]),
    ]


def test_runs_are_released_as_slices_of_their_chunk_with_exact_offsets() -> None:
    parse = {b"a 1": 1.0, b"b 3": 3.0, b"c 5": 5.0, b"d 2": 2.0, b"e 4": 4.0}.get
    first, second = SourceClock(parse), SourceClock(parse)
    one, two = b"a 1\nb 3\nc 5\n", b"d 2\ne 4\n"
    order = TimeOrder(None)
    order.add_source(0, 0.0)
    order.add_source(1, 0.0)
    order.add(0, first.runs([Chunk(one, 100 + len(one))]), 0.0)
    order.add(1, second.runs([Chunk(two, len(two))]), 0.0)
    order.end(0)
    order.end(1)
    out = [(k, c.data, c.end, c.times) for k, cs in runs(order.release(0.0)) for c in cs]
    assert out == [
        (0, b"a 1\n", 104, (1.0,)),
        (1, b"d 2\n", 4, (2.0,)),
        (0, b"b 3\n", 108, (3.0,)),
        (1, b"e 4\n", 8, (4.0,)),
        (0, b"c 5\n", 112, (5.0,)),
    ]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=12), min_size=1, max_size=4), st.data())
def test_the_bytes_released_are_counted_a_run_at_a_time_and_where_the_first_held_one_was_cut(
    sources: list[list[int]], data: st.DataObject
) -> None:
    """No unit's bytes are counted as it goes: a source's released bytes are its wholly released runs
    plus where its first held run was cut, equal at every step to the sizes of what went (counted only
    when asked), and a run counts as held whole until its last unit goes. Live mode too (late units)."""
    lateness = data.draw(st.sampled_from([None, 5.0]))
    order = TimeOrder(lateness)
    for key in range(len(sources)):
        order.add_source(key, 0.0)
    # each source's runs: its lines in pieces of 1-4, the last one's newline added by tailmerge (a final
    # line without one), every line's width its own
    pending: list[list[TimedRun]] = []
    total: list[int] = []
    for k, times in enumerate(sources):
        cuts = sorted(data.draw(st.sets(st.integers(1, len(times) - 1), max_size=4)) if len(times) > 1 else [])
        end = 0
        made = []
        for a, b in zip([0, *cuts], [*cuts, len(times)], strict=True):
            units = [b"%d-%d%s" % (k, n, b"x" * (n % 3)) for n in range(a, b)]
            chunk_data = b"".join(u + b"\n" for u in units)
            added = b == len(times) and len(units) == 1
            end += len(chunk_data) - added
            ts = [float(t) for t in sorted(times[a:b])]
            made.append(TimedRun(Chunk(chunk_data, end, added), None, ts, list[float | None](ts), units))
        pending.append(made)
        total.append(end)
    out: list[Release] = []
    for now, key in enumerate(data.draw(st.permutations([k for k, runs in enumerate(pending) for _ in runs]))):
        out += order.add(key, [pending[key].pop(0)], float(now)) + order.release(float(now))
        for k in range(len(sources)):
            went = sum(seg.size for r in out for kk, segs in r.parts if kk == k for seg in segs)
            assert order.released_bytes(k) == went
            assert order.held(k) == sum(len(run.chunk.data) for run in order._queues[k].runs)
    for k in range(len(sources)):
        order.end(k)
    out += order.flush()
    assert [order.released_bytes(k) for k in range(len(sources))] == total
    assert [order.held(k) for k in range(len(sources))] == [0] * len(sources)


def test_untimed_lines_take_the_time_before_them_and_the_window_keeps_by_it() -> None:
    times = {b"a 5": 5.0, b"b 8": 8.0, b"c 12": 12.0}
    clock = SourceClock(times.get, Window(since=6.0, until=10.0))
    data = b"untimed\na 5\n  at x\nb 8\n  at y\nc 12\n"
    (run,) = clock.runs([Chunk(data, len(data))])
    kept = run.piece(0, len(run.ends))
    b_end = data.index(b"b 8\n") + 4
    assert (kept.data, kept.end, kept.times) == (b"b 8\n  at y\n", b_end + 7, (8.0, None))
    assert run.times == [8.0, 8.0]


def keyed(source: int, lines: list[bytes]) -> TimedRun:
    """A run of ``lines`` (times at their start, one layout) keyed by their times' texts, as a clock makes it."""
    found = TimeParser().keys_many(lines)
    assert found is not None
    keys, layout, ordered = found
    data = b"".join(line + b"\n" for line in lines)
    return TimedRun(Chunk(data, len(data)), None, keys, None, lines, layout, ordered, keys)


def test_keyed_runs_turn_to_times_when_a_run_of_another_layout_comes() -> None:
    order = TimeOrder(None)
    for key in range(3):
        order.add_source(key, 0.0)
    a = [b"2026-11-25T21:00:0%dZ a%d" % (s, s) for s in (1, 3, 5)]
    b = [b"2026-11-25T21:00:0%d.000Z b%d" % (s, s) for s in (2, 3)]  # another layout: milliseconds
    c = [b"2026-11-25T22:00:03+01:00 c3"]  # 21:00:03 UTC
    assert order.add(0, [keyed(0, a)], 0.0) + order.release(0.0) == []
    assert order.keyed and order.held(0) == sum(len(x) + 1 for x in a)
    assert order.add(1, [keyed(1, b)], 0.0) + order.release(0.0) == []  # source 2 has sent nothing yet
    assert not order.keyed  # the held keys are times now
    out = order.add(2, [keyed(2, c)], 0.0) + order.release(0.0)
    order.end(0)
    order.end(1)
    order.end(2)
    out += order.flush()
    assert [line for r in out for line in r.lines()] == [a[0], b[0], a[1], b[1], c[0], a[2]]
    assert [t for r in out for _, chunks in r.runs() for chunk in chunks for t in chunk.times or ()] == [
        TimeParser().parse(line) for line in (a[0], b[0], a[1], b[1], c[0], a[2])
    ]


def test_keyed_runs_of_one_layout_merge_by_their_texts() -> None:
    order = TimeOrder(None)
    order.add_source(0, 0.0)
    order.add_source(1, 0.0)
    a = [b"2026-11-25T21:00:01.500Z a", b"2026-11-25T21:00:02.000Z a"]
    b = [b"2026-11-25T21:00:01.500Z b", b"2026-11-25T21:00:01.250Z b"]  # equal to a's first; then back
    out = order.add(0, [keyed(0, a)], 0.0) + order.add(1, [keyed(1, b)], 0.0) + order.flush()
    assert order.keyed
    # equal times: the lower source first; b's second line waits as if it had the time before it
    assert [line for r in out for line in r.lines()] == [a[0], b[0], b[1], a[1]]
