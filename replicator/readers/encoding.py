"""The text formats' bytes as UTF-8: byte-order marks, and other encodings (``--encoding``).

Arrow's parsers and the lines reader take UTF-8 only. A file in another encoding is decoded as
it is read (``Transcoded``: a block at a time, so memory stays bounded) and handed on as UTF-8.
A UTF-8 file is handed on as it is: the fast path of every good file pays nothing here.

Byte-order marks: a whole UTF-8 BOM at the start of a file is not data and is dropped (Arrow's
parsers drop it too); a broken one (``\\xef\\xbb`` and no ``\\xbf``) is kept, so the first line is
a bad row instead of silently losing two bytes. With ``utf-16`` the BOM says the byte order
(little-endian without one). A UTF-8 reading of a file that starts with a UTF-16 BOM fails
with a hint, since every line of it would be a bad row.
"""

from __future__ import annotations

import codecs
import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow as pa
from fsspec import AbstractFileSystem

from replicator.readers.base import Compression, Encoding
from replicator.readers.compression import Codec, open_decompressed

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}
_READ = 1 << 20  # bytes decoded at a time


class EncodingError(ValueError):
    """The bytes are not text in the encoding the file was read with; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class TextSource:
    """An open file's text as UTF-8 bytes (``read`` only), and what it was decoded from.

    ``transcoded`` is true when the bytes were converted from another encoding: positions in
    ``stream`` are then not positions in the file.
    """

    stream: pa.NativeFile | BinaryIO
    codec: Codec | None
    stored: pa.NativeFile
    transcoded: bool

    @property
    def positions_known(self) -> bool:
        """Whether a position in ``stream`` is the same position in the stored object."""
        return self.codec is None and not self.transcoded


@contextlib.contextmanager
def open_text(
    fs: AbstractFileSystem,
    path: str,
    key: str,
    compression: Compression = "infer",
    encoding: Encoding = "utf-8",
) -> Iterator[TextSource]:
    """Open ``path``, decompressed and (unless it is UTF-8) decoded; closed on exit."""
    with open_decompressed(fs, path, key, compression) as source:
        if encoding == "utf-8":
            yield TextSource(source.stream, source.codec, source.stored, transcoded=False)
            return
        with io.BufferedReader(Transcoded(source.stream, encoding), _READ) as text:
            yield TextSource(text, source.codec, source.stored, transcoded=True)


def bom_size(first: bytes) -> int:
    """How many bytes of a UTF-8 file's first block are its byte-order mark (0 or 3).

    Raises ``EncodingError`` when the file starts with a UTF-16 byte-order mark.
    """
    if first.startswith(UTF8_BOM):
        return len(UTF8_BOM)
    mark = first[:2]
    if mark in UTF16_BOMS:
        raise EncodingError(
            f"the text is not UTF-8: it starts with a UTF-16 byte-order mark ({mark.hex(' ')})",
            "pass --encoding utf-16",
        )
    return 0


class Transcoded(io.RawIOBase):
    """The UTF-8 encoding of ``raw``'s text in ``encoding``, decoded one block at a time.

    Bytes that are not text in that encoding raise ``EncodingError`` naming their offset.
    """

    def __init__(self, raw: pa.NativeFile | BinaryIO, encoding: Encoding) -> None:
        super().__init__()
        self._raw = raw
        self._encoding: str = encoding
        self._decoder: codecs.IncrementalDecoder | None = None
        self._pending = b""  # encoded text, handed out up to ``_at``
        self._at = 0
        self._offset = 0  # bytes of ``raw`` decoded so far
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._at == len(self._pending) and not self._done:
            self._pending, self._at = self._decode(self._raw.read(_READ)), 0
        size = min(len(buffer), len(self._pending) - self._at)
        buffer[:size] = memoryview(self._pending)[self._at : self._at + size]
        self._at += size
        return size

    def _decode(self, data: bytes) -> bytes:
        if self._decoder is None:
            data = self._start(data)
        assert self._decoder is not None
        final = not data
        try:
            text = self._decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            where = self._offset + exc.start
            bad = exc.object[exc.start : exc.end].hex(" ")
            raise EncodingError(
                f"bytes {bad} at offset {where} (of the decompressed file) are not "
                f"{self._encoding} text",
                "check --encoding (latin-1 takes any bytes)",
            ) from None
        self._offset += len(data)
        self._done = final
        return text.encode("utf-8")

    def _start(self, data: bytes) -> bytes:
        """Pick the decoder; the UTF-16 byte-order mark says the byte order and is dropped."""
        encoding = self._encoding
        if encoding.startswith("utf-16"):
            mark = data[:2]
            if mark in UTF16_BOMS and encoding in ("utf-16", UTF16_BOMS[mark]):
                encoding = UTF16_BOMS[mark]
                data = data[2:]
                self._offset = 2
            elif encoding == "utf-16":
                encoding = "utf-16-le"
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        return data
