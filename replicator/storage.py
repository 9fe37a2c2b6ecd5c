"""Where data lives: an fsspec filesystem and a root path, built from a URL.

This is the one place that knows about URL schemes and S3 endpoints, and where storage errors
are translated into replicator's own (``translate_errors``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import fsspec
from fsspec import AbstractFileSystem

from replicator.errors import ConfigError, StorageError

# s3fs reads ahead and uploads parts in blocks of this size; it bounds memory per open file.
S3_BLOCK_SIZE = 8 * 1024 * 1024


@dataclass(frozen=True)
class StorageOptions:
    """How to reach object storage. Credentials come from the usual AWS chain, never from here."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    anonymous: bool = False
    verify_tls: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Location:
    """A root in some filesystem: the source or destination of a pipeline."""

    url: str
    protocol: str
    fs: AbstractFileSystem
    root: str

    def path(self, key: str) -> str:
        """The filesystem path of ``key`` under this root."""
        key = key.lstrip("/")
        if not self.root:
            return key
        return f"{self.root}/{key}" if key else self.root

    def key(self, path: str) -> str:
        """The key of ``path`` relative to this root."""
        path = self.fs._strip_protocol(path)
        if self.root and path.startswith(self.root + "/"):
            return path[len(self.root) + 1 :]
        if path == self.root:
            return os.path.basename(path)
        return path

    @property
    def is_local(self) -> bool:
        return self.protocol in ("file", "local")


def protocol_of(url: str) -> str:
    scheme = urlsplit(url).scheme
    # A Windows drive letter ("C:\\") is not a scheme.
    if not scheme or len(scheme) == 1:
        return "file"
    return scheme


def open_location(url: str, options: StorageOptions | None = None) -> Location:
    """Resolve ``url`` (a local path or any fsspec URL) into a ``Location``."""
    options = options or StorageOptions()
    if not url:
        raise ConfigError(
            "an empty URL was given; pass a local folder or a URL like s3://bucket/prefix/"
        )
    protocol = protocol_of(url)
    try:
        cls = fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"cannot open {url!r}: {exc}") from None
    kwargs: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        kwargs = _s3_kwargs(options)
    elif protocol == "file":
        kwargs = {"auto_mkdir": True}
    kwargs.update(options.extra)
    fs = cls(**kwargs)
    if protocol == "file":
        root = os.path.abspath(os.path.expanduser(url))
    else:
        root = fs._strip_protocol(url)
    root = root.rstrip("/") if root != "/" else root
    return Location(url=url, protocol="file" if protocol == "file" else protocol, fs=fs, root=root)


def _s3_kwargs(options: StorageOptions) -> dict[str, Any]:
    client_kwargs: dict[str, Any] = {}
    # AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_S3) are read by botocore itself; an explicit option wins.
    if options.endpoint_url:
        client_kwargs["endpoint_url"] = options.endpoint_url
    if options.region:
        client_kwargs["region_name"] = options.region
    if not options.verify_tls:
        client_kwargs["verify"] = False
    kwargs: dict[str, Any] = {
        "client_kwargs": client_kwargs,
        "default_block_size": S3_BLOCK_SIZE,
        "anon": options.anonymous,
        # Fresh instances: fsspec's instance cache would share event loops across runs in tests.
        "skip_instance_cache": True,
    }
    if options.profile:
        kwargs["profile"] = options.profile
    return kwargs


@contextlib.contextmanager
def translate_errors(url: str, action: str) -> Iterator[None]:
    """Turn the storage's refusals into ``StorageError`` naming ``url`` and what to check."""
    try:
        yield
    except FileNotFoundError as exc:
        raise StorageError(
            f"{action} {url}: not found ({_reason(exc)}); check the bucket and path", url=url
        ) from exc
    except PermissionError as exc:
        raise StorageError(
            f"{action} {url}: access denied ({_reason(exc)}); check the credentials and their permissions",
            url=url,
        ) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
