"""Listing discovery: one recursive listing of the source, filtered, in a stable order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from replicator.discovery.filters import KeyFilter
from replicator.model import FileInfo
from replicator.storage import Location, translate_errors


def list_files(location: Location, key_filter: KeyFilter | None = None) -> list[FileInfo]:
    """Every file under ``location`` that the filter accepts, sorted by key.

    A source URL naming a single file lists that file.
    """
    key_filter = key_filter or KeyFilter()
    found = sorted(_files(location, key_filter), key=lambda f: f.key)
    return found


def _files(location: Location, key_filter: KeyFilter) -> Iterator[FileInfo]:
    fs = location.fs
    with translate_errors(location.url, "cannot list"):
        # fsspec caches listings (and s3fs opens files with the cached etag): a poll must see
        # the store as it is now, below the root as well as at it.
        fs.invalidate_cache()
        entries: Mapping[str, Mapping[str, Any]] = fs.find(
            location.root, withdirs=False, detail=True
        )
    for path, info in entries.items():
        if info.get("type", "file") != "file":
            continue
        file = file_info(location, path, info)
        if key_filter.accepts(file.key, file.size, file.mtime):
            yield file


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
