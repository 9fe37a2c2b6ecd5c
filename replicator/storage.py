"""Where data lives: an fsspec filesystem and a root path, built from a URL.

This is the one place that knows about URL schemes and S3 endpoints, and where storage errors
are translated into replicator's own (``translate_errors``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import fsspec
from fsspec import AbstractFileSystem

from replicator.errors import ConfigError, StorageError, TransientError

# s3fs reads ahead and uploads parts in blocks of this size; it bounds memory per open file.
S3_BLOCK_SIZE = 8 * 1024 * 1024

# Retries happen in two layers we configure rather than re-implement. botocore ("standard"
# mode) retries each request on 500/502/503/504, throttling (SlowDown) and connection errors,
# with jittered exponential backoff capped at 20 s; AWS_MAX_ATTEMPTS / AWS_RETRY_MODE (or the
# profile's max_attempts / retry_mode) override these defaults. s3fs retries a whole
# request-and-read (one byte range) when the body breaks off mid-read, and on SlowDown.
S3_MAX_ATTEMPTS = 6
S3FS_RETRIES = 6


# Object-store URLs name a bucket after "//"; an "@" there can only be pasted credentials.
_NO_USERINFO = {"s3", "s3a", "gs", "gcs"}


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
    if protocol in _NO_USERINFO and "@" in urlsplit(url).netloc:
        raise ConfigError(
            f"credentials in the URL {redact(url)} are not supported; use the AWS_* variables, "
            "--profile or the config file instead"
        )
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
    try:
        fs = configure_filesystem(cls(**kwargs))
    except Exception as exc:
        translated = translate_error(exc, url, "cannot open")
        if translated is None:
            raise
        raise translated from exc
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
        "config_kwargs": {"retries": _retry_config(options.profile)},
        "default_block_size": S3_BLOCK_SIZE,
        "anon": options.anonymous,
        # Fresh instances: fsspec's instance cache would share event loops across runs in tests.
        "skip_instance_cache": True,
    }
    if options.profile:
        kwargs["profile"] = options.profile
    return kwargs


def _retry_config(profile: str | None) -> dict[str, Any]:
    """botocore's retry settings: ours, except where the AWS environment or profile sets them."""
    import botocore.session  # noqa: PLC0415 - only S3 needs it; 0.15 s at every start otherwise

    session = botocore.session.Session(profile=profile)
    retries: dict[str, Any] = {}
    try:
        if session.get_config_variable("retry_mode") in (None, "legacy"):
            retries["mode"] = "standard"
        if session.get_config_variable("max_attempts") is None:
            retries["total_max_attempts"] = S3_MAX_ATTEMPTS
    except Exception:  # a broken or missing profile is reported when the client is made
        retries = {"mode": "standard", "total_max_attempts": S3_MAX_ATTEMPTS}
    return retries


def configure_filesystem(fs: AbstractFileSystem) -> AbstractFileSystem:
    """Per-instance settings fsspec filesystems take as attributes rather than arguments."""
    if hasattr(fs, "retries"):
        fs.retries = S3FS_RETRIES  # s3fs: attempts per ranged read (its class default is 5)
    return fs


# -- errors ------------------------------------------------------------------------------------

# errno values of a destination or source that will not accept the operation however often
# it is tried: missing parent, a file where a folder should be, full, read-only, no permission.
_TERMINAL_ERRNOS = {
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.EACCES,
    errno.EPERM,
    errno.ENOSPC,
    errno.EROFS,
    errno.EDQUOT,
    errno.ENAMETOOLONG,
}
_TRANSIENT_ERRNOS = {errno.EBUSY, errno.EREMOTEIO, errno.EAGAIN, errno.ETIMEDOUT, errno.EIO}


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the operation that raised ``exc`` may succeed: throttling, 5xx,
    dropped connections and timeouts (after botocore and s3fs gave up on their own retries)."""
    import botocore.exceptions as bce  # noqa: PLC0415 - see _retry_config

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TransientError):
            return True
        if isinstance(current, (StorageError, FileNotFoundError, PermissionError)):
            return False
        if isinstance(current, (bce.NoCredentialsError, bce.PartialCredentialsError)):
            return False
        if isinstance(current, (bce.HTTPClientError, bce.ConnectionError, TimeoutError)):
            return True
        if type(current).__module__.startswith("aiohttp") or isinstance(
            current, (ConnectionError, EOFError)
        ):
            return True
        if isinstance(current, OSError) and current.errno in _TRANSIENT_ERRNOS:
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def translate_errors(url: str, action: str) -> Iterator[None]:
    """Turn storage errors into replicator's: refusals that retrying will not cure become
    ``StorageError`` (naming ``url`` and what to check), passing faults ``TransientError``.
    Anything else propagates unchanged."""
    try:
        yield
    except (StorageError, TransientError):
        raise
    except Exception as exc:
        translated = translate_error(exc, url, action)
        if translated is None:
            raise
        raise translated from exc


def translate_error(exc: BaseException, url: str, action: str) -> Exception | None:
    """The replicator error for ``exc`` raised while doing ``action`` on ``url``, or ``None``."""
    import botocore.exceptions as bce  # noqa: PLC0415 - see _retry_config

    where = f"{action} {redact(url)}"
    reason = _reason(exc)
    if isinstance(exc, FileNotFoundError):
        return StorageError(f"{where}: not found ({reason}); check the bucket and path", url=url)
    if isinstance(exc, PermissionError):
        return StorageError(
            f"{where}: access denied ({reason}); check the credentials and their permissions",
            url=url,
        )
    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return StorageError(
            f"{where}: no credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or pass --profile (a public bucket: anonymous = true in the config file)",
            url=url,
        )
    if isinstance(exc, bce.ProfileNotFound):
        return StorageError(f"{where}: {reason}; check --profile and ~/.aws/config", url=url)
    if isinstance(exc, bce.SSLError):
        return StorageError(
            f"{where}: the TLS certificate was not accepted ({reason}); check the endpoint's "
            "certificate (AWS_CA_BUNDLE), or pass --no-verify-tls for a trusted test endpoint",
            url=url,
        )
    if isinstance(exc, bce.ParamValidationError):
        return StorageError(f"{where}: {reason}; check the URL", url=url)
    if isinstance(exc, bce.EndpointConnectionError):
        return StorageError(
            f"{where}: cannot reach the storage endpoint ({reason}); check --endpoint-url "
            "(or AWS_ENDPOINT_URL), the region and the network",
            url=url,
        )
    if is_transient(exc):
        return TransientError(f"{where}: {reason}; it may pass, retry later")
    if isinstance(exc, OSError) and exc.errno in _TERMINAL_ERRNOS:
        return StorageError(
            f"{where}: {reason}; check that the path exists, is a folder where one is expected, "
            "is writable and has space",
            url=url,
        )
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return redact(text.splitlines()[0][:300])


# -- secrets -----------------------------------------------------------------------------------

# Credentials in a URL: "scheme://user:pass@", and query parameters of signed URLs and SAS tokens.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^@\s/?#]*(?::[^@\s]*)?@")
_SECRET_PARAM = re.compile(
    r"(?<=[?&])(?P<name>(?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId"
    r"|x-amz-security-token|sig|se|sv|sp|token|access_token|Expires|X-Goog-Signature"
    r"|X-Goog-Credential|key|secret|password))=(?P<value>[^&\s\"'<>]+)",
    re.IGNORECASE,
)
_SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ACCESS_KEY_ID",
)
_REDACTED = "***"
# Values this short are too likely to occur in ordinary text to be searched for.
_MIN_SECRET_LEN = 8


def redact(text: str) -> str:
    """``text`` with credentials removed: URL userinfo, signed-URL query parameters, and the
    values of the AWS credential variables of this process wherever they appear."""
    text = _URL_USERINFO.sub(lambda m: m.group("scheme") + _REDACTED + "@", text)
    text = _SECRET_PARAM.sub(lambda m: m.group("name") + "=" + _REDACTED, text)
    for name in _SECRET_ENV:
        value = os.environ.get(name, "")
        if len(value) >= _MIN_SECRET_LEN:
            text = text.replace(value, _REDACTED)
    return text
