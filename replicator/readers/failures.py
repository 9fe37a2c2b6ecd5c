"""Translation of parser and decompressor errors into ``ReadError``, at the reader boundary.

Storage errors (``FileNotFoundError``, ``PermissionError``, connection errors) are not ours to
translate: they propagate unchanged, so the runner can tell a vanished file from a bad one.
"""

from __future__ import annotations

import lzma

import pyarrow as pa
from isal import igzip, isal_zlib

from replicator.errors import ReadError

# Arrow's error types that mean "this input is not what we expected".
_ARROW_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    pa.ArrowKeyError,
    pa.ArrowIndexError,
    pa.ArrowCapacityError,
)

_TYPE_DRIFT = (
    "conversion error",
    "changed from",
    "unexpected field",
    "failed to convert json",
)


def is_read_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the file's content is bad (as opposed to the storage failing)."""
    return isinstance(
        exc, (ReadError, UnicodeDecodeError, *_ARROW_INPUT_ERRORS)
    ) or _is_decompression_error(exc)


def as_read_error(
    exc: BaseException, *, key: str, fmt: str, rows: int, chunk_size: int
) -> ReadError:
    """The ``ReadError`` that ``exc`` (for which ``is_read_error`` holds) means for this file."""
    if isinstance(exc, ReadError):
        return exc
    if _is_decompression_error(exc):
        what = "cannot decompress"
        hint = "check --compression, and whether the file is truncated or corrupt"
    elif isinstance(exc, UnicodeDecodeError) or "utf8" in str(exc).lower():
        what = f"cannot read as {fmt}: the text is not valid UTF-8"
        hint = "read it with --format raw to copy its bytes as they are"
    else:
        what = f"cannot read as {fmt}"
        hint = _hint(str(exc).lower(), fmt, chunk_size)
    return ReadError(
        f"{key}: {what}: {_first_line(exc)} (after {rows} rows); {hint}", key=key, rows=rows
    )


def _is_decompression_error(exc: BaseException) -> bool:
    if isinstance(exc, lzma.LZMAError | EOFError | igzip.BadGzipFile | isal_zlib.error):
        return True
    # Arrow's codecs raise a bare OSError without errno; fsspec and the OS always set a subclass
    # or an errno, so this cannot swallow a storage failure.
    return type(exc) is OSError and exc.errno is None


def _hint(message: str, fmt: str, chunk_size: int) -> str:
    if "straddl" in message:
        return (
            "a single record is too long to parse; check the quoting (an unclosed quote runs to "
            "the end of the file) or read it with --format lines"
        )
    if any(marker in message for marker in _TYPE_DRIFT):
        return (
            f"column types are inferred from the first {chunk_size} bytes and a later row does "
            "not fit them; raise --chunk-size so inference sees more rows, or read it with "
            "--format lines"
        )
    return f"check that it is valid {fmt}, or pass --format and --compression"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
