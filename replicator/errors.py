"""The exception tree. Every error replicator raises on purpose derives from ``ReplicatorError``.

::

    ReplicatorError
    ├── ConfigError            wrong settings; one actionable line, exit code 2
    ├── TerminalError          retrying will not help (no bucket, access denied, bad input file)
    │   ├── StorageError       the source or destination refused (translated from s3fs/botocore)
    │   ├── StateConflict      another run changed the pipeline's state under this one
    │   └── ReadError          a file could not be parsed
    ├── TransientError         retrying may help (throttling, 5xx, connection reset)
    └── PusherError            misuse of a pusher (a chunk acked twice, or never pushed)

Messages end with what the user can do; context (url, key, offset) is kept as attributes.
"""

from __future__ import annotations


class ReplicatorError(Exception):
    """Root of replicator's errors."""

    exit_code = 1


class ConfigError(ReplicatorError):
    """A setting is wrong. The message is one line saying which and what to do."""

    exit_code = 2


class TerminalError(ReplicatorError):
    """An error that retrying will not cure."""


class StorageError(TerminalError):
    """The storage refused an operation for a reason retrying will not cure."""

    exit_code = 2

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class StateConflict(TerminalError):
    """Another run refreshed the pipeline (or changed its settings) under this one, which
    must stop rather than record files under settings that are no longer the pipeline's."""

    exit_code = 2


class ReadError(TerminalError):
    """A source file could not be parsed."""

    def __init__(self, message: str, *, key: str, rows: int | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.rows = rows


class TransientError(ReplicatorError):
    """A failure that may go away when retried."""


class PusherError(ReplicatorError):
    """A pusher was used against its contract."""

    def __init__(self, message: str, *, key: str, offset: object = None) -> None:
        super().__init__(message)
        self.key = key
        self.offset = offset


class ReplicatorWarning(UserWarning):
    """A run did something other than the user may have meant (files left out, filters that
    took nothing); the Python API warns with it, the command line prints it."""
