"""The Python API: the commands of the CLI as functions.

Options are the CLI's, as keyword arguments with ``_`` for ``-`` (``chunk_size="8MiB"``,
``include="*.csv"`` or a list of globs, ``poll_interval="30s"``), checked with the CLI's
messages: a wrong one raises ``ConfigError`` naming it. ``config`` reads a TOML file first, as
``--config`` does; the keyword arguments win over it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from replicator.config import Settings, build_settings, coerce, load_config
from replicator.runner.events import EventHandler, RunSummary, ignore
from replicator.runner.stop import StopToken

if TYPE_CHECKING:
    from replicator.runner.preview import Plan

ConfigPath = str | os.PathLike[str] | None


def settings(
    source: str | None = None, dest: str | None = None, *, config: ConfigPath = None, **options: Any
) -> Settings:
    """The ``Settings`` of a run: the config file's, then ``source``, ``dest`` and ``options``."""
    given = {"source": source, "dest": dest, **options}
    from_file = load_config(config) if config is not None else {}
    overrides = coerce({k: v for k, v in given.items() if v is not None}, origin="option")
    return build_settings(from_file, overrides)


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

    return run_snapshot(settings(source, dest, config=config, **options), events, stop)


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

    return run_watch(settings(source, dest, config=config, **options), events, stop, once=once)


def plan(
    source: str | None = None, dest: str | None = None, *, config: ConfigPath = None, **options: Any
) -> Plan:
    """What ``snapshot`` with the same arguments would replicate now and skip, as
    ``replicate plan``. Writes nothing."""
    from replicator.runner.preview import make_plan  # noqa: PLC0415 - only what is used

    return make_plan(settings(source, dest, config=config, **options))


__all__ = ["plan", "settings", "snapshot", "watch"]
