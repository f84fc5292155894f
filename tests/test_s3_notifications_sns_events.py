"""Bucket notifications to SNS topics (TopicConfigurations) and to EventBridge
(EventBridgeConfiguration): the configuration round trip and its validation, the S3 event
record inside the SNS notification a subscribed queue receives, and S3's EventBridge events
reaching a rule's queue target in AWS's shape."""

import hashlib
import json
import re
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import ACCOUNT, REGION, assert_error, make_client, make_s3_client, unique_bucket

DELIVERY_S = 10
# How long to keep watching for messages that must not arrive.
QUIET_S = 2


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def s3(server):
    return make_s3_client(server.url)


@pytest.fixture(scope="module")
def sqs(server):
    return make_client(server.url, "sqs")


@pytest.fixture(scope="module")
def sns(server):
    return make_client(server.url, "sns")


@pytest.fixture(scope="module")
def events(server):
    return make_client(server.url, "events")


@pytest.fixture
def bucket(s3):
    b = unique_bucket("ev")
    s3.create_bucket(Bucket=b)
    return b


def new_queue(sqs, prefix="q"):
    """A new queue: (URL, ARN)."""
    url = sqs.create_queue(QueueName=name(prefix))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(sqs, url, count, within=DELIVERY_S):
    """Bodies (parsed) of up to `count` messages, waiting at most `within` seconds; each is
    deleted once read."""
    bodies = []
    deadline = time.monotonic() + within
    while len(bodies) < count and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in got.get("Messages", []):
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def topic_with_queue(sns, sqs):
    """A topic with a queue subscribed to it: (topic ARN, queue URL)."""
    topic = sns.create_topic(Name=name("s3t"))["TopicArn"]
    url, arn = new_queue(sqs, "s3sub")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, url


# --- S3 -> SNS -----------------------------------------------------------------------------


def test_topic_configuration_round_trip_and_test_event(s3, sns, sqs, bucket):
    topic, url = topic_with_queue(sns, sqs)
    config = {"TopicConfigurations": [{
        "Id": "to-topic", "TopicArn": topic, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
        "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "in/"},
                                           {"Name": "Suffix", "Value": ".txt"}]}}}]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["TopicConfigurations"] == config["TopicConfigurations"]
    assert not got.get("QueueConfigurations") and not got.get("LambdaFunctionConfigurations")
    assert "EventBridgeConfiguration" not in got
    [envelope] = receive(sqs, url, 1)
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
    assert envelope["Subject"] == "Amazon S3 Notification"
    test = json.loads(envelope["Message"])
    assert test["Service"] == "Amazon S3" and test["Event"] == "s3:TestEvent"
    assert test["Bucket"] == bucket


def test_matching_writes_are_published_with_the_s3_record(s3, sns, sqs, bucket):
    topic, url = topic_with_queue(sns, sqs)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "TopicConfigurations": [{
            "Id": "records", "TopicArn": topic, "Events": ["s3:ObjectCreated:Put"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}}}]})
    receive(sqs, url, 1)  # the test event
    body = b"published body"
    s3.put_object(Bucket=bucket, Key="out/skip.txt", Body=b"x")
    put = s3.put_object(Bucket=bucket, Key="in/a b.txt", Body=body)
    s3.copy_object(Bucket=bucket, Key="in/copy.txt", CopySource={"Bucket": bucket, "Key": "in/a b.txt"})
    envelopes = receive(sqs, url, 2, within=DELIVERY_S)
    assert len(envelopes) == 1, envelopes
    [env] = envelopes
    assert env["Type"] == "Notification" and env["TopicArn"] == topic
    assert env["Subject"] == "Amazon S3 Notification"
    message = json.loads(env["Message"])
    [rec] = message["Records"]
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", rec["eventTime"])
    assert re.match(r"^[0-9A-F]+$", rec["s3"]["object"]["sequencer"])
    request_id = put["ResponseMetadata"]["RequestId"]
    assert rec == {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": rec["eventTime"],
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": f"AWS:{ACCOUNT}"},
        "requestParameters": {"sourceIPAddress": rec["requestParameters"]["sourceIPAddress"]},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": f"{request_id}/stratus"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "records",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": ACCOUNT},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": "in/a+b.txt", "size": len(body), "eTag": hashlib.md5(body).hexdigest(),
                       "sequencer": rec["s3"]["object"]["sequencer"]},
        },
    }
    assert rec["requestParameters"]["sourceIPAddress"]


def test_missing_topic_is_refused_and_nothing_is_stored(s3, sns, sqs, bucket):
    topic, _ = topic_with_queue(sns, sqs)
    kept = {"TopicConfigurations": [{"Id": "kept", "TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=kept)
    missing = topic + "-missing"
    refused = {"TopicConfigurations": [{"TopicArn": missing, "Events": ["s3:ObjectCreated:*"]}],
               "EventBridgeConfiguration": {}}
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=refused)
    assert_error(e.value, "InvalidArgument", 400, "Unable to validate the following destination configurations")
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["TopicConfigurations"] == kept["TopicConfigurations"]
    assert "EventBridgeConfiguration" not in got
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": "arn:aws:sqs:us-east-1:000000000000:q",
                                     "Events": ["s3:ObjectCreated:*"]}]})
    assert_error(e.value, "InvalidArgument", 400, "The ARN could not be parsed")
    # Skipping validation stores it; writes still succeed with nowhere to publish.
    s3.put_bucket_notification_configuration(
        Bucket=bucket, SkipDestinationValidation=True,
        NotificationConfiguration={"TopicConfigurations": [
            {"Id": "gone", "TopicArn": missing, "Events": ["s3:ObjectCreated:*"]}]})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)["TopicConfigurations"]
    assert [c["TopicArn"] for c in got] == [missing]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


# --- S3 -> EventBridge ---------------------------------------------------------------------


def rule_to_queue(events, sqs, pattern):
    """A rule on the default bus with `pattern` and a new queue as its target: the queue URL."""
    url, arn = new_queue(sqs, "s3eb")
    rule = name("s3rule")
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    return url


def test_eventbridge_configuration_round_trip(s3, bucket):
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["EventBridgeConfiguration"] == {}
    assert not got.get("TopicConfigurations") and not got.get("QueueConfigurations")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "EventBridgeConfiguration" not in s3.get_bucket_notification_configuration(Bucket=bucket)


def test_object_events_reach_rules_on_the_default_bus(s3, events, sqs, bucket):
    other = unique_bucket("ev")
    s3.create_bucket(Bucket=other)
    created = rule_to_queue(events, sqs, {
        "source": ["aws.s3"], "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket]}}})
    deleted = rule_to_queue(events, sqs, {
        "source": ["aws.s3"], "detail-type": ["Object Deleted"],
        "detail": {"bucket": {"name": [bucket]}}})
    for b in (bucket, other):
        s3.put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={"EventBridgeConfiguration": {}})
    body = b"to the bus"
    s3.put_object(Bucket=other, Key="elsewhere.txt", Body=b"not for this rule")
    put = s3.put_object(Bucket=bucket, Key="dir/a b.txt", Body=body)
    s3.copy_object(Bucket=bucket, Key="copy.txt", CopySource={"Bucket": bucket, "Key": "dir/a b.txt"})
    delete = s3.delete_object(Bucket=bucket, Key="copy.txt")

    got = receive(sqs, created, 3)
    assert len(got) == 2, got
    put_event = next(e for e in got if e["detail"]["reason"] == "PutObject")
    copy_event = next(e for e in got if e["detail"]["reason"] == "CopyObject")
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", put_event["time"])
    uuid.UUID(put_event["id"])
    request_id = put["ResponseMetadata"]["RequestId"]
    assert put_event == {
        "version": "0",
        "id": put_event["id"],
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": put_event["time"],
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": "dir/a b.txt", "size": len(body), "etag": hashlib.md5(body).hexdigest(),
                       "sequencer": put_event["detail"]["object"]["sequencer"]},
            "request-id": request_id,
            "requester": ACCOUNT,
            "source-ip-address": put_event["detail"]["source-ip-address"],
            "reason": "PutObject",
        },
    }
    assert re.match(r"^[0-9A-F]+$", put_event["detail"]["object"]["sequencer"])
    assert copy_event["detail"]["object"]["key"] == "copy.txt"
    assert copy_event["detail"]["object"]["size"] == len(body)

    [gone] = receive(sqs, deleted, 1)
    assert gone["detail-type"] == "Object Deleted" and gone["source"] == "aws.s3"
    assert gone["detail"]["object"]["key"] == "copy.txt"
    assert gone["detail"]["reason"] == "DeleteObject"
    assert gone["detail"]["deletion-type"] == "Permanently Deleted"
    assert gone["detail"]["request-id"] == delete["ResponseMetadata"]["RequestId"]
    assert "size" not in gone["detail"]["object"]
    # Nothing more: the other bucket's write matched neither rule.
    assert receive(sqs, created, 1, within=QUIET_S) == []


def test_no_bus_events_once_disabled(s3, events, sqs, bucket):
    url = rule_to_queue(events, sqs, {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}})
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
    s3.put_object(Bucket=bucket, Key="on", Body=b"1")
    assert [e["detail"]["object"]["key"] for e in receive(sqs, url, 1)] == ["on"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    s3.put_object(Bucket=bucket, Key="off", Body=b"2")
    assert receive(sqs, url, 1, within=QUIET_S) == []
