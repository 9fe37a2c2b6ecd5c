"""SqsSource against a moto server on loopback: S3 notifications, dedupe, deletes, visibility."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from replicator.discovery.filters import KeyFilter
from replicator.discovery.sqs import Delivery, SqsSource, _client_error, _Ledger
from replicator.errors import ConfigError, StorageError, TransientError
from replicator.model import FileInfo
from replicator.storage import open_location
from tests.conftest import DUMMY_AWS, S3Bucket
from tests.sqs_queues import Queue
from tests.test_sqs_events import TEST_EVENT, eventbridge_body, s3_body, s3_record, sns_body


@pytest.fixture
def make_source(moto_endpoint: str) -> Iterator[Callable[..., SqsSource]]:
    sources: list[SqsSource] = []

    def make(queue: Queue, **kwargs: Any) -> SqsSource:
        kwargs.setdefault("bucket", "bucket")
        kwargs.setdefault("endpoint_url", moto_endpoint)
        kwargs.setdefault("wait_seconds", 1)
        source = SqsSource(queue.url, **kwargs)
        sources.append(source)
        return source.start()

    yield make
    for source in sources:
        source.close()


def collect(source: SqsSource, files: int, timeout: float = 10.0) -> list[Delivery]:
    """Receive until ``files`` files (created or removed) are handed out."""
    deliveries: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while sum(len(d.files) + len(d.removed) for d in deliveries) < files:
        assert time.monotonic() < deadline, f"only got {deliveries}"
        deliveries += source.receive()
    return deliveries


def handed_out(deliveries: list[Delivery]) -> list[FileInfo]:
    return sorted((f for d in deliveries for f in d.files), key=lambda f: f.key)


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_s3_notifications_become_file_infos_with_decoded_keys(
    s3_bucket: S3Bucket, make_queue: Callable[[int], Queue], make_source: Callable[..., SqsSource]
) -> None:
    queue = make_queue(30)
    s3_bucket.client.put_bucket_notification_configuration(
        Bucket=s3_bucket.name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue.arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )
    bodies = {
        "in/with space.csv": b"a,b\n1,2\n",
        "in/plus+sign.csv": b"a\n1\n2\n",
        "in/\u00e9t\u00e9/\u00fcn\u00ef.csv": "x\n\u00e9\n".encode(),
        "in/100%.csv": b"p\n100\n",
        "in/skip.tmp": b"filtered\n",
        "other/x.csv": b"outside the prefix\n",
    }
    for key, body in bodies.items():
        s3_bucket.put(key, body)
    source = make_source(
        queue, bucket=s3_bucket.name, prefix="in/", key_filter=KeyFilter(exclude=("*.tmp",))
    )

    files = handed_out(collect(source, 4))

    wanted = sorted(k for k in bodies if k.endswith(".csv") and k.startswith("in/"))
    assert [(f.path, f.key, f.size, f.etag) for f in files] == [
        (f"{s3_bucket.name}/{k}", k.removeprefix("in/"), len(bodies[k]), md5(bodies[k]))
        for k in wanted
    ]
    assert all(f.mtime and abs(f.mtime - time.time()) < 120 for f in files)
    # The FileInfo path is what s3fs opens.
    fs = open_location(s3_bucket.url("in/")).fs
    assert [fs.cat_file(f.path) for f in files] == [bodies[k] for k in wanted]

    for file in files:
        source.file_done(file)
    source.flush()
    stats = source.statistics()
    assert stats.test_events == 1
    assert stats.received == 7  # the test event + one message per upload
    assert stats.deleted == 7
    assert stats.dropped_records == 2
    assert stats.files_in_work == stats.messages_in_flight == 0
    assert queue.counts() == (0, 0)


def test_sns_wrapped_and_eventbridge_bodies(
    make_queue: Callable[[int], Queue], make_source: Callable[..., SqsSource]
) -> None:
    queue = make_queue(30)
    queue.send(sns_body(s3_body(s3_record("data/sns+file.csv", bucket="bucket", size=7))))
    queue.send(eventbridge_body("data/eb%2Bfile.csv", bucket="bucket"))
    queue.send(sns_body(TEST_EVENT))
    # No endpoint given: the source talks to the host in the queue URL.
    source = make_source(queue, prefix="data", endpoint_url=None)

    files = handed_out(collect(source, 2))

    assert [(f.path, f.key, f.size, f.etag) for f in files] == [
        ("bucket/data/eb+file.csv", "eb+file.csv", 5, "b1946ac92492d2347c6235b4d2611184"),
        ("bucket/data/sns file.csv", "sns file.csv", 7, "0123456789abcdef0123456789abcdef"),
    ]
    for file in files:
        source.file_done(file)
    source.flush()
    wait_until(lambda: source.statistics().test_events == 1)
    source.flush()
    assert queue.counts() == (0, 0)


def test_malformed_bodies_are_left_for_redrive_and_do_not_stop_the_watcher(
    make_queue: Callable[[int], Queue], make_source: Callable[..., SqsSource]
) -> None:
    queue = make_queue(1)
    queue.send("this is not json")
    queue.send('{"Records": []}')
    source = make_source(queue, visibility_timeout=1)

    deadline = time.monotonic() + 5
    while source.statistics().malformed < 2:
        assert source.receive() == []
        assert time.monotonic() < deadline
    assert source.statistics().deleted == 0

    queue.send(s3_body(s3_record("ok.csv", bucket="bucket")))
    files = handed_out(collect(source, 1))
    assert [f.key for f in files] == ["ok.csv"]
    source.close()

    # Both malformed bodies are still in the queue and come back after their visibility timeout.
    time.sleep(1.2)
    seen: list[str] = []
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:
        seen += queue.take(wait=1)
    assert "this is not json" in seen
    assert '{"Records": []}' in seen


def test_the_same_object_in_two_messages_is_handed_out_once(
    make_queue: Callable[[int], Queue], make_source: Callable[..., SqsSource]
) -> None:
    queue = make_queue(30)
    put = s3_record("a.csv", bucket="bucket", event="ObjectCreated:Put")
    multipart = s3_record("a.csv", bucket="bucket", event="ObjectCreated:CompleteMultipartUpload")
    multipart["eventTime"] = "2024-05-01T12:30:47.000Z"
    queue.send(s3_body(put))
    queue.send(s3_body(multipart))
    source = make_source(queue)

    deliveries = collect(source, 1)
    wait_until(lambda: source.receive() == [] and source.statistics().received == 2)

    assert [f.key for f in handed_out(deliveries)] == ["a.csv"]
    stats = source.statistics()
    assert stats.duplicates == 1
    assert stats.files_in_work == 1
    assert stats.messages_in_flight == 2
    assert queue.counts() == (0, 2)

    source.file_done(deliveries[0].files[0])
    source.flush()
    assert queue.counts() == (0, 0)

    # A late duplicate of a version already done is acknowledged without rework.
    queue.send(s3_body(put))
    wait_until(lambda: source.receive() == [] and source.statistics().received == 3)
    source.flush()
    assert source.statistics().deleted == 3
    assert queue.counts() == (0, 0)


def test_a_message_is_deleted_only_when_all_its_files_are_done(
    make_queue: Callable[[int], Queue], make_source: Callable[..., SqsSource]
) -> None:
    queue = make_queue(30)
    queue.send(
        s3_body(
            s3_record("a.csv", bucket="bucket", etag="aaa"),
            s3_record("b.csv", bucket="bucket", etag="bbb"),
        )
    )
    source = make_source(queue)

    (delivery,) = collect(source, 2)
    assert [f.key for f in delivery.files] == ["a.csv", "b.csv"]
    assert delivery.receive_count == 1

    source.file_done(delivery.files[0])
    source.flush()
    assert queue.counts() == (0, 1)
    assert source.statistics().messages_in_flight == 1

    source.file_done(delivery.files[1])
    source.flush()
    assert queue.counts() == (0, 0)
    with pytest.raises(ValueError, match=r"a\.csv was not handed out"):
        source.file_done(delivery.files[0])


def test_a_failed_files_message_comes_back_after_the_visibility_timeout(
    make_queue: Callable[[int], Queue], make_source: Callable[..., SqsSource]
) -> None:
    queue = make_queue(30)
    queue.send(s3_body(s3_record("bad.csv", bucket="bucket")))
    source = make_source(queue, visibility_timeout=1)

    (first,) = collect(source, 1)
    source.file_failed(first.files[0])
    source.flush()
    assert source.statistics().deleted == 0

    (again,) = collect(source, 1, timeout=5)
    assert again.message_id == first.message_id
    assert again.files == first.files
    assert again.receive_count == 2
    source.file_done(again.files[0])
    source.flush()
    stats = source.statistics()
    assert (stats.failed_files, stats.deleted) == (1, 1)
    assert queue.counts() == (0, 0)


def test_heartbeat_keeps_a_file_in_work_invisible(
    make_queue: Callable[[int], Queue], make_source: Callable[..., SqsSource]
) -> None:
    queue = make_queue(2)
    queue.send(s3_body(s3_record("big.csv", bucket="bucket")))
    source = make_source(queue)  # reads VisibilityTimeout=2 from the queue
    assert source.visibility_timeout == 2

    (delivery,) = collect(source, 1)
    # A second consumer polls for 5 s while the file is in work: it must see nothing.
    stolen: list[str] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        stolen += queue.take(wait=1)
    assert stolen == []
    assert source.statistics().extended >= 3

    source.file_done(delivery.files[0])
    source.flush()
    assert queue.counts() == (0, 0)


def test_close_leaves_messages_in_work_for_redelivery(
    make_queue: Callable[[int], Queue], make_source: Callable[..., SqsSource]
) -> None:
    queue = make_queue(1)
    body = s3_body(s3_record("unfinished.csv", bucket="bucket"))
    queue.send(body)
    source = make_source(queue, visibility_timeout=1)
    collect(source, 1)
    source.close()
    assert source.receive() == []

    seen: list[str] = []
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        seen = queue.take(wait=1)
    assert seen == [body]


def test_removals_are_surfaced_only_when_deletes_are_propagated(
    make_queue: Callable[[int], Queue], make_source: Callable[..., SqsSource]
) -> None:
    removal = s3_record(
        "in/gone+now.csv", bucket="bucket", event="ObjectRemoved:Delete", size=None, etag=None
    )
    queue = make_queue(30)
    queue.send(s3_body(removal))
    quiet = make_source(queue, prefix="in")
    wait_until(lambda: quiet.receive() == [] and quiet.statistics().received == 1)
    quiet.flush()
    assert quiet.statistics().dropped_records == 1
    assert queue.counts() == (0, 0)
    quiet.close()

    queue.send(s3_body(removal))
    source = make_source(queue, prefix="in", propagate_deletes=True)
    (delivery,) = collect(source, 1)
    assert delivery.files == ()
    (gone,) = delivery.removed
    assert (gone.path, gone.key, gone.size, gone.etag) == (
        "bucket/in/gone now.csv",
        "gone now.csv",
        0,
        None,
    )
    source.file_done(gone)
    source.flush()
    assert queue.counts() == (0, 0)


def test_a_missing_queue_is_a_storage_error_naming_the_url(
    moto_endpoint: str, make_queue: Callable[[int], Queue]
) -> None:
    url = make_queue(30).url.rsplit("/", 1)[0] + "/no-such-queue"
    source = SqsSource(url, bucket="bucket", endpoint_url=moto_endpoint, wait_seconds=1)
    with pytest.raises(StorageError) as caught:
        source.start()
    message = str(caught.value)
    assert message.startswith(f"cannot read the attributes of the SQS queue {url}: ")
    assert "does not exist; check the queue URL and its region" in message
    assert DUMMY_AWS["AWS_SECRET_ACCESS_KEY"] not in message
    assert caught.value.url == url


def _error(code: str, status: int, message: str = "nope") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "ReceiveMessage")


@pytest.mark.parametrize(
    ("code", "status", "kind", "text"),
    [
        ("AccessDenied", 403, StorageError, "access denied (AccessDenied); check the credentials"),
        ("InvalidClientTokenId", 403, StorageError, "access denied (InvalidClientTokenId)"),
        ("QueueDoesNotExist", 400, StorageError, "the queue does not exist"),
        ("InternalError", 500, TransientError, "InternalError: nope; it may pass"),
        ("ThrottlingException", 400, TransientError, "ThrottlingException: nope"),
        ("InvalidParameterValue", 400, StorageError, "InvalidParameterValue: nope"),
    ],
)
def test_client_errors_are_translated(
    code: str, status: int, kind: type[Exception], text: str
) -> None:
    error = _client_error(_error(code, status), "https://sqs.eu-west-1.amazonaws.com/1/q", "poll")
    assert type(error) is kind
    assert str(error).startswith(
        "cannot poll the SQS queue https://sqs.eu-west-1.amazonaws.com/1/q: "
    )
    assert text in str(error)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not an SQS queue URL"):
        SqsSource("my-queue", bucket="b")
    with pytest.raises(ConfigError, match="wait time must be 0 to 20"):
        SqsSource("https://sqs.us-east-1.amazonaws.com/1/q", bucket="b", wait_seconds=21)
    with pytest.raises(ConfigError, match="1 to 10 messages"):
        SqsSource("https://sqs.us-east-1.amazonaws.com/1/q", bucket="b", max_messages=11)


def test_json_bodies_survive_a_round_trip_through_sqs(
    make_queue: Callable[[int], Queue],
) -> None:
    # Guard for the helpers above: moto stores bodies byte for byte.
    queue = make_queue(30)
    body = json.dumps({"k": "\u00e9+%2F"})
    queue.send(body)
    assert queue.take(wait=1) == [body]


def _file(key: str, etag: str | None = "e1", size: int = 10) -> FileInfo:
    return FileInfo(path=f"bucket/{key}", key=key, size=size, etag=etag, mtime=1.0)


def test_ledger_redoes_a_key_overwritten_back_to_an_older_version() -> None:
    ledger = _Ledger()
    x, y = _file("a.csv", "x"), _file("a.csv", "y")
    assert ledger.admit("m1", "r1", 0.0, [(x, False, "x")]) == ([x], [], 0, False)
    assert ledger.done(x) == [("m1", "r1")]
    assert ledger.admit("m2", "r2", 0.0, [(y, False, "y")]) == ([y], [], 0, False)
    assert ledger.done(y) == [("m2", "r2")]
    # Back to content x: a new write, not a duplicate of the first one.
    assert ledger.admit("m3", "r3", 0.0, [(x, False, "x")]) == ([x], [], 0, False)
    # While x is in work, a late duplicate of it joins the same work.
    assert ledger.admit("m4", "r4", 0.0, [(x, False, "x")]) == ([], [], 1, False)
    assert sorted(ledger.done(x)) == [("m3", "r3"), ("m4", "r4")]


def test_ledger_a_removal_makes_the_same_version_new_again() -> None:
    ledger = _Ledger()
    a, gone = _file("a.csv", "x"), _file("a.csv", None, size=0)
    ledger.admit("m1", "r1", 0.0, [(a, False, "x")])
    ledger.done(a)
    assert ledger.admit("m2", "r2", 0.0, [(a, False, "x")]) == ([], [], 1, True)
    ledger.admit("m3", "r3", 0.0, [(gone, True, "seq1")])
    assert ledger.done(gone) == [("m3", "r3")]
    assert ledger.admit("m4", "r4", 0.0, [(a, False, "x")]) == ([a], [], 0, False)


def test_ledger_failure_abandons_the_message_but_not_the_other_file() -> None:
    ledger = _Ledger()
    a, b = _file("a.csv", size=3), _file("b.csv", size=4)
    ledger.admit("m1", "r1", 5.0, [(a, False, "e1"), (b, False, "e1")])
    assert ledger.sizes() == (1, 2, 7)
    assert ledger.due(4.0) == []
    assert ledger.due(5.0) == [("m1", "r1")]
    # Redelivered while in work: the newest receipt handle is the one to use.
    assert ledger.admit("m1", "r1b", 9.0, [(a, False, "e1"), (b, False, "e1")]) == (
        [],
        [],
        2,
        False,
    )
    assert ledger.due(9.0) == [("m1", "r1b")]

    assert ledger.failed(a) == ["m1"]
    assert ledger.due(100.0) == []  # no longer extended
    assert ledger.done(b) == []  # never deleted
    assert ledger.sizes() == (0, 0, 0)
