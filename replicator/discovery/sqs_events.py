"""S3 object events out of SQS message bodies: plain, SNS-wrapped and EventBridge-shaped.

Pure functions, no I/O. A body that cannot be understood is reported as malformed, never raised:
the consumer leaves such messages to the queue's redrive policy.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson

from replicator.discovery.filters import KeyFilter

__all__ = ["ObjectEvent", "ParsedMessage", "parse_message", "relative_key"]

_TEST_EVENT = "s3:TestEvent"


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One object created or removed. ``key`` is the full S3 key, already URL-decoded."""

    bucket: str
    key: str
    size: int
    etag: str | None
    sequencer: str | None
    event_time: float | None
    version_id: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What one message says.

    ``dropped`` holds one reason per record that is not ours (other bucket, outside the prefix,
    filtered out, an event kind we do not replicate); ``malformed`` says why the body was not
    understood, or is ``None``.
    """

    created: tuple[ObjectEvent, ...] = ()
    removed: tuple[ObjectEvent, ...] = ()
    dropped: tuple[str, ...] = ()
    is_test_event: bool = False
    malformed: str | None = None


class _Malformed(Exception):
    """Raised inside this module only; turned into ``ParsedMessage.malformed``."""


def parse_message(
    body: str | bytes, *, bucket: str, prefix: str = "", key_filter: KeyFilter | None = None
) -> ParsedMessage:
    """The object events in ``body`` that fall in ``bucket`` under ``prefix`` and pass the filter.

    ``key_filter`` sees the key relative to ``prefix`` (the ``FileInfo.key`` of the file).
    Removals are checked against the include/exclude globs only: they carry no size.
    """
    try:
        doc = _unwrap_sns(_load(body))
        if doc.get("Event") == _TEST_EVENT:
            return ParsedMessage(is_test_event=True)
        if "detail-type" in doc and "detail" in doc:
            events = [_eventbridge(doc)]
        elif "Records" in doc:
            events = _records(doc["Records"])
        else:
            raise _Malformed("no Records, detail or s3:TestEvent in the body")
    except _Malformed as exc:
        return ParsedMessage(malformed=str(exc))
    return _select(events, bucket, prefix, key_filter or KeyFilter())


def relative_key(prefix: str, key: str) -> str | None:
    """``key`` relative to the folder ``prefix``, or ``None`` when it lies outside it.

    Follows ``Location.key``: a prefix naming the object itself gives its base name.
    """
    prefix = prefix.strip("/")
    if not prefix:
        return key or None
    if key.startswith(prefix + "/"):
        return key[len(prefix) + 1 :] or None
    if key == prefix:
        return posixpath.basename(key)
    return None


# A record reduced to what we need: kind ("created", "removed" or the event name to drop) + object.
_Event = tuple[str, ObjectEvent | None]


def _load(body: str | bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _Malformed(f"the body is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise _Malformed(f"the body is a JSON {type(doc).__name__}, not an object")
    return doc


def _unwrap_sns(doc: dict[str, Any]) -> dict[str, Any]:
    # SNS delivers the S3 (or EventBridge) document as a JSON string in "Message".
    message = doc.get("Message")
    if isinstance(message, str) and "Records" not in doc and "detail" not in doc:
        return _load(message)
    return doc


def _records(records: object) -> list[_Event]:
    if not isinstance(records, list) or not records:
        raise _Malformed("Records is empty or not a list")
    return [_record(i, record) for i, record in enumerate(records)]


def _record(index: int, record: object) -> _Event:
    where = f"record {index}"
    if not isinstance(record, dict):
        raise _Malformed(f"{where} is not an object")
    name = str(record.get("eventName", "")).removeprefix("s3:")
    s3 = _mapping(record.get("s3"), f"{where} has no s3 object")
    obj = _mapping(s3.get("object"), f"{where} has no s3.object")
    bucket = _mapping(s3.get("bucket"), f"{where} has no s3.bucket").get("name")
    if name.startswith("ObjectCreated:"):
        kind = "created"
    elif name.startswith(("ObjectRemoved:", "LifecycleExpiration:")):
        kind = "removed"
    else:
        return name or "unnamed event", None
    return kind, _object(where, kind, bucket, obj, record.get("eventTime"))


def _eventbridge(doc: Mapping[str, Any]) -> _Event:
    detail_type = doc.get("detail-type")
    detail = _mapping(doc.get("detail"), "detail is not an object")
    if detail_type == "Object Created":
        kind = "created"
    elif detail_type == "Object Deleted":
        kind = "removed"
    else:
        return str(detail_type), None
    bucket = _mapping(detail.get("bucket"), "detail has no bucket").get("name")
    obj = _mapping(detail.get("object"), "detail has no object")
    return kind, _object("detail", kind, bucket, obj, doc.get("time"))


def _object(
    where: str, kind: str, bucket: object, obj: Mapping[str, Any], when: object
) -> ObjectEvent:
    key = obj.get("key")
    if not isinstance(bucket, str) or not bucket:
        raise _Malformed(f"{where} has no bucket name")
    if not isinstance(key, str) or not key:
        raise _Malformed(f"{where} has no object key")
    etag = obj.get("eTag", obj.get("etag"))
    sequencer = obj.get("sequencer")
    version_id = obj.get("versionId", obj.get("version-id"))
    return ObjectEvent(
        bucket=bucket,
        key=unquote_plus(key),
        size=_size(where, kind, obj.get("size")),
        etag=_text(etag.strip('"') if isinstance(etag, str) else None),
        sequencer=_text(sequencer),
        event_time=_epoch(when),
        version_id=_text(version_id),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _size(where: str, kind: str, value: object) -> int:
    if kind == "removed" and value is None:
        return 0
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError
        size = int(value)
    except (TypeError, ValueError):
        raise _Malformed(f"{where} has no valid object size ({value!r})") from None
    if size < 0:
        raise _Malformed(f"{where} has a negative object size ({size})")
    return size


def _epoch(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp()
    return None


def _mapping(value: object, error: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(error)
    return value


def _select(events: list[_Event], bucket: str, prefix: str, key_filter: KeyFilter) -> ParsedMessage:
    created: list[ObjectEvent] = []
    removed: list[ObjectEvent] = []
    dropped: list[str] = []
    for kind, event in events:
        if event is None:
            dropped.append(f"{kind}: not an object creation or removal")
            continue
        reason = _drop_reason(kind, event, bucket, prefix, key_filter)
        if reason:
            dropped.append(f"s3://{event.bucket}/{event.key}: {reason}")
        elif kind == "created":
            created.append(event)
        else:
            removed.append(event)
    return ParsedMessage(created=tuple(created), removed=tuple(removed), dropped=tuple(dropped))


def _drop_reason(
    kind: str, event: ObjectEvent, bucket: str, prefix: str, key_filter: KeyFilter
) -> str | None:
    if event.bucket != bucket:
        return f"not in bucket {bucket}"
    key = relative_key(prefix, event.key)
    if key is None or key.endswith("/"):
        return f"not a file under {prefix.strip('/') or 'the bucket root'}"
    if kind == "removed":
        accepted = key_filter.accepts_key(key)
    else:
        accepted = key_filter.accepts(key, event.size, event.event_time)
    return None if accepted else "filtered out"
