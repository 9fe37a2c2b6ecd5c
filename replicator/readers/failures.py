"""Translation of parser and decompressor errors into ``ReadError``, at the reader boundary.

Storage errors (``FileNotFoundError``, ``PermissionError``, connection errors) are not ours to
translate: they propagate unchanged, so the runner can tell a vanished file from a bad one.
"""

from __future__ import annotations

import lzma

import pyarrow as pa
from isal import igzip, isal_zlib

from replicator.errors import ReadError
from replicator.readers.encoding import EncodingError

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
        exc, (ReadError, UnicodeDecodeError, EncodingError, *_ARROW_INPUT_ERRORS)
    ) or _is_decompression_error(exc)


def as_read_error(
    exc: BaseException, *, key: str, fmt: str, rows: int, chunk_size: int
) -> ReadError:
    """The ``ReadError`` that ``exc`` (for which ``is_read_error`` holds) means for this file.

    The hint fits the format: Parquet compresses its pages itself, so a corrupt Parquet file is
    never a matter of ``--compression``, nor of ``--encoding``.
    """
    if isinstance(exc, ReadError):
        return exc
    if fmt == "parquet":
        what = "cannot read as parquet"
        hint = PARQUET_HINT
    elif isinstance(exc, EncodingError):
        what = f"cannot read as {fmt}"
        hint = exc.hint
    elif _is_decompression_error(exc):
        what = "cannot decompress"
        hint = "check --compression, and whether the file is truncated or corrupt"
    elif isinstance(exc, UnicodeDecodeError) or "utf8" in str(exc).lower():
        what = f"cannot read as {fmt}: the text is not valid UTF-8"
        hint = ENCODING_HINT
    else:
        what = f"cannot read as {fmt}"
        hint = _hint(str(exc).lower(), fmt, chunk_size)
    return ReadError(
        f"{key}: {what}: {_first_line(exc)} (after {rows} rows); {hint}", key=key, rows=rows
    )


# What to do about a Parquet file Arrow cannot read: its codecs and encodings are its own.
PARQUET_HINT = (
    "the file is truncated or corrupt (Parquet compresses its pages itself, so --compression "
    "does not apply): write it again, or copy its bytes as they are with --format raw"
)
# What to do about text that is not UTF-8.
ENCODING_HINT = (
    "if the file is in another encoding, pass --encoding (latin-1, cp1252, utf-16), or read "
    "it with --format raw to copy its bytes as they are"
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
    return drift_hint(message, chunk_size) or (
        f"check that it is valid {fmt}, or pass --format and --compression"
    )


def drift_hint(message: str, chunk_size: int) -> str | None:
    """The hint for a row whose types differ from those inferred (``None``: not such a row)."""
    if not any(marker in message for marker in _TYPE_DRIFT):
        return None
    return (
        f"column types are inferred from the first {chunk_size} bytes and a later row does "
        "not fit them; raise --chunk-size so inference sees more rows, pass --no-infer-types "
        "to read every column as text, or read it with --format lines"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
