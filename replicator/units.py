"""Parsing of human sizes and durations given in settings ("64MiB", "1GiB", "30s")."""

from __future__ import annotations

import re

from replicator.errors import ConfigError

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: str | int, *, setting: str = "size") -> int:
    """Bytes in ``value``: an int, or a number with an optional unit (KB, MiB, GiB, ...)."""
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{setting} must not be negative (got {value})")
        return value
    match = _SIZE_RE.match(value)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ConfigError(
            f"{setting}: cannot read {value!r} as a size; use bytes or a unit, e.g. 64MiB or 1GiB"
        )
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


_DURATION_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: str | float, *, setting: str = "duration") -> float:
    """Seconds in ``value``: a number of seconds, or a number with ms, s, m or h."""
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"{setting} must not be negative (got {value})")
        return float(value)
    match = _DURATION_RE.match(value)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _DURATION_UNITS:
        raise ConfigError(f"{setting}: cannot read {value!r} as a duration; use e.g. 30s, 5m, 1h")
    return float(match.group(1)) * _DURATION_UNITS[unit]
