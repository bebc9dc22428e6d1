"""The crossings between threads: the wake relay that ends many blocking followers, and the bell the run's
main thread sleeps on."""

from __future__ import annotations

import os
import signal
import threading
import time

from tailmerge.bridge import Bell, StopToken, WakeRelay


def test_a_stop_wakes_a_few_sleepers_and_each_that_leaves_wakes_the_next() -> None:
    token = StopToken()
    relay = WakeRelay(token, width=3)
    woken = [threading.Event() for _ in range(10)]
    handles = [relay.add(w.set) for w in woken]
    assert not any(w.is_set() for w in woken)  # nothing before the stop
    relay.leave(handles[9])  # one leaves before the stop: it wakes no one
    assert not any(w.is_set() for w in woken)
    token.stop("signal")
    assert [w.is_set() for w in woken] == [True] * 3 + [False] * 7
    relay.leave(handles[0])
    assert [w.is_set() for w in woken] == [True] * 4 + [False] * 6
    for h in handles[1:9]:
        relay.leave(h)
    assert all(w.is_set() for w in woken[:9]) and not woken[9].is_set()  # the one that had left is not woken
    late = threading.Event()
    relay.add(late.set)  # a follower that starts after the stop is woken at once
    assert late.is_set()


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
