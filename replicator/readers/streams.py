"""Opening a stored object as an Arrow stream: natively for local files, through fsspec otherwise."""

from __future__ import annotations

import pyarrow as pa
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem


def local_path(fs: AbstractFileSystem, path: str) -> str | None:
    """The OS path of ``path`` when ``fs`` is the local filesystem, else ``None``."""
    if isinstance(fs, LocalFileSystem):
        return str(fs._strip_protocol(path))
    return None


def open_stored(fs: AbstractFileSystem, path: str) -> pa.NativeFile:
    """The object's stored bytes (not decompressed), as a seekable Arrow file.

    Local files are read by Arrow's C++ I/O, without the GIL; other stores go through fsspec's
    buffered file object (which reads ahead in blocks). ``FileNotFoundError`` propagates as is.
    """
    native = local_path(fs, path)
    if native is not None:
        return pa.OSFile(native, mode="r")
    return pa.PythonFile(fs.open(path, mode="rb"), mode="r")
