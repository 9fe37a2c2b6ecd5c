"""Local output folders: created once, swept of stale temp files, their fsyncs shared.

Each output is written to a hidden temp file beside its final path (``.<name>.<tag>.tmp``) and
renamed into place. The tag names the writer, ``<host>-<pid>-<random>``, so a temp file left by a
killed run can be told from one a live writer is still filling: the first time a run writes into
a folder it removes the temp files of dead processes of this host, and any temp file untouched
for a day (another host's crash, on a shared filesystem).

A rename is durable once its folder is fsynced. Threads that renamed into one folder share one
folder fsync when they arrive while another is running: an fsync started after a rename covers
it, so each waits only for the first fsync that starts after its own rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import threading
import time
import uuid

# The name part is cut to stay within the 255-byte limit on file names.
_TEMP_NAME_BYTES = 120
# A temp file of another host (or a reused pid) is stale after this long without a write.
STALE_AFTER_SECONDS = 24 * 3600
_TEMP = re.compile(r"^\..+\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


_HOST = _host_tag()


def temp_path(final: str) -> str:
    """A fresh hidden temp path beside ``final``, tagged with this host and process."""
    folder, name = os.path.split(final)
    short = name.encode()[:_TEMP_NAME_BYTES].decode(errors="ignore")
    # The leading dot hides it from Spark, pyarrow datasets and globbing readers.
    return os.path.join(folder, f".{short}.{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def is_stale_temp(name: str, mtime: float, *, now: float) -> bool:
    """Whether ``name`` is a temp file of ours that no live writer can still be filling."""
    match = _TEMP.match(name)
    if match is None:
        return False
    if now - mtime > STALE_AFTER_SECONDS:
        return True
    return match["host"] == _HOST and not _alive(int(match["pid"]))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


class LocalFolders:
    """The folders one sink writes into. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: set[str] = set()
        self._syncs: dict[str, _FolderSync] = {}

    def prepare(self, folder: str) -> None:
        """Create ``folder`` if needed and, the first time, remove stale temp files from it."""
        with self._lock:
            if folder in self._ready:
                return
        os.makedirs(folder, exist_ok=True)
        sweep(folder)
        with self._lock:
            self._ready.add(folder)

    def sync(self, folder: str) -> None:
        """Make the renames done into ``folder`` so far durable. Blocks until they are."""
        with self._lock:
            sync = self._syncs.get(folder)
            if sync is None:
                sync = self._syncs[folder] = _FolderSync(folder)
        sync.sync()


def sweep(folder: str) -> int:
    """Remove the stale temp files in ``folder`` (not below it); returns how many."""
    removed = 0
    now = time.time()
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.endswith(".tmp") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                mtime = entry.stat(follow_symlinks=False).st_mtime
            except FileNotFoundError:
                continue
            if is_stale_temp(entry.name, mtime, now=now):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


class _FolderSync:
    """Shared fsyncs of one folder: each caller waits for one that started after it arrived."""

    def __init__(self, folder: str) -> None:
        self._folder = folder
        self._cond = threading.Condition()
        self._arrived = 0  # callers so far; a caller's ticket is its number
        self._covered = 0  # callers covered by a finished fsync
        self._running = False

    def sync(self) -> None:
        with self._cond:
            self._arrived += 1
            ticket = self._arrived
            while self._covered < ticket:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                covers = self._arrived
                self._cond.release()
                try:
                    fsync_folder(self._folder)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
                # Reached only when the fsync succeeded; on failure the others try their own.
                self._covered = max(self._covered, covers)


def fsync_folder(folder: str) -> None:
    # The rename is durable only once the folder entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
