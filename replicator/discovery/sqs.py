"""SQS discovery: S3 event notifications from a queue, for ``replicate watch --sqs QUEUE_URL``.

aiobotocore is async and the rest of replicator runs on threads, so ``SqsSource`` runs its own
event loop in a background thread and offers blocking, thread-safe calls:

- ``receive()`` long-polls and hands out each object version once, as ``FileInfo``s;
- ``file_done()`` / ``file_failed()`` report outcomes. A message is deleted (in batches) only when
  every file it names is done, and never when one of them failed;
- a heartbeat extends the visibility of messages whose files are in work, so a large file is not
  handed to a second worker mid-read. ``close()`` stops it and leaves unfinished messages to the
  queue, which redelivers them after their visibility timeout.

We prefer replicating a file twice over losing a message: whatever is not known to be done is
left to the queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import os
import re
import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from replicator.discovery.filters import KeyFilter
from replicator.discovery.sqs_events import ObjectEvent, parse_message, relative_key
from replicator.errors import ConfigError, ReplicatorError, StorageError, TransientError
from replicator.model import FileInfo

__all__ = ["Delivery", "SqsSource", "SqsStatistics"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

_BATCH = 10  # SQS's limit for ReceiveMessage and the *Batch calls
_MAX_VISIBILITY = 12 * 60 * 60
# How many finished object versions to remember, so a late duplicate event is not redone.
_REMEMBER = 10_000

_NO_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSecurity",
    "ExpiredToken",
    "KMS.AccessDeniedException",
}
_THROTTLED = {"Throttling", "ThrottlingException", "RequestThrottled", "ServiceUnavailable"}
_AWS_HOST = re.compile(
    r"^(?:sqs[.-](?P<region>[a-z0-9-]+)|(?P<legacy>[a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?$"
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received message and the files it hands out (those not already in work or done).

    ``removed`` is filled only with ``propagate_deletes``: keys whose replicated output and state
    entry the runner removes, then reports with ``file_done``.
    """

    message_id: str
    receipt_handle: str
    files: tuple[FileInfo, ...]
    removed: tuple[FileInfo, ...] = ()
    receive_count: int = 1


@dataclass(frozen=True, slots=True)
class SqsStatistics:
    messages_in_flight: int  # received, waiting on files in work
    files_in_work: int  # handed out, not reported yet
    bytes_in_work: int
    receives_in_flight: int
    received: int
    deleted: int
    malformed: int
    test_events: int
    duplicates: int  # object events already in work or done
    dropped_records: int  # other bucket, outside the prefix, filtered out, unwanted kind
    extended: int  # visibility extensions
    failed_files: int


@dataclass
class _Message:
    receipt_handle: str
    deadline: float  # loop time at which the message becomes visible again
    pending: set[FileInfo]


@dataclass
class _Work:
    removal: bool
    version: str
    messages: set[str] = field(default_factory=set)


class _Ledger:
    """Which messages wait on which files. Thread-safe, no I/O.

    Each object version (kind, key, version) is handed out once while in work; the last finished
    version of each key is remembered, so a late duplicate is acknowledged without rework.
    """

    def __init__(self, remember: int = _REMEMBER) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, _Message] = {}
        self._work: dict[FileInfo, _Work] = {}
        self._by_version: dict[tuple[bool, str, str], FileInfo] = {}
        self._last_done: OrderedDict[tuple[bool, str], str] = OrderedDict()
        self._remember = remember

    def admit(
        self,
        message_id: str,
        receipt: str,
        deadline: float,
        items: list[tuple[FileInfo, bool, str]],
    ) -> tuple[list[FileInfo], list[FileInfo], int, bool]:
        """Track a message naming ``items`` (file, removal, version).

        Returns the files to hand out (created, removed), how many items were duplicates, and
        whether the message can be deleted right away (nothing of it left to do).
        """
        created: list[FileInfo] = []
        removed: list[FileInfo] = []
        duplicates = 0
        with self._lock:
            known = self._messages.get(message_id)
            if known is not None:
                # Delivered again while in work: only the newest receipt handle deletes or extends.
                known.receipt_handle, known.deadline = receipt, deadline
                return [], [], len(items), False
            pending: set[FileInfo] = set()
            for file, removal, version in items:
                if self._last_done.get((removal, file.key)) == version:
                    duplicates += 1
                    continue
                handed = self._by_version.get((removal, file.key, version))
                if handed is None and file in self._work:
                    handed = file
                if handed is None:
                    handed = file
                    self._work[file] = _Work(removal, version)
                    self._by_version[(removal, file.key, version)] = file
                    (removed if removal else created).append(file)
                elif handed not in pending:
                    duplicates += 1
                self._work[handed].messages.add(message_id)
                pending.add(handed)
            if pending:
                self._messages[message_id] = _Message(receipt, deadline, pending)
        return created, removed, duplicates, not pending

    def done(self, file: FileInfo) -> list[tuple[str, str]]:
        """Record ``file`` as done; returns (message id, receipt) of messages now complete."""
        ready: list[tuple[str, str]] = []
        with self._lock:
            work = self._pop(file)
            self._last_done[(work.removal, file.key)] = work.version
            self._last_done.move_to_end((work.removal, file.key))
            # A removal after a creation (or the reverse) makes an old duplicate meaningful again.
            self._last_done.pop((not work.removal, file.key), None)
            while len(self._last_done) > self._remember:
                self._last_done.popitem(last=False)
            for message_id in work.messages:
                message = self._messages.get(message_id)
                if message is None:
                    continue
                message.pending.discard(file)
                if not message.pending:
                    del self._messages[message_id]
                    ready.append((message_id, message.receipt_handle))
        return ready

    def failed(self, file: FileInfo) -> list[str]:
        """Forget ``file`` and give up its messages: never deleted, no longer extended."""
        with self._lock:
            work = self._pop(file)
            abandoned: list[str] = []
            for message_id in work.messages:
                message = self._messages.pop(message_id, None)
                if message is None:
                    continue
                abandoned.append(message_id)
                for other in message.pending - {file}:
                    self._work[other].messages.discard(message_id)
        return abandoned

    def due(self, horizon: float) -> list[tuple[str, str]]:
        """Messages in work that become visible again before ``horizon``."""
        with self._lock:
            return [
                (i, m.receipt_handle) for i, m in self._messages.items() if m.deadline <= horizon
            ]

    def extended(self, message_id: str, receipt: str, deadline: float) -> None:
        with self._lock:
            message = self._messages.get(message_id)
            if message is not None and message.receipt_handle == receipt:
                message.deadline = deadline

    def abandon_all(self) -> int:
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
        return count

    def sizes(self) -> tuple[int, int, int]:
        """Messages in flight, files in work, bytes in work."""
        with self._lock:
            nbytes = sum(f.size for f in self._work)
            return len(self._messages), len(self._work), nbytes

    def _pop(self, file: FileInfo) -> _Work:
        work = self._work.pop(file, None)
        if work is None:
            raise ValueError(
                f"{file.key} was not handed out by this SQS source, or was already reported"
            )
        del self._by_version[(work.removal, file.key, work.version)]
        return work


class SqsSource:
    """S3 object events from an SQS queue, as ``FileInfo``s, for threads.

    ``start()`` (or ``with``) connects and reads the queue's visibility timeout; ``close()`` stops.
    All public methods are thread-safe. ``receive`` blocks; the others return at once.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        bucket: str,
        prefix: str = "",
        key_filter: KeyFilter | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        visibility_timeout: int | None = None,
        wait_seconds: int = 20,
        max_messages: int = 10,
        propagate_deletes: bool = False,
        verify_tls: bool = True,
        max_receives_in_flight: int = 4,
    ) -> None:
        _check_settings(queue_url, visibility_timeout, wait_seconds, max_messages)
        self.queue_url = queue_url
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._elsewhere = 0  # records of another bucket or outside the prefix
        self._filter = key_filter or KeyFilter()
        self._endpoint_url = endpoint_url or _endpoint_from(queue_url)
        self._region = region or _region_from(queue_url)
        self._explicit_timeout = visibility_timeout
        self._timeout = visibility_timeout or 30
        self._wait_seconds = wait_seconds
        self._max_messages = max_messages
        self._propagate_deletes = propagate_deletes
        self._verify_tls = verify_tls
        self._max_receives = max(1, max_receives_in_flight)
        self._ledger = _Ledger()
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._disconnected = False
        # The fields below are only touched on the loop thread.
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._heartbeat: asyncio.Task[None] | None = None
        self._receives: set[asyncio.Task[Any]] = set()
        self._receive_slots: asyncio.Semaphore | None = None
        self._to_delete: deque[tuple[str, str]] = deque()
        self._deleter: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SqsSource:
        """Connect and read the queue's attributes. Blocks; raises ``StorageError`` when the queue
        is missing or refuses access."""
        if self._loop is not None:
            raise RuntimeError("this SqsSource was already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sqs-source", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._open())
        except BaseException:
            self._stop_loop()
            raise
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Stop extending visibility, cancel receives, finish pending deletes, disconnect. Blocks.

        Messages with files still in work are left to the queue (redelivered after their
        visibility timeout). Idempotent.
        """
        if self._loop is None or self._closed:
            return
        self._closed = True
        try:
            self._run(self._shutdown(), timeout)
        finally:
            self._stop_loop()

    def __enter__(self) -> SqsSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def visibility_timeout(self) -> int:
        """Seconds a received message stays hidden (the queue's attribute unless given)."""
        return self._timeout

    # -- the runner's calls ----------------------------------------------------------------------

    def receive(self, max_messages: int | None = None) -> list[Delivery]:
        """Long-poll once: blocks up to ``wait_seconds`` plus a round trip.

        Returns the messages that hand out new files (possibly none). Returns ``[]`` once closing.
        Raises ``StorageError`` (queue gone, access denied) or ``TransientError`` (network, 5xx).
        """
        try:
            return self.receive_async(max_messages).result()
        except concurrent.futures.CancelledError:
            return []

    def receive_async(
        self, max_messages: int | None = None
    ) -> concurrent.futures.Future[list[Delivery]]:
        """Like ``receive`` without blocking: several may be in flight while the pipeline has room."""
        if self._closed or self._loop is None:
            done: concurrent.futures.Future[list[Delivery]] = concurrent.futures.Future()
            done.set_result([])
            return done
        count = min(max(max_messages or self._max_messages, 1), _BATCH)
        return asyncio.run_coroutine_threadsafe(self._receive(count), self._loop)

    def file_done(self, file: FileInfo) -> None:
        """``file`` is committed: delete every message whose files are now all done.

        Returns at once; the deletes are batched in the background (see ``flush``).
        """
        ready = self._ledger.done(file)
        if ready:
            self._call_soon(self._enqueue_delete, ready)

    def file_failed(self, file: FileInfo) -> None:
        """``file`` failed: its messages are never deleted and no longer extended, so the queue
        redelivers them after the visibility timeout (and its redrive policy counts the attempt)."""
        abandoned = self._ledger.failed(file)
        self._count("failed_files")
        _log.warning(
            "%s failed; SQS message(s) %s left for redelivery", file.key, ", ".join(abandoned)
        )

    def flush(self, timeout: float | None = None) -> None:
        """Block until the deletes requested so far are sent."""
        if self._loop is not None and not self._loop.is_closed():
            self._run(self._wait_deletes(), timeout)

    def statistics(self) -> SqsStatistics:
        messages, files, nbytes = self._ledger.sizes()
        with self._counts_lock:
            counts = dict(self._counts)
        return SqsStatistics(
            messages_in_flight=messages,
            files_in_work=files,
            bytes_in_work=nbytes,
            receives_in_flight=counts.get("receives_in_flight", 0),
            received=counts.get("received", 0),
            deleted=counts.get("deleted", 0),
            malformed=counts.get("malformed", 0),
            test_events=counts.get("test_events", 0),
            duplicates=counts.get("duplicates", 0),
            dropped_records=counts.get("dropped_records", 0),
            extended=counts.get("extended", 0),
            failed_files=counts.get("failed_files", 0),
        )

    # -- on the loop thread ----------------------------------------------------------------------

    async def _open(self) -> None:
        self._receive_slots = asyncio.Semaphore(self._max_receives)
        config = AioConfig(
            retries={"mode": "standard"},
            read_timeout=max(60, self._wait_seconds + 30),
            max_pool_connections=self._max_receives + 4,
        )
        try:
            self._client = await self._stack.enter_async_context(
                get_session().create_client(
                    "sqs",
                    region_name=self._region,
                    endpoint_url=self._endpoint_url,
                    config=config,
                    verify=self._verify_tls,
                )
            )
            if self._explicit_timeout is None:
                reply = await self._call(
                    "read the attributes of",
                    self._client.get_queue_attributes(
                        QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
                    ),
                )
                self._timeout = max(1, int(reply["Attributes"]["VisibilityTimeout"]))
        except NoRegionError:
            await self._stack.aclose()
            raise ConfigError(
                f"no AWS region for the SQS queue {self.queue_url}; pass --region or set AWS_REGION"
            ) from None
        except BaseException:
            await self._stack.aclose()
            raise
        self._heartbeat = asyncio.create_task(self._beat())

    async def _shutdown(self) -> None:
        tasks = [t for t in (self._heartbeat, *self._receives) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._wait_deletes()
        left = self._ledger.abandon_all()
        if left:
            _log.info(
                "%d SQS message(s) still in work are left to the queue; it redelivers them after "
                "their visibility timeout",
                left,
            )
        self._disconnected = True
        await self._stack.aclose()

    async def _receive(self, count: int) -> list[Delivery]:
        assert self._receive_slots is not None
        task = asyncio.current_task()
        assert task is not None
        self._receives.add(task)
        try:
            async with self._receive_slots:
                self._count("receives_in_flight")
                try:
                    reply = await self._call("receive messages from", self._receive_call(count))
                finally:
                    self._count("receives_in_flight", -1)
        finally:
            self._receives.discard(task)
        deadline = asyncio.get_running_loop().time() + self._timeout
        deliveries = [self._admit(m, deadline) for m in reply.get("Messages", [])]
        return [d for d in deliveries if d is not None]

    def _receive_call(self, count: int) -> Awaitable[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": count,
            "WaitTimeSeconds": self._wait_seconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
        }
        if self._explicit_timeout is not None:
            kwargs["VisibilityTimeout"] = self._explicit_timeout
        reply: Awaitable[dict[str, Any]] = self._client.receive_message(**kwargs)
        return reply

    def _admit(self, message: dict[str, Any], deadline: float) -> Delivery | None:
        message_id = str(message.get("MessageId", "?"))
        receipt = str(message["ReceiptHandle"])
        self._count("received")
        parsed = parse_message(
            message.get("Body", ""), bucket=self.bucket, prefix=self.prefix, key_filter=self._filter
        )
        if parsed.malformed:
            self._count("malformed")
            _log.warning(
                "SQS message %s is not an S3 event notification (%s); left for the queue's "
                "redrive policy",
                message_id,
                parsed.malformed,
            )
            return None
        if parsed.is_test_event:
            self._count("test_events")
            _log.info("SQS message %s is an s3:TestEvent; deleted", message_id)
            self._enqueue_delete([(message_id, receipt)])
            return None
        dropped = list(parsed.dropped)
        removals = parsed.removed
        if not self._propagate_deletes:
            dropped += [
                f"s3://{e.bucket}/{e.key}: removed (deletes not propagated)" for e in removals
            ]
            removals = ()
        for reason in dropped:
            _log.debug("SQS message %s: dropped %s", message_id, reason)
        self._warn_elsewhere(message_id, dropped)
        self._count("dropped_records", len(dropped))
        items = [(self._file(e), False, _created_version(e)) for e in parsed.created]
        items += [(self._file(e), True, _removed_version(e)) for e in removals]
        created, removed, duplicates, ready = self._ledger.admit(
            message_id, receipt, deadline, items
        )
        self._count("duplicates", duplicates)
        if ready:
            self._enqueue_delete([(message_id, receipt)])
        if not created and not removed:
            return None
        attributes = message.get("Attributes", {})
        return Delivery(
            message_id=message_id,
            receipt_handle=receipt,
            files=tuple(created),
            removed=tuple(removed),
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
        )

    def _warn_elsewhere(self, message_id: str, dropped: list[str]) -> None:
        """Say so when the queue delivers objects of another bucket or outside the prefix: a
        queue pointed at the wrong place would otherwise be drained in silence. Said for the
        first such record, then for every thousandth."""
        elsewhere = [r for r in dropped if "not in bucket" in r or "not a file under" in r]
        if not elsewhere:
            return
        seen = self._elsewhere
        self._elsewhere += len(elsewhere)
        if seen == 0 or seen // 1000 != self._elsewhere // 1000:
            _log.warning(
                "SQS message %s names objects this watch does not replicate (%s; %d such "
                "records so far): check that the queue receives the events of %s",
                message_id,
                elsewhere[0],
                self._elsewhere,
                f"s3://{self.bucket}/{self.prefix}",
            )

    def _file(self, event: ObjectEvent) -> FileInfo:
        key = relative_key(self.prefix, event.key)
        assert key is not None  # parse_message dropped keys outside the prefix
        return FileInfo(
            path=f"{event.bucket}/{event.key}",
            key=key,
            size=event.size,
            etag=event.etag,
            mtime=event.event_time,
        )

    def _enqueue_delete(self, entries: list[tuple[str, str]]) -> None:
        self._to_delete.extend(entries)
        if self._deleter is None or self._deleter.done():
            self._deleter = asyncio.get_running_loop().create_task(self._drain_deletes())

    async def _drain_deletes(self) -> None:
        # One task drains the queue, so deletes requested meanwhile share a batch.
        while self._to_delete:
            batch = [self._to_delete.popleft() for _ in range(min(_BATCH, len(self._to_delete)))]
            if self._disconnected:
                _log.warning("the SQS source is closed; finished messages will be redelivered")
                continue
            await self._delete(batch)

    async def _wait_deletes(self) -> None:
        while self._deleter is not None and not self._deleter.done():
            await asyncio.wait({self._deleter})

    async def _delete(self, batch: list[tuple[str, str]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, (_, r) in enumerate(batch)]
        try:
            reply = await self._call(
                "delete messages from",
                self._client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries),
            )
        except ReplicatorError as exc:
            _log.warning(
                "could not delete SQS message(s) %s (%s); they come back and are acknowledged "
                "again without rework",
                ", ".join(i for i, _ in batch),
                exc,
            )
            return
        self._count("deleted", len(reply.get("Successful", [])))
        for failure in reply.get("Failed", []):
            _log.warning(
                "could not delete SQS message %s (%s); it comes back and is acknowledged again",
                batch[int(failure["Id"])][0],
                failure.get("Code", "unknown error"),
            )

    async def _beat(self) -> None:
        # Extend when less than half the timeout is left, checking four times per timeout.
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.1, self._timeout / 4))
            for batch in _batches(self._ledger.due(loop.time() + self._timeout / 2)):
                try:
                    await self._extend(batch)
                except ReplicatorError as exc:
                    _log.warning("could not extend the visibility of SQS messages: %s", exc)

    async def _extend(self, batch: list[tuple[str, str]]) -> None:
        now = asyncio.get_running_loop().time()
        entries = [
            {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": self._timeout}
            for i, (_, r) in enumerate(batch)
        ]
        reply = await self._call(
            "extend the visibility of messages in",
            self._client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries),
        )
        for success in reply.get("Successful", []):
            message_id, receipt = batch[int(success["Id"])]
            self._ledger.extended(message_id, receipt, now + self._timeout)
            self._count("extended")
        for failure in reply.get("Failed", []):
            message_id, receipt = batch[int(failure["Id"])]
            # Past SQS's 12 h cap, or the receipt is stale: retrying every beat would only spam.
            self._ledger.extended(message_id, receipt, math.inf)
            _log.warning(
                "could not extend the visibility of SQS message %s (%s); another consumer may "
                "receive it while its files are in work",
                message_id,
                failure.get("Code", "unknown error"),
            )

    async def _call(self, action: str, call: Awaitable[_T]) -> _T:
        """Await one SQS call, translating its failures at this one boundary."""
        try:
            return await call
        except ClientError as exc:
            raise _client_error(exc, self.queue_url, action) from exc
        except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as exc:
            raise StorageError(
                f"cannot {action} the SQS queue {self.queue_url}: no usable AWS credentials "
                f"({type(exc).__name__}); set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                url=self.queue_url,
            ) from exc
        except (BotoCoreError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TransientError(
                f"cannot {action} the SQS queue {self.queue_url}: {_first_line(exc)}; "
                "check the network and the endpoint"
            ) from exc

    # -- plumbing --------------------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call_soon(self, callback: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            _log.warning("the SQS source is closed; finished messages will be redelivered")
            return
        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            loop.call_soon_threadsafe(callback, *args)

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def _count(self, name: str, n: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += n


def _created_version(event: ObjectEvent) -> str:
    return event.etag or event.sequencer or event.version_id or f"{event.size}@{event.event_time}"


def _removed_version(event: ObjectEvent) -> str:
    return event.sequencer or event.version_id or f"@{event.event_time}"


def _check_settings(
    queue_url: str, visibility_timeout: int | None, wait_seconds: int, max_messages: int
) -> None:
    if not urlsplit(queue_url).netloc:
        raise ConfigError(
            f"{queue_url!r} is not an SQS queue URL; pass one like "
            "https://sqs.us-east-1.amazonaws.com/123456789012/my-queue"
        )
    if visibility_timeout is not None and not 1 <= visibility_timeout <= _MAX_VISIBILITY:
        raise ConfigError(
            f"the SQS visibility timeout must be 1 to {_MAX_VISIBILITY} seconds (got {visibility_timeout})"
        )
    if not 0 <= wait_seconds <= 20:
        raise ConfigError(f"the SQS wait time must be 0 to 20 seconds (got {wait_seconds})")
    if not 1 <= max_messages <= _BATCH:
        raise ConfigError(f"SQS receives 1 to {_BATCH} messages at a time (got {max_messages})")


def _region_from(queue_url: str) -> str | None:
    match = _AWS_HOST.match(urlsplit(queue_url).hostname or "")
    if match is None:
        return None
    return match.group("region") or match.group("legacy")


def _endpoint_from(queue_url: str) -> str | None:
    """The queue URL's own host, for SQS-compatible servers that no setting points at."""
    parts = urlsplit(queue_url)
    if _AWS_HOST.match(parts.hostname or "") or any(
        os.environ.get(name) for name in ("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL")
    ):
        return None  # botocore resolves AWS endpoints and the AWS_ENDPOINT_URL* variables
    return f"{parts.scheme}://{parts.netloc}"


def _client_error(exc: ClientError, url: str, action: str) -> ReplicatorError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    where = f"cannot {action} the SQS queue {url}"
    if code in _NO_QUEUE:
        return StorageError(
            f"{where}: the queue does not exist; check the queue URL and its region", url=url
        )
    if code in _DENIED or status == 403:
        return StorageError(
            f"{where}: access denied ({code}); check the credentials and that they allow "
            "sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility and "
            "sqs:GetQueueAttributes on it",
            url=url,
        )
    reason = f"{code}: {_first_line(error.get('Message', ''))}".strip(": ")
    if status >= 500 or code in _THROTTLED:
        return TransientError(f"{where}: {reason}; it may pass, retry later")
    return StorageError(f"{where}: {reason}", url=url)


def _first_line(value: object) -> str:
    text = str(value).strip() or type(value).__name__
    return text.splitlines()[0][:200]


def _batches(items: list[_T]) -> Iterator[list[_T]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]
