"""replicator: replicate the rows of files on object storage into a sink.

The command line's commands, as functions::

    import replicator

    summary = replicator.snapshot("data/", "out/", include="*.csv", chunk_size="8MiB")
    if not summary.ok:
        print(summary.failures)

``snapshot``, ``watch`` and ``plan`` take the CLI's options as keyword arguments (see
``replicator.api``); ``Settings`` holds them all; every error replicator raises on purpose
derives from ``ReplicatorError`` (``ConfigError`` for wrong settings).
"""

from replicator.api import plan, snapshot, watch
from replicator.config import Settings
from replicator.errors import (
    ConfigError,
    ReadError,
    ReplicatorError,
    ReplicatorWarning,
    StorageError,
    TerminalError,
    TransientError,
)
from replicator.runner.events import RunSummary
from replicator.runner.stop import StopToken


def __getattr__(name: str) -> str:
    # Looked up on use: reading the installed metadata costs every CLI start otherwise.
    if name == "__version__":
        from replicator.version import package_version  # noqa: PLC0415

        return package_version()
    raise AttributeError(f"module 'replicator' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "ReadError",
    "ReplicatorError",
    "ReplicatorWarning",
    "RunSummary",
    "Settings",
    "StopToken",
    "StorageError",
    "TerminalError",
    "TransientError",
    "__version__",
    "plan",
    "snapshot",
    "watch",
]
