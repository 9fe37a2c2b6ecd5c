"""The installed version of replicator."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The version of the installed distribution (``pyproject.toml``), or ``unknown`` when
    the package runs from a checkout that was never installed."""
    try:
        return version("replicator")
    except PackageNotFoundError:
        return "unknown"
