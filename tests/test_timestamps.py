"""Timestamps: every family read back to the time computed independently with datetime and calendar."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailmerge.core import TimeParser, parse_tz, parse_when
from tailmerge.core.timestamps import key_times

NOW = calendar.timegm((2026, 11, 26, 12, 0, 0))  # a Thursday noon, UTC


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> float:
    return calendar.timegm((year, month, day, hour, minute, second)) + micro / 1e6


def at(
    offset: int, year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0, micro: int = 0
) -> float:
    """The epoch of a wall time at an offset (minutes east of UTC), by datetime."""
    zone = timezone(timedelta(minutes=offset))
    return datetime(year, month, day, hour, minute, sec, micro, tzinfo=zone).timestamp()


def parse(line: bytes, tz: tzinfo | None = UTC) -> float | None:
    """One line read by a new parser (times without a zone in UTC unless told)."""
    return TimeParser(tz=tz, now=NOW).parse(line)


def close(got: float | None, expected: float) -> bool:
    return got is not None and abs(got - expected) < 1e-6


@pytest.fixture
def eastern(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is US Eastern (a POSIX rule: no time zone database needed), daylight saving included."""
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset")
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def zone(name: str) -> tzinfo:
    try:
        return parse_tz(name)
    except ValueError:
        pytest.skip("no time zone database")


# -- ISO 8601 / RFC 3339 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"2026-11-25T21:01:41Z INFO x\n", utc(2026, 11, 25, 21, 1, 41)),
        (b"2026-11-25t21:01:41z x\n", utc(2026, 11, 25, 21, 1, 41)),
        (b"2026-11-25 21:01:41 x\n", utc(2026, 11, 25, 21, 1, 41)),  # no zone: tz (UTC here)
        (b"2026-11-25T21:01:41.123456+01:00 x", at(60, 2026, 11, 25, 21, 1, 41, 123456)),
        (b"2026-11-25T21:01:41.5+0100 x", at(60, 2026, 11, 25, 21, 1, 41, 500000)),
        (b"2026-11-25T21:01:41+01 x", at(60, 2026, 11, 25, 21, 1, 41)),
        (b"2026-11-25T21:01:41-08:00 x", at(-480, 2026, 11, 25, 21, 1, 41)),
        (b"2026-11-25T21:01:41+05:45 x", at(345, 2026, 11, 25, 21, 1, 41)),
        (b"2026-11-25 21:01:41 -0800 x", at(-480, 2026, 11, 25, 21, 1, 41)),
        (b"2026-11-25 21:01:41.250 UTC [42] LOG: x", utc(2026, 11, 25, 21, 1, 41, 250000)),  # PostgreSQL
        (b"2026-11-25 21:01:41,123 - app - INFO - x\n", utc(2026, 11, 25, 21, 1, 41, 123000)),  # Python logging
        (b"2026-11-25 21:01:41.123 - app - INFO - x\n", utc(2026, 11, 25, 21, 1, 41, 123000)),
        (b"2026-11-25T21:01:41.123456789Z x", utc(2026, 11, 25, 21, 1, 41, 123457)),  # nanoseconds
        (b"2026-11-25T21:01Z x", utc(2026, 11, 25, 21, 1)),
        (b"2026-11-25 21:01:60 leap second", utc(2026, 11, 25, 21, 2, 0)),
        (b"[2026-11-25 21:01:41] local.ERROR: x", utc(2026, 11, 25, 21, 1, 41)),
        (b"  \t2026-11-25T21:01:41Z indented", utc(2026, 11, 25, 21, 1, 41)),
        (b"<165>1 2026-11-25T21:01:41.003Z host app - - x", utc(2026, 11, 25, 21, 1, 41, 3000)),  # RFC 5424
        (b"2026/11/25 21:01:41 main.go:12: x", utc(2026, 11, 25, 21, 1, 41)),  # Go's log package
        (b"2026-11-25 21:01:41 -12 items", utc(2026, 11, 25, 21, 1, 41)),  # not a zone
        (b"2026-11-25 21:01:41.5,123 x", utc(2026, 11, 25, 21, 1, 41, 500000)),  # one fraction only
    ],
)
def test_iso(line: bytes, expected: float) -> None:
    parser = TimeParser(tz=UTC)
    assert close(parser.parse(line), expected)
    assert parser.family == "iso"


def test_iso_without_a_zone_is_local_time_unless_tz(eastern: None) -> None:
    summer, winter = b"2026-07-01 12:00:00 x", b"2026-01-15 12:00:00,5 x"
    assert parse(summer, tz=None) == utc(2026, 7, 1, 16) == datetime(2026, 7, 1, 12).timestamp()  # EDT, UTC-4
    assert parse(winter, tz=None) == utc(2026, 1, 15, 17, 0, 0, 500000)  # EST, UTC-5
    assert parse(summer, tz=parse_tz("local")) == utc(2026, 7, 1, 16)
    assert parse(summer, tz=parse_tz("UTC")) == utc(2026, 7, 1, 12)
    assert parse(summer, tz=parse_tz("+05:30")) == at(330, 2026, 7, 1, 12)
    assert parse(summer, tz=zone("Asia/Tokyo")) == at(540, 2026, 7, 1, 12)
    assert parse(b"2026-07-01T12:00:00Z x", tz=None) == utc(2026, 7, 1, 12)  # a zone in the line wins


def test_local_time_across_daylight_saving(eastern: None) -> None:
    parser = TimeParser()  # lines in one minute share a cached offset; the change is at a minute
    before, after = parser.parse(b"2026-03-08 01:59:59 x"), parser.parse(b"2026-03-08 03:00:00 x")
    assert (before, after) == (utc(2026, 3, 8, 6, 59, 59), utc(2026, 3, 8, 7))
    paris = TimeParser(tz=zone("Europe/Paris"))
    assert paris.parse(b"2026-03-29 01:59:59 x") == utc(2026, 3, 29, 0, 59, 59)  # CET
    assert paris.parse(b"2026-03-29 03:00:00 x") == utc(2026, 3, 29, 1)  # CEST


# -- syslog ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"Nov 25 21:01:41 host sshd[1]: x\n", utc(2026, 11, 25, 21, 1, 41)),
        (b"<34>Nov 25 21:01:41 host su: x\n", utc(2026, 11, 25, 21, 1, 41)),
        (b"Nov  5 21:01:41 host x\n", utc(2026, 11, 5, 21, 1, 41)),
        (b"Nov 5 21:01:41 host x\n", utc(2026, 11, 5, 21, 1, 41)),
        (b"Nov 25 21:01:41.250 host x\n", utc(2026, 11, 25, 21, 1, 41, 250000)),
        (b"Nov 25 21:01:41,250 host x\n", utc(2026, 11, 25, 21, 1, 41, 250000)),
        (b"Nov 27 06:00:00 host: 18 hours ahead of now is this year\n", utc(2026, 11, 27, 6)),
        (b"Nov 27 21:00:00 host: over a day ahead of now is last year\n", utc(2025, 11, 27, 21)),
        (b"Nov 27 12:00:00 host: a day ahead of now is this year\n", utc(2026, 11, 27, 12)),
        (b"Nov 27 12:00:01.5 host: a second more is not\n", utc(2025, 11, 27, 12, 0, 1, 500000)),
        (b"Feb 29 10:00:00 host: not a date this year\n", None),
    ],
)
def test_syslog(line: bytes, expected: float | None) -> None:
    parser = TimeParser(tz=UTC, now=NOW)
    assert parser.parse(line) == expected
    assert parser.family == ("syslog" if expected is not None else None)


def test_syslog_year_follows_new_year() -> None:
    parser = TimeParser(tz=UTC, now=utc(2027, 1, 2, 12))
    lines = [
        b"Dec 31 23:59:59 a",
        b"Jan  1 00:00:01 b",
        b"Dec 31 23:59:58 late",
        b"Jan  1 00:00:02 c",
        b"Feb  3 01:00:00 d",
    ]
    assert [parser.parse(line) for line in lines] == [
        utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1, 0, 0, 1), utc(2026, 12, 31, 23, 59, 58),
        utc(2027, 1, 1, 0, 0, 2), utc(2027, 2, 3, 1),
    ]  # fmt: skip
    # a file read long after: the first line takes the year that is not in the future, the rest follow it
    old = TimeParser(tz=UTC, now=utc(2027, 6, 1))
    assert [old.parse(line) for line in (b"Dec 30 10:00:00 a", b"Jan  2 10:00:00 b")] == [
        utc(2026, 12, 30, 10),
        utc(2027, 1, 2, 10),
    ]


def test_syslog_year_from_the_clock_and_local_time(eastern: None) -> None:
    then = time.time() - 3600
    line = time.strftime("%b %d %H:%M:%S host x", time.localtime(then)).encode()
    assert close(TimeParser().parse(line), float(int(then)))


# -- Apache/nginx ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'1.2.3.4 - - [25/Nov/2026:21:01:41 +0000] "GET / HTTP/1.1" 200 5\n', utc(2026, 11, 25, 21, 1, 41)),
        (b'::1 - frank [25/Nov/2026:21:01:41 -0800] "GET /" 200 5\n', at(-480, 2026, 11, 25, 21, 1, 41)),
        (b"[25/Nov/2026:21:01:41.125 +0530] x\n", at(330, 2026, 11, 25, 21, 1, 41, 125000)),
        (b"a-very-long-virtual-host.example.com:443 2001:db8::1234:5678 - user [25/Nov/2026:21:01:41 +0100] x",
         at(60, 2026, 11, 25, 21, 1, 41)),
    ],
)  # fmt: skip
def test_clf(line: bytes, expected: float) -> None:
    parser = TimeParser(tz=UTC)
    assert close(parser.parse(line), expected)
    assert parser.family == "clf"


def test_clf_is_looked_for_near_the_start_only() -> None:
    assert parse(b"x" * 200 + b" [25/Nov/2026:21:01:41 +0000]") is None


# -- epoch ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected", "family"),
    [
        (b"1764104501 x\n", utc(2025, 11, 25, 21, 1, 41), "epoch"),
        (b"1764104501.123456 x\n", utc(2025, 11, 25, 21, 1, 41, 123456), "epoch"),
        (b"1764104501,5 x\n", utc(2025, 11, 25, 21, 1, 41, 500000), "epoch"),
        (b"\t1764104501,5 x\n", utc(2025, 11, 25, 21, 1, 41, 500000), "epoch"),
        (b"  1764104501 indented\n", utc(2025, 11, 25, 21, 1, 41), "epoch"),
        (b"946684800 the first second of 2000\n", utc(2000, 1, 1), "epoch"),
        (b"1764104501123 x\n", utc(2025, 11, 25, 21, 1, 41, 123000), "epoch_ms"),
        (b"1764104501123.5 x\n", utc(2025, 11, 25, 21, 1, 41, 123500), "epoch_ms"),
    ],
)
def test_epoch(line: bytes, expected: float, family: str) -> None:
    parser = TimeParser()
    assert close(parser.parse(line), expected)
    assert parser.family == family


def test_epoch_families_stay_apart() -> None:
    seconds = TimeParser()
    seconds.parse(b"1764104501 x")
    assert seconds.parse(b"1764104501123 x") is None


# -- JSON lines -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"level":"info","ts":1764104501.25,"msg":"x"}\n', utc(2025, 11, 25, 21, 1, 41, 250000)),
        (b'{"time":1764104501123,"msg":"x"}\n', utc(2025, 11, 25, 21, 1, 41, 123000)),  # ms
        (b'{"time":1764104501123456,"msg":"x"}\n', utc(2025, 11, 25, 21, 1, 41, 123456)),  # µs
        (b'{"ts":1.7641045015e9}', utc(2025, 11, 25, 21, 1, 41, 500000)),
        (b'{"time": "2026-11-25T21:01:41.5+01:00", "msg": "x"}\n', at(60, 2026, 11, 25, 21, 1, 41, 500000)),
        (b'{"@timestamp":"2026-11-25T21:01:41.000Z","message":"x"}\n', utc(2026, 11, 25, 21, 1, 41)),
        (b'{"timestamp":"2026-11-25 21:01:41,5","message":"x"}', utc(2026, 11, 25, 21, 1, 41, 500000)),
        (b'{"ts":"1764104501.5"}', utc(2025, 11, 25, 21, 1, 41, 500000)),
        (b'  {"ts": 1764104501}', utc(2025, 11, 25, 21, 1, 41)),
        # the first field present counts
        (b'{"ts":1764104501,"time":"2026-11-25T21:01:41Z"}', utc(2025, 11, 25, 21, 1, 41)),
        # nested objects and escaped strings: read by json.loads
        (b'{"req":{"time":"2020-01-01T00:00:00Z"},"time":"2026-11-25T21:01:41Z"}', utc(2026, 11, 25, 21, 1, 41)),
        (b'{"msg":"a {brace}","ts":1764104501}', utc(2025, 11, 25, 21, 1, 41)),
        (b'{"msg":"say \\"ts\\": 1","time":"2026-11-25T\\u00321:01:41Z"}', utc(2026, 11, 25, 21, 1, 41)),
    ],
)
def test_json(line: bytes, expected: float) -> None:
    parser = TimeParser(tz=UTC)
    assert close(parser.parse(line), expected)
    assert parser.family == "json"


@pytest.mark.parametrize(
    "line",
    [
        b'{"msg":"no time here"}',
        b'{"req":{"time":"2026-11-25T21:01:41Z"},"msg":"only a nested one"}',
        b'{"time":"soon"}',
        b'{"ts":true}',
        b'{"ts":null}',
        b'{"ts":12}',
        b'{"a":{"ts":1764104501',  # cut short, nested: json.loads fails
        b'{"a":' + b"[{" * 100_000 + b'"ts":1764104501}',  # nested too deep for json.loads
        b"{" * 100_000,
    ],
)
def test_json_without_a_time(line: bytes) -> None:
    assert parse(line) is None


# -- lines without a time -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\n",
        b"   \n",
        b"Traceback (most recent call last):\n",
        b"\tat com.example.Foo.bar(Foo.java:12)\n",
        b"12345 apples\n",
        b"2026 was a year\n",
        b"20261125 build\n",
        b"2026-11-25 is a date without a time\n",
        b"1234567890123456 is an id\n",
        b"12345678901 eleven digits\n",
        b"9999999999 is after 2100\n",
        b"0000000001 is before 2000\n",
        b"946684799 is before 2000\n",
        b"1764104501abc\n",
        b"5551234567 called\n",
        b"Nov 25 is not a time\n",
        b"November 25 21:01:41\n",
        b"2026-13-45 21:01:41 not a date\n",
        b"2026-11-25 24:01:41 not an hour\n",
        b"[32/Nov/2026:21:01:41 +0000]\n",
    ],
)
def test_no_time(line: bytes) -> None:
    parser = TimeParser()
    assert parser.parse(line) is None
    assert parser.family is None


def test_the_first_time_fixes_the_family() -> None:
    parser = TimeParser(tz=UTC, now=NOW)
    assert parser.parse(b"starting up\n") is None
    assert parser.family is None  # nothing fixed before a time
    assert parser.parse(b"2026-11-25T21:01:41Z first\n") == utc(2026, 11, 25, 21, 1, 41)
    assert parser.family == "iso"
    assert parser.parse(b"Nov 25 21:01:42 another family: a continuation\n") is None
    assert parser.parse(b'  File "x.py", line 1\n') is None
    assert parser.parse(b"2026-11-25 21:01:43 next\n") == utc(2026, 11, 25, 21, 1, 43)


def test_many_minutes_through_the_bounded_caches() -> None:
    parser = TimeParser(tz=UTC)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(0, 5000 * 60, 61):
        moment = start + timedelta(seconds=n)
        line = moment.strftime("%Y-%m-%dT%H:%M:%SZ x").encode()
        assert parser.parse(line) == moment.timestamp()


# -- --time-format and --time-regex ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_format", "line", "expected"),
    [
        ("%d/%m/%Y %H:%M:%S.%f", b"25/11/2026 21:01:41.5 x", utc(2026, 11, 25, 21, 1, 41, 500000)),
        ("%d/%m/%Y %H:%M:%S.%f", b"25/11/2026 21:01:42.000125 x", utc(2026, 11, 25, 21, 1, 42, 125)),
        ("%Y%m%d %H%M%S", b"20261125 210141 x", utc(2026, 11, 25, 21, 1, 41)),
        ("%m/%d/%Y %I:%M:%S %p", b"11/25/2026 09:01:41 PM x", utc(2026, 11, 25, 21, 1, 41)),
        ("%d.%m.%Y %H:%M", b"  25.11.2026 21:01 x", utc(2026, 11, 25, 21, 1)),
        ("%Y-%m-%dT%H:%M:%S%z", b"2026-11-25T21:01:41+0100 x", at(60, 2026, 11, 25, 21, 1, 41)),
        ("%H:%M:%S %d-%b-%Y", b"21:01:41 25-nov-2026 x", utc(2026, 11, 25, 21, 1, 41)),
        ("%S %M %H %d %m %Y", b"41 01 21 25 11 2026", utc(2026, 11, 25, 21, 1, 41)),
        ("%b %d %H:%M:%S", b"Nov 25 21:01:41 x", utc(2026, 11, 25, 21, 1, 41)),  # no year: as syslog
        ("%d/%m/%Y %H:%M:%S", b"2026-11-25 21:01:41 x", None),
        ("%d/%m/%Y %H:%M:%S", b"31/02/2026 21:01:41 x", None),
    ],
)
def test_time_format(time_format: str, line: bytes, expected: float | None) -> None:
    parser = TimeParser(time_format=time_format, tz=UTC, now=NOW)
    assert parser.family == "custom"
    got = parser.parse(line)
    assert got == expected if expected is None else close(got, expected)


def test_time_format_lines_of_a_minute_differ_and_year_less_ones_follow_new_year() -> None:
    parser = TimeParser(time_format="%Y-%m-%d %H:%M:%S,%f", tz=UTC)
    assert [parser.parse(b"2026-11-25 21:01:%02d,%03d x" % (s, s)) for s in (1, 2, 59)] == [
        utc(2026, 11, 25, 21, 1, s, s * 1000) for s in (1, 2, 59)
    ]
    yearless = TimeParser(time_format="%d %b %H:%M:%S", tz=UTC, now=utc(2028, 3, 1))
    lines = (b"29 Feb 10:00:00 leap day", b"30 Jun 12:00:00 x", b"31 Dec 23:59:59 y", b"01 Jan 00:00:00 z")
    assert [yearless.parse(line) for line in lines] == [
        utc(2028, 2, 29, 10), utc(2028, 6, 30, 12), utc(2028, 12, 31, 23, 59, 59), utc(2029, 1, 1),
    ]  # fmt: skip


def test_time_format_errors() -> None:
    with pytest.raises(ValueError, match="%Q"):
        TimeParser(time_format="%Y %Q")
    with pytest.raises(ValueError, match="%c"):
        TimeParser(time_format="%c")
    with pytest.raises(ValueError, match="%S appears twice"):
        TimeParser(time_format="%S %S")
    with pytest.raises(ValueError, match="time regex '\\(unclosed'"):
        TimeParser(time_regex="(unclosed")


def test_time_regex() -> None:
    parser = TimeParser(time_regex=r"time=(\S+)", tz=UTC)
    assert parser.parse(b"level=info time=2026-11-25T21:01:41Z msg=x") == utc(2026, 11, 25, 21, 1, 41)
    assert parser.family == "iso"  # detected in the text the regex took
    assert parser.parse(b"level=info msg=no time") is None
    whole = TimeParser(time_regex=r"\d{2}/\w{3}/\d{4}:\S+ [+-]\d{4}", tz=UTC)  # no group: the whole match
    assert whole.parse(b"GET / at 25/Nov/2026:21:01:41 +0100 from x") == at(60, 2026, 11, 25, 21, 1, 41)
    assert whole.family == "clf"
    both = TimeParser(time_regex=r"@(\S+ \S+)", time_format="%d.%m.%Y %H:%M:%S", tz=UTC)
    assert both.parse(b"job 7 @25.11.2026 21:01:41 done") == utc(2026, 11, 25, 21, 1, 41)
    assert both.family == "custom"
    optional = TimeParser(time_regex=r"^(?:T=(\d+))?")
    assert optional.parse(b"no time") is None


# -- the property: what a time is written as, it is read back as -----------------------------------------

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59, 999999)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(moments, offsets)
def test_written_times_read_back(moment: datetime, offset: timezone) -> None:
    stamp = moment.timestamp()
    whole = float(int(stamp))
    shown = moment.astimezone(offset)
    iso_z = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ x")
    iso_offset = shown.isoformat() + " x"
    clf = shown.strftime('1.2.3.4 - - [%d/%b/%Y:%H:%M:%S %z] "GET /" 200 1')
    cases = [(iso_z, stamp), (iso_offset, stamp), (clf, whole), (f"{stamp:.6f} x", stamp)]
    cases.append((f"{int(stamp * 1000)} ms", int(stamp * 1000) / 1000))
    for line, expected in cases:
        got = TimeParser().parse(line.encode())
        assert got is not None, line
        assert abs(got - expected) <= 1e-6, (line, got, expected)


# -- --since / --until ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25", utc(2026, 11, 25)),
        ("2026-11-25 21:01", utc(2026, 11, 25, 21, 1)),
        ("2026-11-25T21:01:41", utc(2026, 11, 25, 21, 1, 41)),
        (" 2026-11-25T21:01:41Z ", utc(2026, 11, 25, 21, 1, 41)),
        ("2026-11-25T21:01:41z", utc(2026, 11, 25, 21, 1, 41)),
        ("2026-11-25T21:01:41.5+01:00", at(60, 2026, 11, 25, 21, 1, 41, 500000)),
        ("2026-11-25 21:01:41,25", utc(2026, 11, 25, 21, 1, 41, 250000)),
        ("30s", NOW - 30),
        ("15m", NOW - 15 * 60),
        ("2h", NOW - 2 * 3600),
        ("1d", NOW - 86400),
        ("1w", NOW - 7 * 86400),
        ("1.5h", NOW - 5400),
        ("1h30m", NOW - 5400),
        ("0s", NOW),
    ],
)
def test_parse_when(text: str, expected: float) -> None:
    assert close(parse_when(text, NOW, UTC), expected)


def test_parse_when_is_local_time_by_default(eastern: None) -> None:
    assert parse_when("2026-07-01 12:00", NOW) == utc(2026, 7, 1, 16)
    assert parse_when("2026-07-01 12:00", NOW, parse_tz("local")) == utc(2026, 7, 1, 16)
    assert parse_when("2026-07-01", NOW, parse_tz("-0800")) == utc(2026, 7, 1, 8)


@pytest.mark.parametrize("text", ["", "yesterday", "5x", "-5m", "5 m", "2026-13-01", "21:01", "nan", "1e3s"])
def test_parse_when_errors(text: str) -> None:
    with pytest.raises(ValueError, match="not a time") as error:
        parse_when(text, NOW)
    assert repr(text) in str(error.value)


# -- --tz -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset_minutes"),
    [("UTC", 0), ("utc", 0), ("Z", 0), ("+05:30", 330), ("-0800", -480), ("+05", 300), ("-00:30", -30)],
)
def test_parse_tz_fixed(text: str, offset_minutes: int) -> None:
    assert parse_tz(text).utcoffset(None) == timedelta(minutes=offset_minutes)


def test_parse_tz_names_and_local(eastern: None) -> None:
    paris = zone("Europe/Paris")
    assert paris.utcoffset(datetime(2026, 7, 1)) == timedelta(hours=2)
    local = parse_tz("local")
    assert parse_tz("LOCAL") is local
    assert local.utcoffset(datetime(2026, 7, 1, 12)) == timedelta(hours=-4)
    assert local.utcoffset(datetime(2026, 1, 1, 12)) == timedelta(hours=-5)
    assert local.tzname(datetime(2026, 1, 1, 12)) == "EST"
    shown = datetime.fromtimestamp(utc(2026, 7, 1, 16), local)
    assert (shown.replace(tzinfo=None), shown.timestamp()) == (datetime(2026, 7, 1, 12), utc(2026, 7, 1, 16))
    # the repeated hour at the end of daylight saving: both instants come back
    for instant in (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)):
        assert datetime.fromtimestamp(instant, local).timestamp() == instant


@pytest.mark.parametrize("text", ["", "Mars/Olympus_Mons", "+25:00", "+05:60", "5:30", "+5", "../etc/passwd", "Europe"])
def test_parse_tz_errors(text: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone") as error:
        parse_tz(text)
    assert repr(text) in str(error.value)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["", ".5", ".123", ".123456", ".1234567"]), st.integers(0, 70)),
        min_size=2,
        max_size=12,
    ),
    st.sampled_from(["Z", "z", "+01:00", "-0530", "", " +02:00", " UTC"]),
    st.sampled_from(["2026-11-25T23:5", "2026-02-28 23:5", "2026/13/01T10:1", "2026-11-25T29:0"]),
    st.sampled_from([" x", "x", "7 x", "", "\tmsg"]),
    st.booleans(),
)
def test_many_lines_are_timed_as_each_one_is(
    parts: list[tuple[int, str, int]], zone: str, minute: str, after: str, one_layout: bool
) -> None:
    """``parse_many`` (ISO lines of one layout at once) gives what ``parse`` gives line by line, whatever
    the layout, the zones, invalid fields or what follows the time."""
    layout = parts[0][1]
    lines = [f"{minute}{m}:{s:02d}{layout if one_layout else frac}{zone}{after}".encode() for m, frac, s in parts]
    each, many = TimeParser(tz=UTC, now=NOW), TimeParser(tz=UTC, now=NOW)
    assert many.parse_many(lines) == list(map(each.parse, lines))
    assert many.parse_many(lines[:1] + lines) == list(map(each.parse, lines[:1] + lines))


# the first of each list is the most likely (the sources then share a layout), the others less
_FRACTIONS = [".123"] * 6 + ["", ".5", ".50", ".123456", ".1234567"]
_ZONES = ["Z"] * 6 + ["+00:00", "+01:00", "-0530", "z", "", "+01", " +02:00"]
_MINUTES = ["2026-11-25T23:5"] * 30 + ["2026-11-25T23:0"] * 10 + ["2026-11-26T00:0", "2026-02-29T1", "2026-11-25T24:0"]
key_sources = st.lists(
    st.tuples(
        st.sampled_from(_FRACTIONS),
        st.sampled_from(_ZONES),
        st.lists(
            st.tuples(
                st.sampled_from(_MINUTES),
                st.integers(0, 9),
                st.sampled_from([*range(60)] * 4 + [60, 61]),
                st.sampled_from([None] * 30 + [".5", "+00:00", "Z"]),  # this line's own fraction or zone
            ),
            min_size=1,
            max_size=10,
        ),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(key_sources, st.sampled_from([" x", "x", "7 x", "", "00 x"]))
def test_keys_order_as_the_times_they_stand_for(
    sources: list[tuple[str, str, list[tuple[str, int, int, str | None]]]], after: str
) -> None:
    """Where ``keys_many`` keys lines by the text of their times, the keys of one layout compare as the
    times ``parse`` gives (equal exactly when the times are), and stand for exactly those times; the
    lines of sources keyed in one layout compare across them too."""
    keyed: list[tuple[list[bytes], bytes]] = []
    for frac, zone, parts in sources:
        lines = []
        for minute, m, sec, odd in parts:
            f, z = (odd, zone) if odd is not None and odd[0] == "." else (frac, odd or zone)
            lines.append(f"{minute}{m}:{sec:02d}{f}{z}{after}".encode())
        each, many = TimeParser(tz=UTC, now=NOW), TimeParser(tz=UTC, now=NOW)
        found = many.keys_many(lines)
        if found is None:
            continue
        keys, layout, ordered = found
        assert key_times(keys) == list(map(each.parse, lines))
        assert ordered == (keys == sorted(keys))
        keyed.append((keys, layout))
    for _, layout in keyed:
        pairs = [k for ks, other in keyed if other == layout for k in ks]
        times = key_times(pairs)
        for a, ta in zip(pairs, times, strict=True):
            for b, tb in zip(pairs, times, strict=True):
                assert (a < b) == (ta < tb) and (a == b) == (ta == tb), (a, b)


@pytest.mark.parametrize(
    "line",
    [
        b"2026-11-25T23:59:60.500Z x",  # a leap second: the parser reads the next minute's 00.5
        b"2026-02-30T10:00:00Z x",  # not a date: no time
        b"2026-11-25T24:00:00Z x",
        b"2026-11-25T23:00:00.1234567Z x",  # 7 digits: distinct texts may be one float
        b"2026-11-25T23:00:00+01 x",  # "+01" then "30" would be another zone
        b"2026-11-25T23:00:00 x",  # local time: its texts do not order as its times across a change of offset
        b"2026-11-25T23:00:00,123Z x",  # a comma fraction
        b" 2026-11-25T23:00:00Z x",  # not at the very start
    ],
)
def test_keys_only_where_texts_order_as_times(line: bytes) -> None:
    good = b"2026-11-25T23:00:00Z x"
    assert TimeParser(tz=UTC, now=NOW).keys_many([good, good]) is not None
    assert TimeParser(tz=UTC, now=NOW).keys_many([line, line]) is None
    assert TimeParser(tz=UTC, now=NOW).keys_many([good, line]) is None
