"""The in-flight byte budget: exact limit under concurrency, oversize admission, FIFO, close."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replicator.errors import ReplicatorError
from replicator.pusher.inflight import Cancelled, InflightBudget

JOIN = 10.0  # seconds; a bound against hangs, never reached when the code is right


def wait_until(predicate: Callable[[], bool], timeout: float = JOIN) -> None:
    """Poll a state predicate (test-side only) until it holds; fail instead of hanging."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def start(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``target`` in a thread; the list gets its result or the exception it raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_acquire_and_release_track_bytes_in_flight() -> None:
    budget = InflightBudget(100)
    assert budget.acquire(40) is True
    assert budget.acquire(60) is True
    assert (budget.in_flight, budget.peak, budget.limit) == (100, 100, 100)
    budget.release(40)
    assert budget.in_flight == 60
    assert budget.peak == 100


def test_acquire_over_the_limit_times_out_without_taking() -> None:
    budget = InflightBudget(100)
    budget.acquire(70)
    assert budget.acquire(31, timeout=0) is False
    assert budget.acquire(31, timeout=0.01) is False
    assert (budget.in_flight, budget.waiting) == (70, 0)
    assert budget.acquire(30, timeout=0) is True
    assert budget.in_flight == 100


def test_zero_bytes_never_wait() -> None:
    budget = InflightBudget(10)
    budget.acquire(10)
    assert budget.acquire(0, timeout=0) is True
    assert budget.in_flight == 10


def test_blocked_acquire_proceeds_after_release() -> None:
    budget = InflightBudget(100)
    budget.acquire(80)
    thread, outcome = start(lambda: budget.acquire(50, timeout=JOIN))
    wait_until(lambda: budget.waiting == 1)
    assert outcome == []
    budget.release(80)
    thread.join(JOIN)
    assert outcome == [True]
    assert budget.in_flight == 50


def test_oversize_request_is_admitted_alone_only() -> None:
    budget = InflightBudget(100)
    assert budget.acquire(500, timeout=0) is True  # nothing else in flight: admitted
    assert budget.acquire(1, timeout=0) is False
    budget.release(500)
    budget.acquire(1)
    assert budget.acquire(500, timeout=0) is False  # something in flight: waits
    thread, outcome = start(lambda: budget.acquire(500, timeout=JOIN))
    wait_until(lambda: budget.waiting == 1)
    budget.release(1)
    thread.join(JOIN)
    assert outcome == [True]
    assert budget.in_flight == 500


def test_waiters_are_served_in_order_so_large_requests_are_not_starved() -> None:
    budget = InflightBudget(100)
    budget.acquire(50)
    big, big_outcome = start(lambda: budget.acquire(100, timeout=JOIN))
    wait_until(lambda: budget.waiting == 1)
    # 10 bytes would fit, but the big request is first in line.
    assert budget.acquire(10, timeout=0) is False
    small, small_outcome = start(lambda: budget.acquire(10, timeout=JOIN))
    wait_until(lambda: budget.waiting == 2)
    budget.release(50)
    big.join(JOIN)
    assert big_outcome == [True]
    assert small_outcome == []  # 100 + 10 is over the limit
    budget.release(100)
    small.join(JOIN)
    assert small_outcome == [True]
    assert budget.in_flight == 10


def test_close_wakes_waiters_and_refuses_new_requests() -> None:
    budget = InflightBudget(10)
    budget.acquire(10)
    waiters = [start(lambda: budget.acquire(5, timeout=JOIN)) for _ in range(3)]
    wait_until(lambda: budget.waiting == 3)
    budget.close()
    for thread, outcome in waiters:
        thread.join(JOIN)
        assert len(outcome) == 1
        assert isinstance(outcome[0], Cancelled)
        assert isinstance(outcome[0], ReplicatorError)
    with pytest.raises(Cancelled):
        budget.acquire(1)
    assert budget.closed
    assert (budget.in_flight, budget.waiting) == (10, 0)
    budget.release(10)  # still possible after close, so accounting ends at zero
    assert budget.in_flight == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: InflightBudget(0), "at least 1 byte"),
        (lambda b: b.acquire(-1), "negative"),
        (lambda b: b.release(11), "cannot release 11 bytes: 10 are in flight"),
        (lambda b: b.release(-1), "cannot release -1"),
    ],
)
def test_misuse_raises_value_error(call: Callable[[InflightBudget], object], message: str) -> None:
    budget = InflightBudget(100)
    budget.acquire(10)
    with pytest.raises(ValueError, match=message):
        call(budget)
    assert budget.in_flight == 10


@given(
    limit=st.integers(1, 100),
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 150)), max_size=40),
)
def test_single_thread_admission_matches_the_rule(
    limit: int, steps: list[tuple[bool, int]]
) -> None:
    """With no waiters, a request is granted iff it fits, or it is alone."""
    budget = InflightBudget(limit)
    held: list[int] = []
    for is_acquire, n in steps:
        if is_acquire or not held:
            expected = n == 0 or sum(held) + n <= limit or sum(held) == 0
            assert budget.acquire(n, timeout=0) is expected
            if expected:
                held.append(n)
        else:
            budget.release(held.pop(n % len(held)))
        assert budget.in_flight == sum(held)


def test_limit_holds_exactly_with_many_threads() -> None:
    limit = 1000
    budget = InflightBudget(limit)
    outside = 0  # bytes held as seen by the callers, counted after acquire and before release
    outside_max = 0
    outside_lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        nonlocal outside, outside_max
        rng = random.Random(seed)
        try:
            for _ in range(300):
                n = rng.randint(1, limit)
                assert budget.acquire(n, timeout=JOIN)
                with outside_lock:
                    outside += n
                    outside_max = max(outside_max, outside)
                    assert outside <= limit
                with outside_lock:
                    outside -= n
                budget.release(n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN * 3)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert errors == []
    assert budget.peak <= limit
    assert budget.peak > limit // 2  # the threads really overlapped
    assert 0 < outside_max <= limit
    assert (budget.in_flight, budget.waiting) == (0, 0)


def test_oversize_chunks_among_many_threads_are_always_alone() -> None:
    limit = 100
    budget = InflightBudget(limit)
    holders: dict[int, int] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(200):
                n = rng.choice([rng.randint(1, limit), rng.randint(limit + 1, 3 * limit)])
                assert budget.acquire(n, timeout=JOIN)
                with lock:
                    holders[seed] = n
                    held = sum(holders.values())
                    assert held <= limit or len(holders) == 1, holders
                with lock:
                    del holders[seed]
                budget.release(n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN * 3)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert errors == []
    assert budget.peak > limit  # oversize requests were admitted
    assert budget.in_flight == 0
