"""Where the files sink puts the output of a source file.

The output path depends only on the source key and the output format, so a rerun of the same
file overwrites its output instead of adding a second one. The runner and the ``state`` command
use the same rule to say where a file's output is.
"""

from __future__ import annotations

from typing import Literal, get_args

OutputFormat = Literal["parquet", "jsonl", "csv", "raw"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)

# raw mirrors the source object byte for byte, so it keeps the source name unchanged.
_EXTENSIONS: dict[OutputFormat, str] = {
    "parquet": ".parquet",
    "jsonl": ".jsonl",
    "csv": ".csv",
    "raw": "",
}


def output_key(key: str, output_format: OutputFormat) -> str:
    """The key (relative to the destination root) of the output written for source ``key``.

    ``data/a.csv`` gives ``data/a.csv.parquet`` for parquet and ``data/a.csv`` for raw. The
    source extension is kept so that ``a.csv`` and ``a.json`` never share an output.
    """
    if output_format not in _EXTENSIONS:
        raise ValueError(f"unknown output format {output_format!r}; use one of {OUTPUT_FORMATS}")
    relative = key.lstrip("/")
    if not relative or relative.endswith("/"):
        raise ValueError(f"source key {key!r} does not name a file")
    return relative + _EXTENSIONS[output_format]
