"""Local output folders: created once, swept of stale temp files, their fsyncs shared.

Each output is written to a hidden temp file beside its final path (``.<name>.<tag>.tmp``) and
renamed into place. Its writer holds an exclusive ``flock`` on it until then, and the tag names
the writer, ``<host>-<pid>-<random>``, so a temp file left by a killed run can be told from one a
live writer is still filling. The first time a run writes into a folder it removes the temp files
nobody holds a lock on that were left by a dead process of this host, or that nobody has touched
for a day (another host's crash, on a shared filesystem).

A rename is durable once its folder is fsynced (and a new folder once its parent is). Threads
that renamed into one folder share one folder fsync when they arrive while another is running: an
fsync started after a rename covers it, so each waits only for the first fsync that starts after
its own rename; a failed fsync fails every caller it was to cover.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import sys
import threading
import time
import uuid

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temps are then told by tag and age alone
    fcntl = None  # type: ignore[assignment]

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
    """Whether ``name``, by its tag and age, is a temp file of ours no live writer can be filling.

    The caller still checks that no writer holds its lock (``_unlocked``).
    """
    match = _TEMP.match(name)
    if match is None:
        return False
    if match["host"] == _HOST and not _alive(int(match["pid"])):
        return True
    return now - mtime > STALE_AFTER_SECONDS and int(match["pid"]) != os.getpid()


def lock_temp(fd: int) -> None:
    """Mark the temp file open at ``fd`` as in use until it is closed (where flock exists)."""
    if fcntl is not None:
        # A filesystem without locks (some network mounts) only loses this protection.
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlocked(path: str) -> bool:
    """Whether no process holds the lock of the temp file at ``path``."""
    if fcntl is None:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # releases the lock taken just to look
    return True


def _alive(pid: int) -> bool:
    if pid == os.getpid() or sys.platform == "win32":
        # On Windows signal 0 is CTRL_C_EVENT, not a probe: every writer counts as alive.
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
        _make_folders(folder)
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


def _make_folders(folder: str) -> None:
    """``os.makedirs``, then each new folder's entry made durable in its parent."""
    missing: list[str] = []
    path = os.path.abspath(folder)
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    if not missing:
        return
    os.makedirs(folder, exist_ok=True)
    for created in reversed(missing):
        fsync_folder(os.path.dirname(created))


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
            if is_stale_temp(entry.name, mtime, now=now) and _unlocked(entry.path):
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
        # The last failed fsync: the callers it was to cover (tickets up to this) get its error.
        self._failed_upto = 0
        self._error: BaseException | None = None

    def sync(self) -> None:
        with self._cond:
            self._arrived += 1
            ticket = self._arrived
            while self._covered < ticket:
                if self._error is not None and ticket <= self._failed_upto:
                    # Retrying could succeed without the data: the failed fsync already
                    # consumed the error (Linux reports a write-back error once).
                    raise self._error
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                covers = self._arrived
                self._cond.release()
                error: BaseException | None = None
                try:
                    fsync_folder(self._folder)
                except BaseException as exc:  # re-raised below, once the lock is held again
                    error = exc
                self._cond.acquire()
                self._running = False
                self._cond.notify_all()
                if error is not None:
                    self._error, self._failed_upto = error, covers
                    raise error
                self._covered = max(self._covered, covers)


def fsync_folder(folder: str) -> None:
    # The rename is durable only once the folder entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
