"""The Python API: the commands of the CLI as functions.

Options are the CLI's, as keyword arguments with ``_`` for ``-`` (``chunk_size="8MiB"``,
``include="*.csv"`` or a list of globs, ``poll_interval="30s"``), checked with the CLI's
messages: a wrong one raises ``ConfigError`` naming it. ``config`` reads a TOML file first, as
``--config`` does; the keyword arguments win over it.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

from replicator.config import Settings, settings_from
from replicator.errors import ConfigError, ReplicatorWarning
from replicator.runner.events import EventHandler, RunSummary, ignore
from replicator.runner.stop import StopToken

if TYPE_CHECKING:
    from replicator.runner.preview import Plan

ConfigPath = str | os.PathLike[str] | None


# Options of the command line's own output; a program observes a run through ``events``.
_CLI_ONLY = ("quiet", "log_format", "metrics_port", "metrics_host")


def settings(
    source: str | None = None, dest: str | None = None, *, config: ConfigPath = None, **options: Any
) -> Settings:
    """The ``Settings`` of a run: the config file's, then ``source``, ``dest`` and ``options``."""
    for name in _CLI_ONLY:
        if name in options:
            raise ConfigError(
                f"{name} is an option of the command line's output; a program observes a "
                "run with events=callback (see replicator.runner.events)"
            )
    given = {"source": source, "dest": dest, **options}
    return settings_from(config, given, origin="option")


def _said(summary: RunSummary) -> RunSummary:
    """Warnings (files left out, filters that took nothing) as Python warnings too: a
    program that ignores the summary still hears of them."""
    for line in summary.warnings:
        warnings.warn(line, ReplicatorWarning, stacklevel=3)
    return summary


def snapshot(
    source: str | None = None,
    dest: str | None = None,
    *,
    config: ConfigPath = None,
    events: EventHandler = ignore,
    stop: StopToken | None = None,
    **options: Any,
) -> RunSummary:
    """Replicate every file under ``source`` into ``dest`` once, as ``replicate snapshot``.

    Blocks until done. Returns what the run did; files that failed are in
    ``summary.failures`` (``summary.ok`` is False). Raises ``ConfigError`` or ``StorageError``
    for wrong settings or a source that does not exist. ``events`` receives the run's typed
    events (progress); ``stop.request()`` from another thread stops it as Ctrl-C does.
    """
    from replicator.runner.snapshot import run_snapshot  # noqa: PLC0415 - only what is used

    return _said(run_snapshot(settings(source, dest, config=config, **options), events, stop))


def watch(
    source: str | None = None,
    dest: str | None = None,
    *,
    once: bool = False,
    config: ConfigPath = None,
    events: EventHandler = ignore,
    stop: StopToken | None = None,
    **options: Any,
) -> RunSummary:
    """Keep replicating, as ``replicate watch``: until ``stop`` is requested (from another
    thread), or one pass with ``once=True``."""
    from replicator.runner.watch import run_watch  # noqa: PLC0415 - only what is used

    summary = run_watch(settings(source, dest, config=config, **options), events, stop, once=once)
    return _said(summary)


def plan(
    source: str | None = None, dest: str | None = None, *, config: ConfigPath = None, **options: Any
) -> Plan:
    """What ``snapshot`` with the same arguments would replicate now and skip, as
    ``replicate plan``. Writes nothing."""
    from replicator.runner.preview import make_plan  # noqa: PLC0415 - only what is used

    planned = make_plan(settings(source, dest, config=config, **options))
    for line in planned.warnings:
        warnings.warn(line, ReplicatorWarning, stacklevel=2)
    return planned


__all__ = ["plan", "settings", "snapshot", "watch"]
