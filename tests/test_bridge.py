"""The crossings between threads: the workers that run the blocking followers, and the bell the run's main
thread sleeps on."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time

import pytest

from tailmerge.bridge import Bell, StopToken, Workers

from .conftest import wait_for


def test_workers_run_at_most_their_size_at_once_and_a_lender_lets_another_run() -> None:
    workers = Workers(2, name="test worker")
    lock = threading.Lock()
    running: list[int] = []
    most = 0
    release = threading.Event()

    def job(i: int) -> int:
        nonlocal most
        with lock:
            running.append(i)
            most = max(most, len(running))
        release.wait(5)
        with lock:
            running.remove(i)
        return i

    futures = [workers.submit(job, i) for i in range(6)]
    time.sleep(0.2)
    assert most == 2  # the others wait in the queue, first come, first served
    assert sorted(running) == [0, 1]
    # a job that waits for another's progress lends its place: the blocked one runs meanwhile
    unblocked = threading.Event()
    waiting = workers.submit(lambda: workers_lend_until(workers, unblocked))
    blocker = workers.submit(unblocked.set)
    release.set()
    assert [f.result(5) for f in futures] == list(range(6))
    assert waiting.result(5) and blocker.result(5) is None
    workers.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("test worker")]  # joined


def workers_lend_until(workers: Workers, event: threading.Event) -> bool:
    with workers.lend():
        return event.wait(5)


def test_workers_held_start_nothing_and_the_clock_queues_a_job_later() -> None:
    workers = Workers(4)
    ran: list[str] = []
    with workers.held():
        workers.run(lambda: ran.append("now"))
        time.sleep(0.1)
        assert ran == []  # held: queued, not started
    wait_for(lambda: ran == ["now"], timeout=2, what="the held job")
    started = time.monotonic()
    done = threading.Event()
    workers.later(0.3, done.set)
    workers.later(0.1, lambda: ran.append("sooner"))  # a sooner turn wakes the clock
    assert done.wait(5) and time.monotonic() - started >= 0.25
    assert ran == ["now", "sooner"]
    workers.shutdown()
    with pytest.raises(RuntimeError):
        workers.run(done.set)


def test_a_cancelled_turn_never_runs_nor_takes_a_worker() -> None:
    # a follower's timed wait ended by its signal cancels its turn (threads engine under rotation: every
    # wait is timed, and 2,000 stale turns a second each woke the clock and a worker)
    workers = Workers(2)
    ran: list[int] = []
    for i in range(1000):
        workers.later(0.05 + i / 10_000, functools.partial(ran.append, i)).cancel()
    done = threading.Event()
    workers.later(0.2, done.set)
    assert done.wait(5)
    time.sleep(0.05)
    assert ran == []
    assert workers._ended == 1  # only the live turn became a job
    workers.shutdown()


def test_workers_stuck_get_another_that_retires_once_the_queue_is_empty() -> None:
    workers = Workers(4, base=1, name="stuck worker")
    hung = threading.Event()
    workers.run(lambda: hung.wait(5))  # a read on a hung network filesystem
    started = time.monotonic()
    behind = workers.submit(time.monotonic)
    assert behind.result(5) - started < 1.0  # not behind the stuck one for good: a worker was added
    hung.set()
    wait_for(lambda: sum(t.name == "stuck worker" for t in threading.enumerate()) == 1, 2, "the added one's end")
    workers.shutdown()


def test_the_bell_wakes_its_sleeper_from_another_thread_and_is_cleared() -> None:
    with Bell() as bell:
        threading.Timer(0.1, bell.ring).start()
        started = time.monotonic()
        bell.wait(5.0)
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        bell.wait(0.2)  # cleared: this one waits its whole timeout
        assert time.monotonic() - started >= 0.15


def test_a_signal_taken_by_another_thread_rings_the_bell_of_the_main_thread() -> None:
    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        with Bell() as bell:
            thread = threading.Thread(target=lambda: signal.pthread_kill(threading.get_ident(), signal.SIGUSR1))
            started = time.monotonic()
            threading.Timer(0.1, thread.start).start()
            bell.wait(5.0)
            assert time.monotonic() - started < 2.0
        assert signal.set_wakeup_fd(-1) == -1  # given back when the bell is done
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_bell_leaves_a_wakeup_descriptor_set_by_someone_else_alone() -> None:
    r, w = os.pipe()
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    try:
        with Bell():
            assert signal.set_wakeup_fd(w) == w  # still theirs
        assert signal.set_wakeup_fd(-1) == w
    finally:
        os.close(r)
        os.close(w)


def test_a_stop_asked_from_a_signal_handler_is_made_by_the_run_not_the_handler() -> None:
    # the handler may have interrupted a thread holding any lock a stop takes: it only leaves the reason
    # and rings the bell; the run's loop, woken, makes the stop
    token = StopToken()
    rung = threading.Event()
    token.bell = rung.set
    woken = threading.Event()
    token.on_stop(woken.set)
    token.request("signal")
    assert rung.is_set() and not token.is_set() and not woken.is_set()
    token.take_request()
    assert token.is_set() and token.reason == "signal" and woken.is_set()
    token.request("signal")  # later requests change nothing
    token.take_request()
    assert token.reason == "signal"
