"""Running one command as a measured child process: wall time, peak RSS, exit code.

The command runs under the ``peak.py`` wrapper, which reports the wall time and peak RSS of that
one process (see there why a wrapper). A run can be given a pseudo-terminal, for measuring the
live progress view, which only renders on a terminal.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PEAK = str(Path(__file__).with_name("peak.py"))

# What a terminal the progress view sees: wide enough for its per-file bars.
_PTY_ROWS, _PTY_COLUMNS = 40, 120
_TAIL_BYTES = 4000


@dataclass(frozen=True)
class Measurement:
    wall: float  # seconds, from start to exit
    cpu: float  # seconds of CPU, user and system, of all its threads
    peak_rss: int  # bytes
    exit_code: int  # negative: killed by that signal
    output_bytes: int  # what the command wrote (to the terminal, or to stderr)
    tail: str  # the end of that output, to explain failures
    timed_out: bool = False
    report: dict[str, Any] | None = None  # what the command wrote, for tools that report


def measure(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    timeout: float,
    terminal: bool = False,
    stdout: str | None = None,
) -> Measurement:
    """Run ``command`` to completion. Blocks; kills it after ``timeout`` seconds. Its stdout
    goes to the file ``stdout`` if given (not on a terminal), else nowhere."""
    if terminal and stdout is not None:
        raise ValueError("a command on a terminal writes its stdout there")
    with tempfile.TemporaryDirectory(prefix="measure-") as folder:
        result = os.path.join(folder, "result.json")
        wrapped = [sys.executable, "-S", _PEAK, result, "--", *command]
        if terminal:
            code, size, tail, timed_out, wall = _run_on_pty(wrapped, env, cwd, timeout)
        else:
            code, size, tail, timed_out, wall = _run(wrapped, env, cwd, timeout, stdout)
        try:
            with open(result, encoding="utf-8") as f:
                measured = json.load(f)
        except FileNotFoundError:  # killed before the wrapper could write
            measured = {"wall": wall, "cpu": 0.0, "peak_rss": 0, "exit_code": code}
    return Measurement(
        wall=float(measured["wall"]),
        cpu=float(measured["cpu"]),
        peak_rss=int(measured["peak_rss"]),
        exit_code=int(measured["exit_code"]),
        output_bytes=size,
        tail=tail,
        timed_out=timed_out,
    )


# exit code, output size, output tail, timed out, wall time seen from here
_Outcome = tuple[int, int, str, bool, float]


def _run(
    command: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    timeout: float,
    stdout: str | None = None,
) -> _Outcome:
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(tempfile.TemporaryFile())
        out = subprocess.DEVNULL if stdout is None else stack.enter_context(open(stdout, "wb"))
        started = time.perf_counter()
        proc = subprocess.Popen(
            command,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        timed_out = _wait(proc, timeout)
        wall = time.perf_counter() - started
        size = err.tell()
        err.seek(max(0, size - _TAIL_BYTES))
        tail = err.read().decode(errors="replace")
    return proc.returncode, size, tail, timed_out, wall


def _run_on_pty(
    command: Sequence[str], env: Mapping[str, str], cwd: str, timeout: float
) -> _Outcome:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", _PTY_ROWS, _PTY_COLUMNS, 0, 0))
    drain = _Drain(master)
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command,
            env={**env, "TERM": "xterm-256color"},
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        slave = -1
        drain.start()
        timed_out = _wait(proc, timeout)
        wall = time.perf_counter() - started
    finally:
        if slave >= 0:
            os.close(slave)
        if drain.is_alive():
            drain.join(timeout=10)
        os.close(master)
    return proc.returncode, drain.size, drain.tail(), timed_out, wall


class _Drain(threading.Thread):
    """Reads a pty's output until the child side closes, so the child never blocks writing."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self._fd = fd
        self.size = 0
        self._tail = b""

    def run(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 65536)
            except OSError:  # EIO: every child-side descriptor is closed
                return
            if not data:
                return
            self.size += len(data)
            self._tail = (self._tail + data)[-_TAIL_BYTES:]

    def tail(self) -> str:
        return self._tail.decode(errors="replace")


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``proc``; after ``timeout`` s kill its process group. True if it was killed."""
    try:
        proc.wait(timeout=timeout)
        return False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
