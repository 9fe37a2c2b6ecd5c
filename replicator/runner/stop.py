"""Graceful and hard stops, shared by the CLI's signal handlers and the runners."""

from __future__ import annotations

import threading


class StopToken:
    """First request: drain (start nothing new, finish what is in work). Second: abort now.

    Thread-safe; runners poll it between chunks and wait on it between polls.
    """

    def __init__(self) -> None:
        self._drain = threading.Event()
        self._abort = threading.Event()
        self._requests = 0

    def request(self) -> int:
        """A person asks to stop (Ctrl-C, SIGTERM): the first request drains, any later one
        aborts, whatever the program itself drained before. Returns how many there were."""
        self._requests += 1
        if self._requests > 1:
            self._abort.set()
        self._drain.set()
        return self._requests

    def drain(self) -> None:
        """Drain without escalating: for the program's own stops, not a person's second Ctrl-C."""
        self._drain.set()

    def abort(self) -> None:
        self._drain.set()
        self._abort.set()

    @property
    def draining(self) -> bool:
        return self._drain.is_set()

    @property
    def aborting(self) -> bool:
        return self._abort.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when a stop was requested meanwhile."""
        return self._drain.wait(seconds)
