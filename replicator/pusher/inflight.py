"""A byte budget for data in flight: callers wait while taken, unreleased bytes hit the limit."""

from __future__ import annotations

import threading
from collections import deque

from replicator.errors import ReplicatorError


class Cancelled(ReplicatorError):
    """The budget or pusher was closed, before or while the caller waited on it.

    Raised into reader threads so they stop; the chunk they held was not taken.
    """


class InflightBudget:
    """Counts bytes in flight against a limit, with the check and the add in one lock.

    ``acquire(n)`` takes ``n`` bytes once ``in_flight + n <= limit``; a single request larger than
    the whole limit is granted once nothing else is in flight, so nothing deadlocks. Waiters are
    served first come, first served: a large request is not starved by a stream of small ones.
    Thread-safe.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the in-flight limit must be at least 1 byte (got {limit})")
        self._limit = limit
        self._cond = threading.Condition()
        self._in_flight = 0
        self._peak = 0
        self._line: deque[object] = deque()  # one ticket per waiting caller, oldest first
        self._closed = False

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        """Bytes taken and not released yet."""
        with self._cond:
            return self._in_flight

    @property
    def peak(self) -> int:
        """The most bytes ever in flight at once (recorded inside the lock)."""
        with self._cond:
            return self._peak

    @property
    def waiting(self) -> int:
        """Callers blocked in ``acquire`` right now."""
        with self._cond:
            return len(self._line)

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def acquire(self, n: int, timeout: float | None = None) -> bool:
        """Take ``n`` bytes. Blocks until they fit, ``timeout`` seconds pass, or ``close()``.

        Returns False on timeout (nothing taken). Raises ``Cancelled`` if the budget is or becomes
        closed. ``n == 0`` never waits.
        """
        if n < 0:
            raise ValueError(f"cannot acquire a negative number of bytes ({n})")
        with self._cond:
            if self._closed:
                raise Cancelled("the in-flight budget is closed; the pusher is stopping")
            if n == 0:
                return True
            if not self._line and self._fits(n):
                self._take(n)
                return True
            ticket = object()
            self._line.append(ticket)
            try:
                ready = self._cond.wait_for(
                    lambda: self._closed or (self._line[0] is ticket and self._fits(n)), timeout
                )
                if self._closed:
                    raise Cancelled(
                        "the in-flight budget was closed while waiting; nothing was taken"
                    )
                if not ready:
                    return False
                self._take(n)
                return True
            finally:
                self._line.remove(ticket)
                # The next in line may fit now that this caller has left the line.
                self._cond.notify_all()

    def release(self, n: int) -> None:
        """Give back ``n`` bytes taken by ``acquire``. Does not block; works after ``close()``."""
        with self._cond:
            if n < 0 or n > self._in_flight:
                raise ValueError(f"cannot release {n} bytes: {self._in_flight} are in flight")
            self._in_flight -= n
            self._cond.notify_all()

    def close(self) -> None:
        """Refuse new requests and wake every waiter, which raises ``Cancelled``. Does not block."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _fits(self, n: int) -> bool:
        return self._in_flight + n <= self._limit or self._in_flight == 0

    def _take(self, n: int) -> None:
        self._in_flight += n
        self._peak = max(self._peak, self._in_flight)
