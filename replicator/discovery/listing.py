"""Listing discovery: one recursive listing of the source, filtered, in a stable order."""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from replicator.discovery.filters import KeyFilter
from replicator.errors import StorageError
from replicator.model import FileInfo
from replicator.storage import Location, redact, translate_errors


@dataclass(frozen=True, slots=True)
class Listing:
    """What one listing found: the files the filter took (sorted by key), and how many files
    there were under the source before filtering, ``hidden`` of them for their names."""

    files: list[FileInfo]
    seen: int
    hidden: int


class SourceNotFound(StorageError):
    """The source folder, bucket or prefix does not exist."""


def list_files(
    location: Location, key_filter: KeyFilter | None = None, *, follow_symlinks: bool = True
) -> list[FileInfo]:
    """Every file under ``location`` that the filter accepts, sorted by key.

    A source URL naming a single file lists that file.
    """
    return list_source(location, key_filter, follow_symlinks=follow_symlinks).files


def list_source(
    location: Location, key_filter: KeyFilter | None = None, *, follow_symlinks: bool = True
) -> Listing:
    """``list_files`` with the counts of what was left out."""
    key_filter = key_filter or KeyFilter()
    seen = hidden = 0
    found: list[FileInfo] = []
    for path, info in _entries(location, follow_symlinks):
        seen += 1
        file = file_info(location, path, info)
        named = path == location.root  # the source names this very file: taken as named
        if not named and key_filter.hidden(file.key):
            hidden += 1
        elif key_filter.accepts(file.key, file.size, file.mtime, named=named):
            found.append(file)
    found.sort(key=lambda f: f.key)
    return Listing(found, seen, hidden)


def require_source(location: Location, listing: Listing | None = None) -> None:
    """Raise ``SourceNotFound`` when the source does not exist: a local path that is not
    there, a bucket that does not exist, or a prefix with no object under it (S3 has no
    folders: a prefix exists while something is stored under it)."""
    if listing is not None and listing.seen:
        return
    fs = location.fs
    with translate_errors(location.url, "cannot list"):
        exists = bool(fs.exists(location.root))
    if exists:
        return
    shown = redact(location.url)
    if location.is_local:
        raise SourceNotFound(
            f"the source {shown} does not exist ({location.root}); check the path", url=shown
        )
    raise SourceNotFound(
        f"the source {shown} does not exist: nothing is stored under it; check the bucket and "
        "prefix",
        url=shown,
    )


def _entries(location: Location, follow_symlinks: bool) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if location.is_local:
        yield from _local_entries(location.root, follow_symlinks)
        return
    fs = location.fs
    with translate_errors(location.url, "cannot list"):
        # fsspec caches listings (and s3fs opens files with the cached etag): a poll must see
        # the store as it is now, below the root as well as at it.
        fs.invalidate_cache()
        entries: Mapping[str, Mapping[str, Any]] = fs.find(
            location.root, withdirs=False, detail=True
        )
    for path, info in entries.items():
        if info.get("type", "file") == "file":
            yield path, info


def _local_entries(root: str, follow_symlinks: bool) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Regular files under ``root``, through symbolic links when ``follow_symlinks`` (as
    ``aws s3 sync`` does; fsspec's ``find`` does not follow them). The root itself is always
    followed (as ``find -H`` does). A folder reached twice (a link loop, or a link to a folder
    listed anyway) is listed once, under its own path: real folders are listed before any
    reached through a link, so the keys do not depend on the order the folder is read in.
    Links that lead nowhere are skipped: there is nothing to read."""
    try:
        top = os.stat(root)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"cannot list {root}: {exc.strerror or exc}; check the path") from None
    if stat.S_ISREG(top.st_mode):
        yield root, _local_info(top)
        return
    if not stat.S_ISDIR(top.st_mode):
        return
    visited: set[tuple[int, int]] = set()
    real: list[tuple[str, os.stat_result]] = [(root, top)]
    linked: list[tuple[str, os.stat_result]] = []  # reached through a link: listed last
    while real or linked:
        folder, info = real.pop() if real else linked.pop()
        if (info.st_dev, info.st_ino) in visited:
            continue
        visited.add((info.st_dev, info.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            raise StorageError(
                f"cannot list {folder}: {exc.strerror or exc}; check its permissions"
            ) from None
        for entry in entries:
            link = entry.is_symlink()
            if link and not follow_symlinks:
                continue
            try:
                found = entry.stat(follow_symlinks=True)
            except OSError:  # a dangling link, or a file deleted since the folder was read
                continue
            if stat.S_ISREG(found.st_mode):
                yield entry.path, _local_info(found)
            elif stat.S_ISDIR(found.st_mode):
                (linked if link else real).append((entry.path, found))


def _local_info(info: os.stat_result) -> dict[str, Any]:
    return {"size": info.st_size, "mtime": info.st_mtime, "type": "file"}


def file_info(location: Location, path: str, info: Mapping[str, Any]) -> FileInfo:
    """A ``FileInfo`` from an fsspec ``info``/``find`` entry."""
    return FileInfo(
        path=path,
        key=location.key(path),
        size=int(info.get("size") or 0),
        etag=_etag(info),
        mtime=_mtime(info),
    )


def _etag(info: Mapping[str, Any]) -> str | None:
    for name in ("ETag", "etag", "md5Hash", "content_settings"):
        value = info.get(name)
        if isinstance(value, str) and value:
            return value.strip('"')
    return None


def _mtime(info: Mapping[str, Any]) -> float | None:
    for name in ("mtime", "LastModified", "last_modified", "updated", "modified", "mtime_ns"):
        value = info.get(name)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value) / 1e9 if name == "mtime_ns" else float(value)
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None
