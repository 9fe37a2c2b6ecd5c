"""SQS queues on the moto server, for tests of S3 event notifications."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.conftest import DUMMY_AWS


@dataclass
class Queue:
    client: Any
    url: str
    arn: str

    def send(self, body: str) -> None:
        self.client.send_message(QueueUrl=self.url, MessageBody=body)

    def counts(self) -> tuple[int, int]:
        """(visible, in flight) messages."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def take(self, wait: int = 0) -> list[str]:
        """Receive as a second consumer would; returns the bodies."""
        reply = self.client.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        )
        return [m["Body"] for m in reply.get("Messages", [])]


@pytest.fixture
def make_queue(moto_endpoint: str) -> Callable[[int], Queue]:
    client = boto3.client(
        "sqs",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=DUMMY_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
    )

    def make(visibility: int = 30) -> Queue:
        url = client.create_queue(
            QueueName=f"q-{uuid.uuid4().hex[:12]}",
            Attributes={"VisibilityTimeout": str(visibility)},
        )["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return Queue(client, url, arn["Attributes"]["QueueArn"])

    return make
