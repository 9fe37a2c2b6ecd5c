from __future__ import annotations

from pathlib import Path

import pytest

from replicator.config import Settings, build_settings, coerce, load_config
from replicator.errors import ConfigError
from replicator.units import parse_duration, parse_size


def test_sizes_and_durations() -> None:
    assert parse_size("64MiB") == 64 * 1024**2
    assert parse_size("1GiB") == 1024**3
    assert parse_size("1.5kb") == 1500
    assert parse_size(123) == 123
    assert parse_duration("5m") == 300.0
    assert parse_duration("250ms") == 0.25
    with pytest.raises(ConfigError, match="64 apples"):
        parse_size("64 apples")


def test_toml_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'source = "s3://b/p/"\ndest = "./out"\ninclude = ["*.csv"]\nchunk-size = "1MiB"\n'
        'modified-after = 2026-01-01T00:00:00Z\n[csv]\ndelimiter = ";"\nheader = false\n'
    )
    settings = build_settings(load_config(path), coerce({"dest": "./other"}, origin="cli"))
    assert settings.source == "s3://b/p/"
    assert settings.dest == "./other"
    assert settings.include == ("*.csv",)
    assert settings.chunk_size == 1024**2
    assert settings.csv_delimiter == ";"
    assert settings.csv_header is False
    assert settings.modified_after == 1767225600.0


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('source = "a"\nconcurrancy = 4\n')
    with pytest.raises(ConfigError, match="unknown key 'concurrancy'"):
        load_config(path)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"concurrency": "four"}, "whole number"),
        ({"include": 3}, "list of strings"),
        ({"full_refresh": "yes"}, "true or false"),
        ({"modified_after": "yesterday"}, "ISO 8601"),
    ],
)
def test_wrong_types(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        coerce(raw, origin="x.toml")


def test_invalid_values() -> None:
    with pytest.raises(ConfigError, match="format"):
        Settings(format="xml")
    with pytest.raises(ConfigError, match="concurrency"):
        Settings(concurrency=0)
