"""Making many finished local files durable at once.

Each file's own ``fsync`` costs a journal commit and a round of device writes; a batch of files
finished together is made durable by one ``syncfs`` per filesystem instead, as databases group
their commits. That is only as safe as an fsync where ``syncfs`` reports every error an fsync
would: on Linux 5.17 and later (earlier kernels drop the filesystem's own sync errors), and on
local filesystems that keep their journal in the kernel (ext4, xfs, btrfs; not FUSE, NFS or
overlayfs). Everywhere else each file is fsynced on its own, by the thread that wrote it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from collections.abc import Callable, Sequence

from replicator.sinks.folders import fsync_folder

_FILESYSTEMS = frozenset({"ext4", "xfs", "btrfs"})


def _load_syncfs() -> Callable[[int], int] | None:
    if sys.platform != "linux" or _kernel_version() < (5, 17):
        return None
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    return syncfs


def _kernel_version() -> tuple[int, int]:
    try:
        major, minor = platform.release().split(".")[:2]
        return int(major), int("".join(c for c in minor if c.isdigit()) or 0)
    except ValueError:
        return (0, 0)


_SYNCFS = _load_syncfs()
_shares_by_device: dict[int, bool] = {}


def shares_syncs(fd: int) -> bool:
    """Whether the file open at ``fd`` may be made durable by a batch's ``syncfs``."""
    if _SYNCFS is None:
        return False
    device = os.fstat(fd).st_dev
    shares = _shares_by_device.get(device)
    if shares is None:
        shares = _shares_by_device[device] = _filesystem_type(device) in _FILESYSTEMS
    return shares


def _filesystem_type(device: int) -> str | None:
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and fields[2] == wanted and "-" in fields:
                    return fields[fields.index("-") + 1]
    except OSError:
        pass
    return None


def sync_files(fds: Sequence[int]) -> None:
    """Make the data written to the open files ``fds`` durable. Blocks until it is.

    The files must all pass ``shares_syncs`` and come in the order they were opened: a
    filesystem's sync goes through its first file, so it reports a write error on any file
    opened after that one.
    """
    if len(fds) == 1:
        os.fsync(fds[0])
        return
    firsts: dict[int, int] = {}
    for fd in fds:
        firsts.setdefault(os.fstat(fd).st_dev, fd)
    for fd in firsts.values():
        if not _syncfs(fd):
            for each in fds:
                os.fsync(each)
            return


def sync_filesystems_of(folders: Sequence[str]) -> None:
    """Make every change to the filesystems holding ``folders`` durable, renames included.

    For folders whose files pass ``shares_syncs``. A failed journal commit is reported whichever
    file the sync goes through, so the folders are opened just for it.
    """
    firsts: dict[int, str] = {}
    for folder in folders:
        firsts.setdefault(os.stat(folder).st_dev, folder)
    for folder in firsts.values():
        fd = os.open(folder, os.O_RDONLY)
        try:
            synced = _syncfs(fd)
        finally:
            os.close(fd)
        if not synced:
            for each in folders:
                fsync_folder(each)
            return


def _syncfs(fd: int) -> bool:
    """``syncfs(fd)``; False, and never again, where a sandbox refuses the call."""
    global _SYNCFS  # noqa: PLW0603 - switched off for the process once refused
    syncfs = _SYNCFS
    if syncfs is None:
        return False
    if syncfs(fd) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EPERM):  # seccomp filters (some containers) refuse it
        _SYNCFS = None
        return False
    raise OSError(error, f"syncfs: {os.strerror(error)}")
