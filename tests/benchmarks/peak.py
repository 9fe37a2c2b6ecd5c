"""``python -S peak.py RESULT -- COMMAND...``: run COMMAND, write its wall time and peak RSS.

A small wrapper process between the suite and each measured command. Linux counts the memory a
process had before ``exec`` in its peak RSS, and a child forked from the suite starts with the
suite's memory; forked from this wrapper, it starts with a few MB. ``os.wait4`` gives the
resource usage of that one child. RESULT gets ``{"wall": s, "cpu": s, "peak_rss": bytes, "exit_code": n}``;
the wrapper exits with the command's code. Only the standard library, so ``-S`` is enough.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: peak.py RESULT -- COMMAND...\n")
        return 2
    result, command = argv[0], argv[2:]
    started = time.perf_counter()
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = code = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
    with open(result, "w", encoding="utf-8") as f:
        cpu = usage.ru_utime + usage.ru_stime
        json.dump(
            {"wall": wall, "cpu": cpu, "peak_rss": usage.ru_maxrss * 1024, "exit_code": code}, f
        )
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
