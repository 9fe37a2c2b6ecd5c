"""Reading files in a child process, so that a reader that crashes fails a test, not pytest.

A segmentation fault cannot be caught in the process it happens in. ``ReaderProcess`` keeps one
child (``python -m tests.readerproc``) that reads the files it is asked to read with
``read_file`` and answers, per file, how the reading ended, the bad rows reported and where it
wrote the rows (an Arrow IPC file). When the child dies or hangs, the answer says so, and the
next request starts a new child.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem

from replicator.model import FileInfo
from replicator.readers import SYSTEM_COLUMNS, BadRow, CsvOptions, ReaderOptions, read_file


@dataclass
class Outcome:
    """How reading one file ended: ``completed``, ``failed`` (``error`` says why), ``crashed``
    (the process died: ``signal``) or ``hung``."""

    status: str
    error: str | None = None
    table: pa.Table | None = None
    bad: list[BadRow] = field(default_factory=list)
    signal: int | None = None


class ReaderProcess:
    """One child process reading files on request; restarted after it dies."""

    def __init__(self, workdir: Path, timeout: float = 60.0) -> None:
        self.workdir = workdir
        self.timeout = timeout
        self._child: subprocess.Popen[str] | None = None
        self._count = 0

    def read(self, file: FileInfo, options: dict[str, Any], *, tolerant: bool) -> Outcome:
        """Read ``file`` with ``ReaderOptions(**options)`` (``csv`` as a dict of CsvOptions)."""
        self._count += 1
        out = self.workdir / f"rows-{self._count}.arrow"
        request = {
            "path": file.path,
            "key": file.key,
            "size": file.size,
            "options": options,
            "tolerant": tolerant,
            "out": str(out),
        }
        child = self._start()
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            child.stdin.write(json.dumps(request) + "\n")
            child.stdin.flush()
        except BrokenPipeError:
            return self._dead(child)
        ready, _, _ = select.select([child.stdout], [], [], self.timeout)
        if not ready:
            child.kill()
            self._discard(child)
            return Outcome("hung")
        line = child.stdout.readline()
        if not line:
            return self._dead(child)
        answer = json.loads(line)
        table = None
        if answer["status"] == "completed":
            with pa.OSFile(str(out)) as source:
                table = pa.ipc.open_file(source).read_all()
            out.unlink()
        bad = [
            BadRow(
                reason=b["reason"],
                raw=base64.b64decode(b["raw"]) if b["bytes"] else b["raw"],
                line=b["line"],
                byte=b["byte"],
                row=b["row"],
            )
            for b in answer["bad"]
        ]
        return Outcome(answer["status"], answer["error"], table, bad)

    def close(self) -> None:
        if self._child is not None:
            self._discard(self._child)

    def _start(self) -> subprocess.Popen[str]:
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "tests.readerproc"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=Path(__file__).parent.parent,
            )
        return self._child

    def _dead(self, child: subprocess.Popen[str]) -> Outcome:
        code = self._discard(child)
        return Outcome("crashed", f"exit {code}", signal=-code if code < 0 else None)

    def _discard(self, child: subprocess.Popen[str]) -> int:
        """Close the child's pipes and wait for it to end; its exit code."""
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()
        self._child = None
        return child.wait(timeout=30)


def _serve() -> None:
    """The child: one request per line on stdin, one answer per line on stdout."""
    fs = LocalFileSystem()
    for line in sys.stdin:
        request = json.loads(line)
        file = FileInfo(path=request["path"], key=request["key"], size=request["size"])
        settings = dict(request["options"])
        settings["csv"] = CsvOptions(**_tuples(settings.get("csv", {})))
        bad: list[BadRow] = []
        callback = bad.append if request["tolerant"] else None
        error = None
        try:
            chunks = list(read_file(fs, file, ReaderOptions(**settings), callback))
            if not chunks or not chunks[-1].completed:
                raise AssertionError("the last chunk is not marked completed")
            table = _table([c.items for c in chunks])
            with (
                pa.OSFile(request["out"], "wb") as sink,
                pa.ipc.new_file(sink, table.schema) as writer,
            ):
                writer.write_table(table)
            status = "completed"
        except Exception as exc:  # every failure is an answer
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        answer = {"status": status, "error": error, "bad": [_bad(row) for row in bad]}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def _table(batches: list[pa.RecordBatch]) -> pa.Table:
    """The chunks' rows without the system columns; the chunks must share one schema."""
    with_rows = [b for b in batches if b.num_columns] or batches[:1]
    schemas = {b.schema for b in with_rows}
    if len(schemas) > 1:
        raise AssertionError(f"the chunks of one file have different schemas: {schemas}")
    table = pa.Table.from_batches(with_rows)
    table.validate(full=True)
    # By index: a file may name two columns alike.
    keep = [i for i, name in enumerate(table.schema.names) if name not in SYSTEM_COLUMNS]
    return table.select(keep)


def _bad(row: BadRow) -> dict[str, Any]:
    raw = row.raw
    is_bytes = isinstance(raw, bytes)
    text = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
    return {
        "reason": row.reason,
        "raw": text,
        "bytes": is_bytes,
        "line": row.line,
        "byte": row.byte,
        "row": row.row,
    }


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    """CsvOptions' values from JSON: its lists are tuples."""
    return {
        k: (tuple(map(tuple, v)) if k == "column_types" else tuple(v)) if isinstance(v, list) else v
        for k, v in values.items()
    }


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("PYTHONFAULTHANDLER", "0")
    _serve()
