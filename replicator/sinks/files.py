"""The ``files`` sink: one output object per source file, visible only once complete.

Locally the output is written to a hidden temp file next to its final path and renamed into place
on commit. On object stores it is written straight to the final path: S3 (and GCS, Azure) show
an object only once its upload completes on close, and an aborted upload leaves nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem
from fsspec.spec import AbstractBufferedFile

from replicator.errors import ConfigError
from replicator.model import Chunk, FileInfo
from replicator.sinks.base import Committed
from replicator.sinks.durable import shares_syncs, sync_files, sync_filesystems_of
from replicator.sinks.folders import LocalFolders, lock_temp, temp_path
from replicator.sinks.paths import OUTPUT_FORMATS, OutputFormat, output_key
from replicator.sinks.writers import FormatWriter, OutputStream, SinkError, open_writer
from replicator.storage import Location, translate_error, translate_errors

_LOCAL_BUFFER = 1024 * 1024
# The pipeline's schema at the destination root; the underscore keeps it out of the data.
COMMON_METADATA = "_common_metadata"


class FilesSink:
    """Writes each source file's rows to ``<root>/<key>.<ext>`` (``<root>/<key>`` for raw).

    Thread-safe across files: chunks of different files are written in parallel; the lock only
    guards the table of open outputs.
    """

    def __init__(
        self,
        location: Location,
        output_format: OutputFormat = "parquet",
        parquet_compression: str = "zstd",
        stale: Sequence[tuple[Location, OutputFormat]] = (),
    ) -> None:
        """``stale``: where outputs were written under earlier settings; a file's output
        there is removed when its new output is published (unless it is the same path)."""
        if output_format not in OUTPUT_FORMATS:
            raise ConfigError(
                f"unknown output format {output_format!r}; use one of {', '.join(OUTPUT_FORMATS)}"
            )
        _check_compression(parquet_compression)
        self.location = location
        self.output_format: OutputFormat = output_format
        self.parquet_compression = parquet_compression
        self.stale = tuple(stale)
        self.stale_failures: list[str] = []  # old outputs that could not be removed
        self._schema_lock = threading.Lock()
        self._schema_version = 0  # of the schema published at the root
        self._outputs: dict[str, _Output] = {}
        self._folders = LocalFolders()
        self._lock = threading.Lock()
        self._closed = False

    def output_path(self, key: str) -> str:
        """The filesystem path of the output for source ``key``."""
        path = self.location.path(output_key(key, self.output_format))
        if self.location.is_local:
            root = self.location.root
            if os.path.commonpath([root, os.path.normpath(path)]) != root:
                raise SinkError(
                    f"{key}: the key points outside the destination folder; rename the source "
                    "object or exclude it",
                    key=key,
                )
        return path

    def output_url(self, key: str) -> str:
        """The URL of the output for ``key``: a plain path locally, ``s3://...`` and so on."""
        path = self.output_path(key)
        return path if self.location.is_local else str(self.location.fs.unstrip_protocol(path))

    def write(self, chunk: Chunk) -> None:
        """Write the chunk's rows to its file's output. Blocks until written to the stream."""
        key = chunk.file.key
        with self._lock:
            if self._closed:
                raise SinkError(f"{key}: the sink is closed", key=key)
            output = self._outputs.get(key)
            if output is None:
                output = self._outputs[key] = self._new_output(key)
        output.write(chunk)

    def commit(self, file: FileInfo) -> Committed:
        """Complete the file's output and make it visible at its final path. Blocks until it is."""
        committed = self.finish(file)
        error = self.publish([file])[0]
        if error is not None:
            raise error
        return committed

    def finish(self, file: FileInfo) -> Committed:
        """Complete the file's output, not yet durable or visible: ``publish`` makes it so.

        The work of encoding the output's last rows happens here, on the caller's thread.
        """
        with self._lock:
            output = self._outputs.get(file.key)
        if output is None:
            raise SinkError(
                f"{file.key}: commit of a file with no chunk written; write its chunks first",
                key=file.key,
            )
        return output.finish()

    def publish(self, files: Sequence[FileInfo]) -> list[BaseException | None]:
        """Make the finished outputs of ``files`` durable and visible, sharing the syncs among
        them. Blocks until done; per file, ``None`` when it is published, else the error that
        stopped it (its output is then discarded and the file must be written again)."""
        errors: list[BaseException | None] = [None] * len(files)
        with self._lock:
            outputs = [self._outputs.get(file.key) for file in files]
        ready: list[tuple[int, _Output]] = []
        with contextlib.ExitStack() as held:
            # Each output's lock is held throughout: an abort or close waits for the publish.
            seen: set[int] = set()
            for index in sorted(range(len(files)), key=lambda i: files[i].key):
                output = outputs[index]
                if output is not None and id(output) not in seen:
                    seen.add(id(output))
                    held.enter_context(output.lock)
                    if output.publishable():
                        ready.append((index, output))
                        continue
                errors[index] = SinkError(
                    f"{files[index].key}: no finished output to publish; write the file again",
                    key=files[index].key,
                )
            local = [(i, o.target) for i, o in ready if isinstance(o.target, _LocalTarget)]
            try:
                failed = _publish_local([target for _, target in local], self._folders)
            except BaseException as exc:  # discard them all below, then let it go on
                failed = dict.fromkeys(range(len(local)), exc)
                if not isinstance(exc, Exception):
                    for _, output in ready:
                        output.published_or_failed(exc)
                    raise
            for position, failure in failed.items():
                errors[local[position][0]] = failure
            for index, output in ready:
                errors[index] = output.published_or_failed(errors[index])
                if errors[index] is None and self.stale:
                    self._remove_stale(files[index].key)
        with self._lock:
            for index, output in ready:
                if self._outputs.get(files[index].key) is output:
                    del self._outputs[files[index].key]
        return errors

    def schema_changed(self, schema: pa.Schema, version: int) -> None:
        """Publish the pipeline's schema at the destination root as ``_common_metadata``
        (Parquet's schema-only summary file, which Spark and pyarrow datasets read), replaced
        atomically. Parquet outputs only; an older version never replaces a newer one."""
        if self.output_format != "parquet":
            self._remove_stale_schemas()
            return
        path = self.location.path(COMMON_METADATA)
        with self._schema_lock, translate_errors(self.location.url, "writing the schema"):
            if version < self._schema_version:
                return
            if self.location.is_local:
                self._folders.prepare(self.location.root)
                temp = temp_path(path)
                try:
                    with pa.OSFile(temp, mode="w") as out:
                        pq.write_metadata(schema, out)
                        out.flush()
                        os.fsync(out.fileno())
                    os.replace(temp, path)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(temp)
                self._folders.sync(self.location.root)
            else:
                with self.location.fs.open(path, "wb") as out:  # visible once complete
                    pq.write_metadata(schema, out)
            self._schema_version = version

    def _remove_stale_schemas(self) -> None:
        """The schema file of an earlier Parquet layout would describe outputs now removed."""
        for location, output_format in self.stale:
            if output_format == "parquet":
                with contextlib.suppress(FileNotFoundError):
                    location.fs.rm_file(location.path(COMMON_METADATA))

    def _remove_stale(self, key: str) -> None:
        """Remove the outputs earlier output formats wrote for ``key`` beside its new one
        (already in place). One that cannot be removed is noted (``stale_failures``), never a
        failure of the file: its new output is good, and the old one stays on the list."""
        current = self.output_path(key)
        for location, output_format in self.stale:
            path = location.path(output_key(key, output_format))
            if path == current:  # never the new output (the formats' extensions differ)
                continue
            try:
                location.fs.rm_file(path)
            except FileNotFoundError:
                continue
            except Exception as exc:
                error = translate_error(exc, path, "removing the old output") or exc
                with self._lock:
                    self.stale_failures.append(f"{key}: {error}")

    def abort(self, file: FileInfo) -> None:
        """Drop the file's uncommitted output, temp file or upload included."""
        with self._lock:
            output = self._outputs.pop(file.key, None)
        if output is not None:
            output.abort()

    def close(self) -> None:
        """Abort every uncommitted output. Further writes raise ``SinkError``."""
        with self._lock:
            outputs = list(self._outputs.values())
            self._outputs.clear()
            self._closed = True
        errors: list[Exception] = []
        for output in outputs:
            try:
                output.abort()
            except Exception as exc:  # one failed abort must not keep the others' uploads open
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> FilesSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _new_output(self, key: str) -> _Output:
        path = self.output_path(key)
        url = self.output_url(key)
        if self.location.is_local:
            return _Output(key, url, lambda: _LocalTarget(path, self._folders), self)
        fs = self.location.fs
        return _Output(key, url, lambda: _StoreTarget(fs, path), self)


def _check_compression(compression: str) -> None:
    if compression.lower() in ("none", "uncompressed"):
        return
    try:
        available = pa.Codec.is_available(compression)
    except ValueError:
        available = False
    if not available:
        raise ConfigError(
            f"parquet compression {compression!r} is not available; use zstd, snappy, gzip, "
            "lz4, brotli or none"
        )


class _Target(Protocol):
    """Where an output's bytes go, and how they are completed or thrown away."""

    stream: OutputStream

    def finish(self) -> None:
        """Everything written reached the store (locally: the OS; on a store: the object)."""

    def discard(self) -> None: ...


class _LocalTarget:
    """A hidden temp file beside the final path, renamed over it once durable.

    Written through Arrow's own buffered file, so the writers' bytes never pass through Python
    objects (or wait for the GIL) on their way to the disk.
    """

    _opened = itertools.count()

    def __init__(self, final: str, folders: LocalFolders) -> None:
        self.final = final
        self.folder = os.path.dirname(final)
        folders.prepare(self.folder)
        self.temp = temp_path(final)  # unique to this host, process and output
        self._file = pa.OSFile(self.temp, mode="w")
        self.opened = next(self._opened)  # the order files were opened, for ``sync_files``
        self.synced = False  # its data is durable already
        lock_temp(self._file.fileno())  # held until closed: no sweep takes it for a dead one's
        self.stream: OutputStream = pa.BufferedOutputStream(self._file, buffer_size=_LOCAL_BUFFER)

    def finish(self) -> None:
        if isinstance(self.stream, pa.BufferedOutputStream):
            self.stream.detach()  # flushes; the buffer goes with the stream object
        self.stream = self._file
        if not shares_syncs(self.fileno()):
            # Not for a batch's syncfs: made durable here, on the writing thread, in parallel
            # with the others.
            os.fsync(self.fileno())
            self.synced = True

    def fileno(self) -> int:
        return int(self._file.fileno())

    def reveal(self) -> None:
        """Close the durable temp file and rename it into place."""
        self._file.close()
        os.replace(self.temp, self.final)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()  # the buffered stream closes the file too
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp)


def _publish_local(targets: list[_LocalTarget], folders: LocalFolders) -> dict[int, BaseException]:
    """Make finished temp files durable, rename them into place and make the renames durable:
    in that order, so a visible output is always complete. Returns the failures by index.

    Files a batch's syncfs can cover share one per filesystem (``sinks.durable``); the others
    were fsynced when finished, and their folders' fsyncs are shared (``LocalFolders.sync``).
    """
    unsynced = sorted((t for t in targets if not t.synced), key=lambda t: t.opened)
    try:
        sync_files([target.fileno() for target in unsynced])
    except OSError as exc:
        return dict.fromkeys(range(len(targets)), exc)
    errors: dict[int, BaseException] = {}
    renamed: dict[str, list[int]] = {}
    for index, target in enumerate(targets):
        try:
            target.reveal()
        except OSError as exc:
            errors[index] = exc
        else:
            renamed.setdefault(target.folder, []).append(index)
    by_syncfs = [f for f, ix in renamed.items() if len(targets) > 1 and not targets[ix[0]].synced]
    if by_syncfs:
        try:
            sync_filesystems_of(by_syncfs)
        except OSError as exc:
            errors.update((index, exc) for folder in by_syncfs for index in renamed[folder])
    for folder, indices in renamed.items():
        if folder in by_syncfs:
            continue
        try:
            folders.sync(folder)
        except OSError as exc:
            errors.update((index, exc) for index in indices)
    return errors


class _StoreTarget:
    """An upload straight to the final key; the store shows it only when the upload completes."""

    def __init__(self, fs: AbstractFileSystem, path: str) -> None:
        self._fs = fs
        self._path = path
        self.stream: OutputStream = fs.open(path, "wb")

    def finish(self) -> None:
        self.stream.close()  # completes the upload: durable and visible at once

    def discard(self) -> None:
        discard = getattr(self.stream, "discard", None)
        if isinstance(self.stream, AbstractBufferedFile) and callable(discard):
            discard()  # s3fs: aborts the multipart upload
            # The file cannot be used after discard; mark it closed so that its finalizer does
            # not try to complete the upload.
            self.stream.closed = True
            return
        # A file without discard publishes on close: close it, then remove what appeared.
        self.stream.close()
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm(self._path)


class _Output:
    """The output of one source file, from its first chunk to commit or abort.

    Chunks of one file come from one thread at a time; the lock only orders an abort (from
    ``close``, say) against a write in progress. After a failed write the output is broken:
    it is discarded and later writes or a commit raise until the file is aborted.
    """

    def __init__(
        self, key: str, url: str, open_target: Callable[[], _Target], sink: FilesSink
    ) -> None:
        self._key = key
        self._url = url
        self._open_target = open_target
        self._sink = sink
        self._lock = threading.Lock()
        self._target: _Target | None = None
        self._writer: FormatWriter | None = None
        self._rows = 0
        self._completed = False
        self._finished = False
        self._failed: str | None = None

    def write(self, chunk: Chunk) -> None:
        with self._lock:
            self._check_usable()
            if self._completed:
                raise SinkError(
                    f"{self._key}: a chunk arrived after the file's last chunk; abort the file "
                    "and write it again",
                    key=self._key,
                )
            try:
                with translate_errors(self._url, "writing"):
                    writer = self._writer or self._start(chunk.items.schema)
                    writer.write(chunk.items)
            except BaseException as exc:
                self._fail(f"an earlier write failed ({type(exc).__name__})")
                raise
            self._rows += chunk.rows
            self._completed = chunk.completed

    @property
    def target(self) -> _Target | None:
        return self._target

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def publishable(self) -> bool:
        """Finished, and neither failed nor aborted since. Call with ``lock`` held."""
        return self._finished and self._failed is None

    def finish(self) -> Committed:
        with self._lock:
            self._check_usable()
            if (
                not self._completed
                or self._finished
                or self._writer is None
                or self._target is None
            ):
                raise SinkError(
                    f"{self._key}: commit before the file's last chunk was written; "
                    "the output was left uncommitted",
                    key=self._key,
                )
            try:
                with translate_errors(self._url, "writing"):
                    self._writer.finish()
                    self._target.finish()
            except BaseException as exc:
                self._fail(f"its commit failed ({type(exc).__name__})")
                raise
            self._finished = True
            self._writer = None  # closed: let its buffers go while the output waits
            return Committed(outputs=(self._url,), rows=self._rows)

    def published_or_failed(self, error: BaseException | None) -> BaseException | None:
        """Settle the output after its publish (with ``lock`` held): done, or discarded on
        ``error``; returns the error to report."""
        if error is None:
            self._failed = "it was already committed"
            return None
        self._fail(f"its commit failed ({type(error).__name__})")
        return translate_error(error, self._url, "writing") or error

    def abort(self) -> None:
        with self._lock:
            failed, self._failed = self._failed, "it was aborted"
            if failed is None:
                with translate_errors(self._url, "aborting"):
                    self._discard()

    def _start(self, schema: pa.Schema) -> FormatWriter:
        self._target = self._open_target()
        self._writer = open_writer(
            self._sink.output_format,
            self._target.stream,
            schema,
            key=self._key,
            parquet_compression=self._sink.parquet_compression,
        )
        return self._writer

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise SinkError(
                f"{self._key}: the output cannot be written because {self._failed}; abort the "
                "file and write it again",
                key=self._key,
            )

    def _fail(self, reason: str) -> None:
        with contextlib.suppress(Exception):
            self._discard()
        self._failed = reason

    def _discard(self) -> None:
        if self._writer is not None:
            self._writer.abandon()
        if self._target is not None:
            self._target.discard()
