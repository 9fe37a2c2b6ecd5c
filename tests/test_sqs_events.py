"""parse_message over every body shape S3 events arrive in, written after AWS's documented formats."""

from __future__ import annotations

import json
from typing import Any

import pytest

from replicator.discovery.filters import KeyFilter
from replicator.discovery.sqs_events import ObjectEvent, parse_message, relative_key

BUCKET = "amzn-s3-demo-bucket"
T0 = "2024-05-01T12:30:45.250Z"
T0_EPOCH = 1714566645.25


def s3_record(
    key: str,
    *,
    event: str = "ObjectCreated:Put",
    bucket: str = BUCKET,
    size: int | None = 1024,
    etag: str | None = "0123456789abcdef0123456789abcdef",
    sequencer: str = "0A1B2C3D4E5F678901",
) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "sequencer": sequencer}
    if size is not None:
        obj["size"] = size
    if etag is not None:
        obj["eTag"] = etag
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-west-2",
        "eventTime": T0,
        "eventName": event,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.5"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "replicate",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_body(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def sns_body(inner: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-west-2:123456789012:s3-events",
            "Subject": "Amazon S3 Notification",
            "Message": inner,
            "Timestamp": "2024-05-01T12:30:46.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+..",
            "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-x.pem",
            "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe",
        }
    )


def eventbridge_body(key: str, *, detail_type: str = "Object Created", bucket: str = BUCKET) -> str:
    obj: dict[str, Any] = {
        "key": key,
        "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        "sequencer": "617f08299329d189",
    }
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
    }
    if detail_type == "Object Created":
        obj |= {"size": 5, "etag": "b1946ac92492d2347c6235b4d2611184"}
        detail["reason"] = "PutObject"
    else:
        detail |= {"reason": "DeleteObject", "deletion-type": "Permanently Deleted"}
    return json.dumps(
        {
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": detail_type,
            "source": "aws.s3",
            "account": "111122223333",
            "time": "2021-11-12T00:00:00Z",
            "region": "ca-central-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": detail,
        }
    )


TEST_EVENT = json.dumps(
    {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2024-05-01T12:00:00.000Z",
        "Bucket": BUCKET,
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
)


def parse(body: str, prefix: str = "", key_filter: KeyFilter | None = None) -> Any:
    return parse_message(body, bucket=BUCKET, prefix=prefix, key_filter=key_filter)


def test_plain_s3_event_gives_the_decoded_object() -> None:
    parsed = parse(s3_body(s3_record("logs/2024/red+flower%2B1+%25%C3%A9t%C3%A9.csv")))
    assert parsed.malformed is None
    assert not parsed.is_test_event
    assert parsed.created == (
        ObjectEvent(
            bucket=BUCKET,
            key="logs/2024/red flower+1 %été.csv",
            size=1024,
            etag="0123456789abcdef0123456789abcdef",
            sequencer="0A1B2C3D4E5F678901",
            event_time=T0_EPOCH,
        ),
    )
    assert parsed.removed == ()
    assert parsed.dropped == ()


def test_slashes_encoded_as_percent_2f_are_decoded() -> None:
    parsed = parse(s3_body(s3_record("a%2Fb%2Fc.json")))
    assert [e.key for e in parsed.created] == ["a/b/c.json"]


def test_quoted_etags_lose_their_quotes() -> None:
    parsed = parse(s3_body(s3_record("a.csv", etag='"abc-2"')))
    assert parsed.created[0].etag == "abc-2"


def test_one_message_can_name_several_objects_and_kinds() -> None:
    body = s3_body(
        s3_record("a.csv", event="ObjectCreated:CompleteMultipartUpload"),
        s3_record("b.csv", event="ObjectRemoved:Delete", size=None, etag=None),
        s3_record("c.csv", event="ObjectRemoved:DeleteMarkerCreated", size=None, etag=None),
        s3_record("d.csv", event="LifecycleExpiration:Delete", size=None, etag=None),
        s3_record("e.csv", event="ObjectTagging:Put"),
    )
    parsed = parse(body)
    assert [e.key for e in parsed.created] == ["a.csv"]
    assert [(e.key, e.size, e.etag) for e in parsed.removed] == [
        ("b.csv", 0, None),
        ("c.csv", 0, None),
        ("d.csv", 0, None),
    ]
    assert parsed.dropped == ("ObjectTagging:Put: not an object creation or removal",)


def test_sns_wrapped_event_is_unwrapped() -> None:
    parsed = parse(sns_body(s3_body(s3_record("x y.csv".replace(" ", "+")))))
    assert parsed.malformed is None
    assert [(e.key, e.size) for e in parsed.created] == [("x y.csv", 1024)]


def test_sns_wrapped_test_event_is_a_test_event() -> None:
    parsed = parse(sns_body(TEST_EVENT))
    assert parsed.is_test_event
    assert parsed.created == parsed.removed == ()


def test_test_event_is_flagged() -> None:
    parsed = parse(TEST_EVENT)
    assert parsed.is_test_event
    assert parsed.malformed is None
    assert parsed.created == ()


def test_eventbridge_object_created() -> None:
    parsed = parse(eventbridge_body("data/new+file%3A1.csv"), prefix="data")
    assert parsed.created == (
        ObjectEvent(
            bucket=BUCKET,
            key="data/new file:1.csv",
            size=5,
            etag="b1946ac92492d2347c6235b4d2611184",
            sequencer="617f08299329d189",
            event_time=1636675200.0,
            version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        ),
    )


def test_eventbridge_object_deleted() -> None:
    parsed = parse(eventbridge_body("gone.csv", detail_type="Object Deleted"))
    assert parsed.created == ()
    assert [(e.key, e.size, e.sequencer) for e in parsed.removed] == [
        ("gone.csv", 0, "617f08299329d189")
    ]


def test_eventbridge_other_detail_types_are_dropped() -> None:
    parsed = parse(eventbridge_body("a.csv", detail_type="Object Restore Completed"))
    assert parsed.malformed is None
    assert parsed.created == parsed.removed == ()
    assert parsed.dropped == ("Object Restore Completed: not an object creation or removal",)


def test_other_bucket_and_prefix_and_filter_are_dropped_with_reasons() -> None:
    body = s3_body(
        s3_record("in/keep.csv"),
        s3_record("in/keep.csv", bucket="someone-else"),
        s3_record("inside/x.csv"),
        s3_record("in/skip.tmp"),
        s3_record("in/folder/", size=0),
        s3_record("in/nested/deep.csv"),
    )
    parsed = parse(body, prefix="/in/", key_filter=KeyFilter(exclude=("*.tmp",)))
    assert [e.key for e in parsed.created] == ["in/keep.csv", "in/nested/deep.csv"]
    assert parsed.dropped == (
        f"s3://someone-else/in/keep.csv: not in bucket {BUCKET}",
        f"s3://{BUCKET}/inside/x.csv: not a file under in",
        f"s3://{BUCKET}/in/skip.tmp: filtered out",
        f"s3://{BUCKET}/in/folder/: not a file under in",
    )


def test_filter_sees_the_key_relative_to_the_prefix() -> None:
    key_filter = KeyFilter(include=("2024/*.csv",))
    parsed = parse(
        s3_body(s3_record("in/2024/a.csv"), s3_record("in/2023/a.csv")), "in", key_filter
    )
    assert [e.key for e in parsed.created] == ["in/2024/a.csv"]


def test_empty_objects_are_skipped_like_listing_does() -> None:
    parsed = parse(s3_body(s3_record("empty.csv", size=0)))
    assert parsed.created == ()
    assert parsed.dropped == (f"s3://{BUCKET}/empty.csv: filtered out",)


def test_removals_pass_the_globs_without_a_size() -> None:
    key_filter = KeyFilter(include=("*.csv",))
    body = s3_body(
        s3_record("a.csv", event="ObjectRemoved:Delete", size=None, etag=None),
        s3_record("a.txt", event="ObjectRemoved:Delete", size=None, etag=None),
    )
    parsed = parse(body, key_filter=key_filter)
    assert [e.key for e in parsed.removed] == ["a.csv"]
    assert parsed.dropped == (f"s3://{BUCKET}/a.txt: filtered out",)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("this is not json", "the body is not JSON"),
        ("[1, 2]", "the body is a JSON list, not an object"),
        ('{"Records": []}', "Records is empty or not a list"),
        ('{"Records": {"a": 1}}', "Records is empty or not a list"),
        ('{"hello": "world"}', "no Records, detail or s3:TestEvent in the body"),
        ('{"Records": ["x"]}', "record 0 is not an object"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "record 0 has no s3 object"),
        (sns_body("not json either"), "the body is not JSON"),
        (
            s3_body(s3_record("a.csv"), s3_record("", event="ObjectCreated:Put")),
            "record 1 has no object key",
        ),
        (s3_body(s3_record("a.csv", size=None)), "record 0 has no valid object size (None)"),
        (
            json.dumps({"detail-type": "Object Created", "detail": "x"}),
            "detail is not an object",
        ),
    ],
)
def test_malformed_bodies_are_reported_not_raised(body: str, reason: str) -> None:
    parsed = parse(body)
    assert parsed.malformed is not None
    assert parsed.malformed.startswith(reason)
    assert parsed.created == parsed.removed == ()
    assert not parsed.is_test_event


def test_bytes_bodies_are_accepted() -> None:
    parsed = parse_message(s3_body(s3_record("a.csv")).encode(), bucket=BUCKET)
    assert [e.key for e in parsed.created] == ["a.csv"]


def test_unparseable_event_time_is_none_not_an_error() -> None:
    record = s3_record("a.csv")
    record["eventTime"] = "yesterday"
    parsed = parse(s3_body(record))
    assert parsed.created[0].event_time is None


@pytest.mark.parametrize(
    ("prefix", "key", "expected"),
    [
        ("", "a/b.csv", "a/b.csv"),
        ("a", "a/b.csv", "b.csv"),
        ("/a/", "a/b.csv", "b.csv"),
        ("a", "ab/c.csv", None),
        ("a/b.csv", "a/b.csv", "b.csv"),
        ("a", "a/", None),
    ],
)
def test_relative_key(prefix: str, key: str, expected: str | None) -> None:
    assert relative_key(prefix, key) == expected
