"""Queues through boto3's sqs client (the AWS JSON 1.0 protocol botocore speaks today), the aws
CLI, and hand-signed Query-protocol requests: queue operations, FIFO ordering and
deduplication, long polling, visibility, dead-letter redrive, batches, the message MD5s, AWS's
errors (code, HTTP status and message), and durability across kill -9."""

import hashlib
import json
import os
import struct
import subprocess
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from helpers import ACCOUNT, REGION, assert_error, aws_cli_env, find_aws_cli, http_request, make_client

NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


@pytest.fixture(scope="module")
def sqs(server):
    return make_client(server.url, "sqs")


@pytest.fixture(scope="module")
def raw_sqs(server):
    """A client that skips botocore's own parameter checks, so the server's are tested."""
    return make_client(server.url, "sqs", parameter_validation=False)


def name(prefix="q"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def queue(sqs):
    return sqs.create_queue(QueueName=name())["QueueUrl"]


def attributes_md5(attrs):
    """MD5OfMessageAttributes as the Java and Go SDKs compute it, written from AWS's
    description: per attribute in name order, length-prefixed name, type and value, the value
    after a transport byte (1 string, 2 binary)."""
    h = hashlib.md5()

    def field(b):
        h.update(struct.pack(">I", len(b)) + b)

    for k in sorted(attrs):
        a = attrs[k]
        field(k.encode())
        field(a["DataType"].encode())
        if "StringValue" in a:
            h.update(b"\x01")
            field(a["StringValue"].encode())
        else:
            h.update(b"\x02")
            field(a["BinaryValue"])
    return h.hexdigest()


def query(server, params, path="/"):
    """A Query-protocol request, signed by botocore's SigV4 signer; returns (status, xml root,
    headers)."""
    body = urllib.parse.urlencode({"Version": "2012-11-05", **params})
    req = AWSRequest(method="POST", url=server.url + path, data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials("test", "test"), "sqs", REGION).add_auth(req)
    status, headers, raw = http_request("POST", server.url + path, headers=dict(req.headers),
                                        body=body.encode())
    return status, ET.fromstring(raw), headers


# --- queues ------------------------------------------------------------------------------


def test_create_is_idempotent_and_urls_follow_the_endpoint(sqs, server):
    n = name()
    url = sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "12"})["QueueUrl"]
    assert url == f"{server.url}/{ACCOUNT}/{n}"
    assert sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "12"})["QueueUrl"] == url
    assert sqs.create_queue(QueueName=n)["QueueUrl"] == url
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "13"})
    assert_error(e.value, "QueueAlreadyExists", 400, message_contains="VisibilityTimeout")
    assert sqs.get_queue_url(QueueName=n)["QueueUrl"] == url
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "12"
    assert attrs["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{n}"
    assert attrs["MaximumMessageSize"] == "262144"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert int(attrs["CreatedTimestamp"]) > 1_600_000_000
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        sqs.get_queue_url(QueueName=n)
    assert_error(e.value, "AWS.SimpleQueueService.NonExistentQueue", 400,
                 "The specified queue does not exist.")


def test_missing_queue_error_carries_both_codes(server):
    """The JSON error names the JSON code in __type and the Query code in x-amzn-query-error."""
    from helpers import sigv4_headers
    body = json.dumps({"QueueName": "nope-" + uuid.uuid4().hex}).encode()
    headers = sigv4_headers("POST", server.url + "/", body, service="sqs")
    headers["x-amz-target"] = "AmazonSQS.GetQueueUrl"
    status, h, raw = http_request("POST", server.url + "/", headers=headers, body=body)
    assert status == 400
    assert json.loads(raw)["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"
    assert h["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"


def test_list_queues_by_prefix_and_pages(sqs):
    prefix = name("list")
    urls = sorted(sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(3))
    assert sorted(sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]) == urls
    page = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert len(page["QueueUrls"]) == 2 and "NextToken" in page
    rest = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=page["NextToken"])
    assert page["QueueUrls"] + rest["QueueUrls"] == urls
    assert "NextToken" not in rest


def test_attributes_are_checked(sqs, raw_sqs, queue):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name(), Attributes={"Bogus": "1"})
    assert_error(e.value, "InvalidAttributeName", 400, "Unknown Attribute Bogus.")
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "43201"})
    assert_error(e.value, "InvalidAttributeValue", 400,
                 "Invalid value for the parameter VisibilityTimeout.")
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName="bad.name")
    assert_error(e.value, "InvalidParameterValue", 400)
    with pytest.raises(ClientError) as e:
        raw_sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["Nope"])
    assert_error(e.value, "InvalidAttributeName", 400)
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"DelaySeconds": "5",
                                                         "KmsMasterKeyId": "alias/aws/sqs"})
    got = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["DelaySeconds", "KmsMasterKeyId"])
    assert got["Attributes"] == {"DelaySeconds": "5", "KmsMasterKeyId": "alias/aws/sqs"}


def test_tags_and_permissions(sqs, queue):
    sqs.tag_queue(QueueUrl=queue, Tags={"team": "a", "env": "dev"})
    sqs.untag_queue(QueueUrl=queue, TagKeys=["env"])
    assert sqs.list_queue_tags(QueueUrl=queue)["Tags"] == {"team": "a"}
    sqs.add_permission(QueueUrl=queue, Label="p1", AWSAccountIds=["111122223333"],
                       Actions=["SendMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["Policy"])
                        ["Attributes"]["Policy"])
    assert policy["Statement"][0]["Sid"] == "p1"
    assert policy["Statement"][0]["Action"] == ["SQS:SendMessage"]
    with pytest.raises(ClientError) as e:
        sqs.add_permission(QueueUrl=queue, Label="p1", AWSAccountIds=["111122223333"],
                           Actions=["SendMessage"])
    assert_error(e.value, "InvalidParameterValue", 400)
    sqs.remove_permission(QueueUrl=queue, Label="p1")
    with pytest.raises(ClientError) as e:
        sqs.remove_permission(QueueUrl=queue, Label="p1")
    assert_error(e.value, "InvalidParameterValue", 400, message_contains="can't find label")


# --- messages ----------------------------------------------------------------------------


def test_send_receive_delete_with_attributes_and_md5s(sqs, queue):
    attrs = {
        "s": {"DataType": "String", "StringValue": "héllo"},
        "n": {"DataType": "Number.int", "StringValue": "42"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
        "app.id": {"DataType": "String", "StringValue": "x"},
    }
    body = "body ✓ 😀"
    sent = sqs.send_message(QueueUrl=queue, MessageBody=body, MessageAttributes=attrs,
                            MessageSystemAttributes={"AWSTraceHeader": {
                                "DataType": "String", "StringValue": "Root=1-abc"}})
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == attributes_md5(attrs)
    assert sent["MD5OfMessageSystemAttributes"] == attributes_md5(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}})
    got = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["app.*", "b"],
                              MessageSystemAttributeNames=["All"])["Messages"]
    m = got[0]
    assert m["Body"] == body and m["MessageId"] == sent["MessageId"]
    assert set(m["MessageAttributes"]) == {"app.id", "b"}
    assert m["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01\xff"
    assert m["MD5OfMessageAttributes"] == attributes_md5(
        {k: attrs[k] for k in ("app.id", "b")})
    a = m["Attributes"]
    assert a["ApproximateReceiveCount"] == "1"
    assert a["AWSTraceHeader"] == "Root=1-abc"
    assert abs(int(a["SentTimestamp"]) - time.time() * 1000) < 60_000
    assert "SenderId" in a and "ApproximateFirstReceiveTimestamp" in a
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)


def test_message_validation_errors(sqs, raw_sqs, queue):
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=queue, MessageBody="bad \x01 char")
    assert_error(e.value, "InvalidMessageContents", 400,
                 "Invalid binary character '#x1' was found in the message body, the set of "
                 "allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | "
                 "#x10000 to #x10FFFF")
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=queue, MessageBody="x" * 262_145)
    assert_error(e.value, "InvalidParameterValue", 400,
                 "One or more parameters are invalid. Reason: Message must be shorter than "
                 "262144 bytes.")
    with pytest.raises(ClientError) as e:
        raw_sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=11)
    assert_error(e.value, "InvalidParameterValue", 400,
                 "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be "
                 "between 1 and 10, if provided.")
    with pytest.raises(ClientError) as e:
        raw_sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=21)
    assert_error(e.value, "InvalidParameterValue", 400)
    with pytest.raises(ClientError) as e:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle="not-a-handle")
    assert_error(e.value, "ReceiptHandleIsInvalid", 400,
                 'The input receipt handle "not-a-handle" is not a valid receipt handle.')
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=queue, MessageBody="x", MessageAttributes={
            "n": {"DataType": "Number", "StringValue": "abc"}})
    assert_error(e.value, "InvalidParameterValue", 400)
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "0", "refused sends change nothing"


def test_batches_report_partial_failures(sqs, raw_sqs, queue):
    r = sqs.send_message_batch(QueueUrl=queue, Entries=[
        {"Id": "ok", "MessageBody": "fine"},
        {"Id": "bad", "MessageBody": "nul \x00"},
    ])
    assert [s["Id"] for s in r["Successful"]] == ["ok"]
    assert r["Successful"][0]["MD5OfMessageBody"] == hashlib.md5(b"fine").hexdigest()
    assert r["Failed"][0]["Id"] == "bad"
    assert r["Failed"][0]["Code"] == "InvalidMessageContents"
    assert r["Failed"][0]["SenderFault"] is True
    m = sqs.receive_message(QueueUrl=queue)["Messages"][0]
    d = sqs.delete_message_batch(QueueUrl=queue, Entries=[
        {"Id": "a", "ReceiptHandle": m["ReceiptHandle"]},
        {"Id": "b", "ReceiptHandle": "junk"},
    ])
    assert [s["Id"] for s in d["Successful"]] == ["a"]
    assert d["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": "x", "MessageBody": "1"},
                                                        {"Id": "x", "MessageBody": "2"}])
    assert_error(e.value, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, "Id x repeated.")
    with pytest.raises(ClientError) as e:
        raw_sqs.send_message_batch(QueueUrl=queue, Entries=[])
    assert_error(e.value, "AWS.SimpleQueueService.EmptyBatchRequest", 400)
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=queue, Entries=[
            {"Id": f"m{i}", "MessageBody": "x"} for i in range(11)])
    assert_error(e.value, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400,
                 "Maximum number of entries per request are 10. You have sent 11.")
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": "bad id!", "MessageBody": "x"}])
    assert_error(e.value, "AWS.SimpleQueueService.InvalidBatchEntryId", 400)
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=queue, Entries=[
            {"Id": f"m{i}", "MessageBody": "x" * 30_000} for i in range(10)])
    assert_error(e.value, "AWS.SimpleQueueService.BatchRequestTooLong", 400)


def test_visibility_timeout_expires_and_can_be_changed(sqs, queue):
    sqs.send_message(QueueUrl=queue, MessageBody="v")
    first = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=1,
                                AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)
    time.sleep(1.3)
    second = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=30,
                                 AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    # The old handle no longer deletes the message (AWS answers success anyway).
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"])
    with pytest.raises(ClientError) as e:
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"],
                                      VisibilityTimeout=0)
    assert_error(e.value, "InvalidParameterValue", 400, message_contains="expired")
    sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=second["ReceiptHandle"],
                                  VisibilityTimeout=0)
    third = sqs.receive_message(QueueUrl=queue)["Messages"][0]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=third["ReceiptHandle"])
    with pytest.raises(ClientError) as e:
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=third["ReceiptHandle"],
                                      VisibilityTimeout=5)
    assert_error(e.value, "InvalidParameterValue", 400)


def test_delay_hides_messages_until_due(sqs, queue):
    sqs.send_message(QueueUrl=queue, MessageBody="later", DelaySeconds=1)
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)
    time.sleep(1.2)
    assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "later"


def test_long_polling_is_woken_by_a_send(sqs, queue):
    result = {}

    def poll():
        start = time.monotonic()
        result["r"] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=10)
        result["took"] = time.monotonic() - start

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.7)
    sqs.send_message(QueueUrl=queue, MessageBody="wake")
    t.join(15)
    assert result["r"]["Messages"][0]["Body"] == "wake"
    assert 0.6 < result["took"] < 3
    # With nothing sent, the poll waits its full time.
    start = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)
    assert time.monotonic() - start >= 0.95


def test_purge_then_purge_again_is_refused(sqs, queue):
    sqs.send_message(QueueUrl=queue, MessageBody="gone")
    sqs.purge_queue(QueueUrl=queue)
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)
    with pytest.raises(ClientError) as e:
        sqs.purge_queue(QueueUrl=queue)
    assert_error(e.value, "AWS.SimpleQueueService.PurgeQueueInProgress", 400,
                 message_contains="Only one PurgeQueue operation on")


# --- FIFO ----------------------------------------------------------------------------------


def test_fifo_orders_per_group_and_deduplicates(sqs, raw_sqs):
    url = sqs.create_queue(QueueName=name("f") + ".fifo",
                           Attributes={"FifoQueue": "true"})["QueueUrl"]
    ids = []
    for i in range(3):
        r = sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="A",
                             MessageDeduplicationId=f"a{i}")
        ids.append(r["MessageId"])
        assert r["SequenceNumber"].isdigit()
    sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="B", MessageDeduplicationId="b0")
    dup = sqs.send_message(QueueUrl=url, MessageBody="again", MessageGroupId="A",
                           MessageDeduplicationId="a0")
    assert dup["MessageId"] == ids[0]
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2,
                                AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in first] == ["a0", "a1"]
    assert first[0]["Attributes"]["MessageGroupId"] == "A"
    assert first[0]["Attributes"]["MessageDeduplicationId"] == "a0"
    # Group A has messages in flight: only B is delivered.
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in second] == ["b0"]
    for m in first:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["a2"]
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="A")
    assert_error(e.value, "InvalidParameterValue", 400, message_contains="ContentBasedDeduplication")
    with pytest.raises(ClientError) as e:
        raw_sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert_error(e.value, "MissingParameter", 400,
                 "The request must contain the parameter MessageGroupId.")
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="A",
                         MessageDeduplicationId="z", DelaySeconds=3)
    assert_error(e.value, "InvalidParameterValue", 400, message_contains="DelaySeconds")


def test_fifo_content_based_deduplication(sqs):
    url = sqs.create_queue(QueueName=name("c") + ".fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    a = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    b = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 1


# --- dead-letter queues ----------------------------------------------------------------------


def test_redrive_to_dead_letter_queue_and_move_back(sqs):
    dlq = sqs.create_queue(QueueName=name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(QueueName=name("src"), Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    policy = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(policy["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    sent = sqs.send_message(QueueUrl=src, MessageBody="poison", MessageAttributes={
        "k": {"DataType": "String", "StringValue": "v"}})
    for _ in range(2):
        assert len(sqs.receive_message(QueueUrl=src, VisibilityTimeout=0)["Messages"]) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=src), "moved on the third receive"
    dead = sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0, MessageAttributeNames=["All"],
                               AttributeNames=["All"])["Messages"][0]
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Body"] == "poison"
    assert dead["MessageAttributes"]["k"]["StringValue"] == "v"
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert tasks[0]["TaskHandle"] == handle
    assert tasks[0]["Status"] == "COMPLETED"
    assert tasks[0]["ApproximateNumberOfMessagesMoved"] == 1
    back = sqs.receive_message(QueueUrl=src, AttributeNames=["All"])["Messages"][0]
    assert back["Body"] == "poison"
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as e:
        sqs.start_message_move_task(SourceArn=src_arn)
    assert_error(e.value, "InvalidParameterValue", 400,
                 "Source queue must be configured as a Dead Letter Queue.")


def test_redrive_allow_policy_refuses_other_sources(sqs):
    dlq = sqs.create_queue(QueueName=name("dlq"), Attributes={"RedriveAllowPolicy": json.dumps(
        {"redrivePermission": "denyAll"})})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name("src"), Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})
    assert_error(e.value, "InvalidParameterValue", 400, message_contains="RedrivePolicy")


# --- the Query protocol and the aws CLI ------------------------------------------------------


def test_query_protocol_on_the_queue_url(server, sqs):
    n = name("query")
    status, root, _ = query(server, {"Action": "CreateQueue", "QueueName": n,
                                     "Attribute.1.Name": "VisibilityTimeout",
                                     "Attribute.1.Value": "7"})
    assert status == 200
    url = root.find(f"{NS}CreateQueueResult/{NS}QueueUrl").text
    assert url == f"{server.url}/{ACCOUNT}/{n}"
    status, root, _ = query(server, {
        "Action": "SendMessage", "MessageBody": "via query",
        "MessageAttribute.1.Name": "a", "MessageAttribute.1.Value.DataType": "String",
        "MessageAttribute.1.Value.StringValue": "b"}, path=f"/{ACCOUNT}/{n}")
    assert status == 200
    result = root.find(f"{NS}SendMessageResult")
    assert result.find(f"{NS}MD5OfMessageAttributes").text == attributes_md5(
        {"a": {"DataType": "String", "StringValue": "b"}})
    status, root, _ = query(server, {"Action": "ReceiveMessage", "QueueUrl": url,
                                     "AttributeName.1": "All", "MessageAttributeName.1": "All"})
    msg = root.find(f"{NS}ReceiveMessageResult/{NS}Message")
    assert msg.find(f"{NS}Body").text == "via query"
    names = [a.find(f"{NS}Name").text for a in msg.findall(f"{NS}Attribute")]
    assert "ApproximateReceiveCount" in names
    assert msg.find(f"{NS}MessageAttribute/{NS}Value/{NS}StringValue").text == "b"
    status, root, _ = query(server, {"Action": "GetQueueAttributes", "QueueUrl": url,
                                     "AttributeName.1": "VisibilityTimeout"})
    attr = root.find(f"{NS}GetQueueAttributesResult/{NS}Attribute")
    assert (attr.find(f"{NS}Name").text, attr.find(f"{NS}Value").text) == ("VisibilityTimeout", "7")
    status, root, _ = query(server, {"Action": "GetQueueUrl", "QueueName": "missing-" + n})
    assert status == 400
    assert root.find(f"{NS}Error/{NS}Code").text == "AWS.SimpleQueueService.NonExistentQueue"
    assert root.find(f"{NS}Error/{NS}Message").text == \
        "The specified queue does not exist for this wsdl version."
    assert root.find(f"{NS}Error/{NS}Type").text == "Sender"
    status, root, _ = query(server, {"Action": "SendMessageBatch", "QueueUrl": url,
                                     "SendMessageBatchRequestEntry.1.Id": "x",
                                     "SendMessageBatchRequestEntry.1.MessageBody": "1",
                                     "SendMessageBatchRequestEntry.2.Id": "x",
                                     "SendMessageBatchRequestEntry.2.MessageBody": "2"})
    assert status == 400
    assert root.find(f"{NS}Error/{NS}Code").text == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


def test_aws_cli(server, tmp_path):
    cli = find_aws_cli()
    if cli is None:
        pytest.skip("the aws CLI is not installed")
    env = aws_cli_env(tmp_path)

    def aws(*args):
        out = subprocess.run([cli, "--endpoint-url", server.url, "--output", "json", "sqs", *args],
                             env=env, capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout, out.stderr

    n = name("cli")
    code, out, err = aws("create-queue", "--queue-name", n)
    assert code == 0, err
    url = json.loads(out)["QueueUrl"]
    code, out, err = aws("send-message", "--queue-url", url, "--message-body", "from cli")
    assert code == 0, err
    code, out, err = aws("receive-message", "--queue-url", url)
    assert code == 0, err
    assert json.loads(out)["Messages"][0]["Body"] == "from cli"
    code, out, err = aws("get-queue-url", "--queue-name", n + "-missing")
    assert code != 0
    assert "NonExistentQueue" in err


# --- durability --------------------------------------------------------------------------


def test_acknowledged_sends_survive_kill_9(server_factory):
    srv = server_factory()
    sqs = make_client(srv.url, "sqs")
    url = sqs.create_queue(QueueName="durable")["QueueUrl"]
    fifo = sqs.create_queue(QueueName="durable.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for i in range(20):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    sqs.send_message(QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="d")
    inflight = sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"][0]
    srv.kill()
    srv2 = server_factory(data_dir=srv.data_dir)
    sqs2 = make_client(srv2.url, "sqs")
    url2 = sqs2.get_queue_url(QueueName="durable")["QueueUrl"]
    attrs = sqs2.get_queue_attributes(QueueUrl=url2, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "19"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1", "visibility is in the store"
    bodies = set()
    while True:
        got = sqs2.receive_message(QueueUrl=url2, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        bodies.update(m["Body"] for m in got)
    assert bodies == {f"m{i}" for i in range(20)} - {inflight["Body"]}
    fifo2 = sqs2.get_queue_url(QueueName="durable.fifo")["QueueUrl"]
    dup = sqs2.send_message(QueueUrl=fifo2, MessageBody="f", MessageGroupId="g",
                            MessageDeduplicationId="d")
    assert len(sqs2.receive_message(QueueUrl=fifo2, MaxNumberOfMessages=10)["Messages"]) == 1
    assert dup["MessageId"]


# --- targets -------------------------------------------------------------------------------


def test_topic_delivers_to_a_subscribed_queue(server, sqs):
    sns = make_client(server.url, "sns")
    topic = sns.create_topic(Name=name("t"))["TopicArn"]
    url = sqs.create_queue(QueueName=name("sub"))["QueueUrl"]
    raw_url = sqs.create_queue(QueueName=name("raw"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    raw_arn = sqs.get_queue_attributes(QueueUrl=raw_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, ReturnSubscriptionArn=True,
                  Attributes={"RawMessageDelivery": "true",
                              "FilterPolicy": json.dumps({"kind": ["keep"]})})
    attrs = {"kind": {"DataType": "String", "StringValue": "keep"}}
    published = sns.publish(TopicArn=topic, Message="hello", Subject="s", MessageAttributes=attrs)
    sns.publish(TopicArn=topic, Message="filtered out of the raw queue",
                MessageAttributes={"kind": {"DataType": "String", "StringValue": "drop"}})
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)["Messages"]
    envelopes = [json.loads(m["Body"]) for m in got]
    first = next(e for e in envelopes if e["Message"] == "hello")
    assert first["Type"] == "Notification"
    assert first["MessageId"] == published["MessageId"]
    assert first["TopicArn"] == topic and first["Subject"] == "s"
    assert first["MessageAttributes"] == {"kind": {"Type": "String", "Value": "keep"}}
    assert first["UnsubscribeURL"] == f"{server.url}/?Action=Unsubscribe&SubscriptionArn={sub}"
    assert {"Timestamp", "SignatureVersion", "Signature", "SigningCertURL"} <= set(first)
    raw = sqs.receive_message(QueueUrl=raw_url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                              MessageAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in raw] == ["hello"]
    assert raw[0]["MessageAttributes"]["kind"]["StringValue"] == "keep"
    assert raw[0]["MD5OfMessageAttributes"] == attributes_md5(attrs)
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="not-an-arn")
    assert_error(e.value, "InvalidParameter", 400, "Invalid parameter: SQS endpoint ARN")


def test_bucket_notifications_to_a_queue(server, sqs):
    from helpers import make_s3_client, unique_bucket
    s3 = make_s3_client(server.url)
    bucket = unique_bucket()
    s3.create_bucket(Bucket=bucket)
    url = sqs.create_queue(QueueName=name("s3"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    config = {"QueueConfigurations": [{
        "Id": "to-queue", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "in/"}]}}}]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert got[0]["QueueArn"] == arn and got[0]["Id"] == "to-queue"
    test = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"][0]
    event = json.loads(test["Body"])
    assert event["Event"] == "s3:TestEvent" and event["Bucket"] == bucket
    sqs.delete_message(QueueUrl=url, ReceiptHandle=test["ReceiptHandle"])
    s3.put_object(Bucket=bucket, Key="out/skip.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="in/a b.txt", Body=b"hello")
    msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MaxNumberOfMessages=10)["Messages"]
    records = [r for m in msgs for r in json.loads(m["Body"])["Records"]]
    assert [r["s3"]["object"]["key"] for r in records] == ["in/a+b.txt"]
    assert records[0]["eventName"] == "ObjectCreated:Put"
    assert records[0]["s3"]["configurationId"] == "to-queue"
    missing = arn + "-missing"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": missing, "Events": ["s3:ObjectCreated:*"]}]})
    assert e.value.response["Error"]["Code"] == "InvalidArgument"


def test_function_destinations_and_dead_letter_queue(server_factory):
    """Asynchronous outcomes go to queues: the invocation record to an OnSuccess / OnFailure
    queue, and after a failure the original event to the DeadLetterConfig queue."""
    from helpers import (INVOKE_CONFIG, create_function, make_s3_client, recorder_kwargs,
                         recorder_zip, unique_bucket, unique_name, wait_active, wait_updated)
    srv = server_factory(env={"STRATUS_ASYNC_RETRY_DELAY_SECS": "1"})
    lam = srv.client(**INVOKE_CONFIG)
    s3 = make_s3_client(srv.url)
    bucket = unique_bucket("rec")
    s3.create_bucket(Bucket=bucket)
    sqs = make_client(srv.url, "sqs")

    def new_queue(prefix):
        url = sqs.create_queue(QueueName=name(prefix))["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    (ok_url, ok_arn), (fail_url, fail_arn), (dlq_url, dlq_arn) = (
        new_queue("ok"), new_queue("failed"), new_queue("dlq"))
    fn = unique_name("rec")
    create_function(lam, fn, recorder_zip(), **recorder_kwargs(bucket, f"{fn}/"))
    wait_active(lam, fn)
    lam.update_function_configuration(FunctionName=fn, DeadLetterConfig={"TargetArn": dlq_arn})
    wait_updated(lam, fn)
    lam.put_function_event_invoke_config(FunctionName=fn, MaximumRetryAttempts=0, DestinationConfig={
        "OnSuccess": {"Destination": ok_arn}, "OnFailure": {"Destination": fail_arn}})

    lam.invoke(FunctionName=fn, InvocationType="Event", Payload=json.dumps({"order": 7}))
    [ok] = sqs.receive_message(QueueUrl=ok_url, WaitTimeSeconds=20)["Messages"]
    record = json.loads(ok["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}

    resp = lam.invoke(FunctionName=fn, InvocationType="Event", Payload=json.dumps({"fail": True}))
    rid = resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    [failed] = sqs.receive_message(QueueUrl=fail_url, WaitTimeSeconds=20)["Messages"]
    record = json.loads(failed["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["requestId"] == rid
    [dead] = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=20,
                                 MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead["Body"]) == {"fail": True}
    assert dead["MessageAttributes"]["RequestID"]["StringValue"] == rid
    assert "ErrorMessage" in dead["MessageAttributes"]
    assert "Messages" not in sqs.receive_message(QueueUrl=ok_url), "one record per outcome"


@pytest.mark.skipif(not os.environ.get("STRATUS_TEST_DATABASE"),
                    reason="a cluster shares a PostgreSQL database (STRATUS_TEST_DATABASE)")
def test_long_poll_sees_a_send_through_another_node(server_factory, tmp_path):
    """Two nodes on one database: a poll waiting on one gets a message sent through the
    other within its periodic re-read of the store."""
    env = {"STRATUS_CLUSTER_SECRET": "queues-test", "STRATUS_BLOB_STORE":
           os.environ.get("STRATUS_BLOB_STORE") or f"file://{tmp_path / 'blobs'}"}
    a = server_factory(env={**env, "STRATUS_NODE_ID": "node-a"})
    b = server_factory(env={**env, "STRATUS_NODE_ID": "node-b",
                            "STRATUS_DATABASE": a.env["STRATUS_DATABASE"]})
    sqs_a, sqs_b = make_client(a.url, "sqs"), make_client(b.url, "sqs")
    url_a = sqs_a.create_queue(QueueName=name("shared"))["QueueUrl"]
    url_b = sqs_b.get_queue_url(QueueName=url_a.rsplit("/", 1)[1])["QueueUrl"]
    result = {}

    def poll():
        start = time.monotonic()
        result["r"] = sqs_a.receive_message(QueueUrl=url_a, WaitTimeSeconds=10)
        result["took"] = time.monotonic() - start

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(1.0)
    sqs_b.send_message(QueueUrl=url_b, MessageBody="from b")
    t.join(15)
    assert result["r"]["Messages"][0]["Body"] == "from b"
    assert result["took"] < 3


def test_iam_decides_queue_access(server, sqs):
    """Each operation needs its sqs: action on the queue's ARN; a batch its single-message one."""
    from iam_support import allow, client_as, doc, user_with_key
    iam = server.client("iam")
    user, key, secret = user_with_key(iam)
    url = sqs.create_queue(QueueName=name("iam"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    iam.put_user_policy(UserName=user, PolicyName="send",
                        PolicyDocument=doc(allow("sqs:SendMessage", arn)))
    as_user = client_as(server, "sqs", key, secret)
    as_user.send_message(QueueUrl=url, MessageBody="allowed")
    r = as_user.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "also"}])
    assert [s["Id"] for s in r["Successful"]] == ["a"]
    with pytest.raises(ClientError) as e:
        as_user.receive_message(QueueUrl=url)
    assert_error(e.value, "AccessDenied", 403, message_contains="sqs:ReceiveMessage")
    other = sqs.create_queue(QueueName=name("iam"))["QueueUrl"]
    with pytest.raises(ClientError) as e:
        as_user.send_message(QueueUrl=other, MessageBody="not this queue")
    assert_error(e.value, "AccessDenied", 403)
    assert "Messages" not in sqs.receive_message(QueueUrl=other)
