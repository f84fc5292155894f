"""Delivery from topics to functions: the aws:sns event, filter policies (each rule delivered
vs. not delivered), MessageStructure, fan-out, batches, the async path's retries, a function
that publishes with boto3 from inside, and the aws CLI flow a new user would try."""

import base64
import json
import re
import subprocess
import urllib.parse
import uuid

import pytest

from helpers import (
    INVOKE_CONFIG,
    Records,
    allow_topic,
    aws_cli_env,
    create_function,
    http_request,
    find_aws_cli,
    invoke,
    make_client,
    make_s3_client,
    make_zip,
    recorder_kwargs,
    recorder_zip,
    unique_bucket,
    unique_name,
    wait_active,
)

FAST_RETRIES = {"STRATUS_ASYNC_RETRY_DELAY_SECS": "1"}
DEADLINE_S = 45
QUIET_S = 2.5
ISO_MS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

PUBLISHER_SOURCE = '''
import boto3

def handler(event, context):
    sns = boto3.client("sns")
    out = sns.publish(TopicArn=event["topic"], Message=event["message"],
                      MessageAttributes={"from": {"DataType": "String", "StringValue": "function"}})
    return out["MessageId"]
'''


class Platform:
    """One server (fast async retries) with clients, a records bucket and recorder functions."""

    def __init__(self, srv):
        self.srv = srv
        self.lam = srv.client(**INVOKE_CONFIG)
        self.sns = make_client(srv.url, "sns")
        self.s3 = make_s3_client(srv.url)
        self.bucket = unique_bucket("rec")
        self.s3.create_bucket(Bucket=self.bucket)

    def recorder(self, **env):
        """A new recorder function: (its ARN, the Records it writes)."""
        name = unique_name("rec")
        out = create_function(self.lam, name, recorder_zip(), **recorder_kwargs(self.bucket, f"{name}/", **env))
        wait_active(self.lam, name)
        return out["FunctionArn"], Records(self.s3, self.bucket, f"{name}/")

    def topic(self):
        return self.sns.create_topic(Name=unique_name("topic"))["TopicArn"]

    def subscribe(self, topic, endpoint, **attrs):
        """Subscribes a function, first letting SNS invoke it for this topic, as on AWS
        (`$LATEST` is covered by the unqualified function's policy)."""
        allow_topic(self.lam, endpoint.removesuffix(":$LATEST"), topic)
        return self.sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=endpoint,
                                  Attributes=attrs, ReturnSubscriptionArn=True)["SubscriptionArn"]


@pytest.fixture(scope="module")
def platform(module_server_factory):
    return Platform(module_server_factory(env=FAST_RETRIES))


@pytest.fixture(scope="module")
def recorder(platform):
    """One recorder shared by the tests that tell their messages apart by body."""
    return platform.recorder()


def sns_of(record):
    event = record["event"]
    assert len(event["Records"]) == 1, event
    return event["Records"][0]["Sns"]


def bodies(records):
    return [sns_of(r)["Message"] for r in records.all()]


def wait_bodies(records, expected, timeout=DEADLINE_S):
    """Waits until every body in `expected` was delivered; returns all delivered bodies."""
    return [sns_of(r)["Message"] for r in records.wait_for(
        len(expected), timeout, where=lambda r: sns_of(r)["Message"] in expected)]


def test_event_shape(platform):
    arn, records = platform.recorder()
    topic = platform.topic()
    sub = platform.subscribe(topic, arn)
    out = platform.sns.publish(
        TopicArn=topic, Message="hello", Subject="Greetings",
        MessageAttributes={
            "s": {"DataType": "String", "StringValue": "text"},
            "n": {"DataType": "Number", "StringValue": "42"},
            "b": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
            "a": {"DataType": "String.Array", "StringValue": '["x", 2]'},
        },
    )
    plain = platform.sns.publish(TopicArn=topic, Message="no subject")
    records.wait_for(2, DEADLINE_S)
    by_id = {sns_of(r)["MessageId"]: r["event"] for r in records.all()}
    event = by_id[out["MessageId"]]
    assert list(event) == ["Records"]
    rec = event["Records"][0]
    assert rec["EventSource"] == "aws:sns"
    assert rec["EventVersion"] == "1.0"
    assert rec["EventSubscriptionArn"] == sub
    sns = rec["Sns"]
    assert sns["Type"] == "Notification"
    assert sns["TopicArn"] == topic
    assert sns["Subject"] == "Greetings"
    assert sns["Message"] == "hello"
    assert ISO_MS_RE.match(sns["Timestamp"]), sns["Timestamp"]
    assert sns["SignatureVersion"] == "1"
    assert len(base64.b64decode(sns["Signature"], validate=True)) == 32
    base = platform.srv.url
    assert sns["SigningCertUrl"].startswith(base + "/") and sns["SigningCertUrl"].endswith(".pem")
    unsub = urllib.parse.urlsplit(sns["UnsubscribeUrl"])
    assert f"{unsub.scheme}://{unsub.netloc}" == base
    assert urllib.parse.parse_qs(unsub.query) == {"Action": ["Unsubscribe"], "SubscriptionArn": [sub]}
    assert sns["MessageAttributes"] == {
        "s": {"Type": "String", "Value": "text"},
        "n": {"Type": "Number", "Value": "42"},
        "b": {"Type": "Binary", "Value": base64.b64encode(b"\x00\xff").decode()},
        "a": {"Type": "String.Array", "Value": '["x", 2]'},
    }
    bare = by_id[plain["MessageId"]]["Records"][0]["Sns"]
    assert bare["Subject"] is None and bare["MessageAttributes"] == {}
    assert bare["Signature"] != sns["Signature"]
    # The UnsubscribeUrl works as a plain, unsigned GET, as AWS's does.
    status, _, body = http_request("GET", sns["UnsubscribeUrl"])
    assert status == 200 and b"<UnsubscribeResponse" in body, body
    assert platform.sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


# Each case: a filter policy (and its scope), then messages as (body, attributes, delivered?).
S, N, A = "String", "Number", "String.Array"
FILTER_CASES = {
    "exact-string": ({"color": ["red", "green"]}, "MessageAttributes", [
        ({"color": (S, "red")}, True), ({"color": (S, "blue")}, False), ({}, False)]),
    "exact-number": ({"size": [5]}, "MessageAttributes", [
        ({"size": (N, "5.0")}, True), ({"size": (N, "6")}, False)]),
    "prefix": ({"code": [{"prefix": "ord-"}]}, "MessageAttributes", [
        ({"code": (S, "ord-17")}, True), ({"code": (S, "inv-17")}, False)]),
    "suffix": ({"file": [{"suffix": ".png"}]}, "MessageAttributes", [
        ({"file": (S, "a.png")}, True), ({"file": (S, "a.jpg")}, False)]),
    "anything-but": ({"color": [{"anything-but": "red"}]}, "MessageAttributes", [
        ({"color": (S, "blue")}, True), ({"color": (S, "red")}, False), ({}, False)]),
    "anything-but-list": ({"color": [{"anything-but": ["red", "blue"]}]}, "MessageAttributes", [
        ({"color": (S, "green")}, True), ({"color": (S, "blue")}, False)]),
    "anything-but-prefix": ({"env": [{"anything-but": {"prefix": "test"}}]}, "MessageAttributes", [
        ({"env": (S, "prod")}, True), ({"env": (S, "test-1")}, False)]),
    "numeric-range": ({"price": [{"numeric": [">=", 10, "<", 20]}]}, "MessageAttributes", [
        ({"price": (N, "10")}, True), ({"price": (N, "19.5")}, True),
        ({"price": (N, "20")}, False), ({"price": (N, "9")}, False)]),
    "numeric-equals": ({"qty": [{"numeric": ["=", 3]}]}, "MessageAttributes", [
        ({"qty": (N, "3")}, True), ({"qty": (N, "4")}, False)]),
    "exists-true": ({"trace": [{"exists": True}]}, "MessageAttributes", [
        ({"trace": (S, "t")}, True), ({"other": (S, "t")}, False)]),
    "exists-false": ({"trace": [{"exists": False}]}, "MessageAttributes", [
        ({"other": (S, "t")}, True), ({"trace": (S, "t")}, False)]),
    "string-array": ({"tags": ["b"]}, "MessageAttributes", [
        ({"tags": (A, '["a", "b"]')}, True), ({"tags": (A, '["c"]')}, False)]),
    "and-of-keys": ({"color": ["red"], "size": [{"numeric": [">", 1]}]}, "MessageAttributes", [
        ({"color": (S, "red"), "size": (N, "2")}, True), ({"color": (S, "red"), "size": (N, "1")}, False),
        ({"color": (S, "red")}, False)]),
    "body-nested": ({"order": {"kind": ["book"], "total": [{"numeric": [">", 10]}]}}, "MessageBody", [
        ({"order": {"kind": "book", "total": 12}}, True), ({"order": {"kind": "book", "total": 8}}, False),
        ({"order": {"kind": "pen", "total": 12}}, False), ("not json at all", False)]),
    "body-prefix-exists": ({"id": [{"prefix": "a-"}], "meta": {"trace": [{"exists": False}]}}, "MessageBody", [
        ({"id": "a-1"}, True), ({"id": "a-1", "meta": {"trace": "x"}}, False), ({"id": "b-1"}, False)]),
}


def test_filter_policies_decide_who_gets_what(platform, recorder):
    arn, records = recorder
    expected, unexpected = set(), set()
    for case, (policy, scope, messages) in FILTER_CASES.items():
        topic = platform.topic()
        platform.subscribe(topic, arn, FilterPolicy=json.dumps(policy), FilterPolicyScope=scope)
        # The ones that must not arrive go first, so they'd be seen by the time the rest are.
        for i, (content, delivered) in sorted(enumerate(messages), key=lambda m: m[1][1]):
            tag = f"{case}#{i}"
            if scope == "MessageBody":
                body = content if isinstance(content, str) else json.dumps({**content, "tag": tag})
                attributes = {}
            else:
                body = tag
                attributes = {k: {"DataType": t, "StringValue": v} for k, (t, v) in content.items()}
            (expected if delivered else unexpected).add(body)
            platform.sns.publish(TopicArn=topic, Message=body, MessageAttributes=attributes)
    wait_bodies(records, expected)
    records.assert_stays(len(expected), QUIET_S, where=lambda r: sns_of(r)["Message"] in expected | unexpected)
    got = set(bodies(records))
    assert not (got & unexpected), f"delivered despite the policy: {sorted(got & unexpected)}"
    assert expected <= got


def test_message_structure_json_gives_functions_their_key(platform, recorder):
    arn, records = recorder
    topic = platform.topic()
    platform.subscribe(topic, arn)
    for_lambda = f"for-lambda-{uuid.uuid4().hex}"
    default = f"default-{uuid.uuid4().hex}"
    platform.sns.publish(TopicArn=topic, MessageStructure="json",
                         Message=json.dumps({"default": "ignored", "lambda": for_lambda, "sqs": "x"}))
    platform.sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": default}))
    assert sorted(wait_bodies(records, {for_lambda, default})) == sorted([for_lambda, default])


def test_fan_out_and_unsubscribe(platform):
    arn, records = platform.recorder()
    topic = platform.topic()
    plain = platform.subscribe(topic, arn)
    latest = platform.subscribe(topic, arn + ":$LATEST")
    platform.sns.publish(TopicArn=topic, Message="to both")
    got = records.wait_for(2, DEADLINE_S)
    assert sorted(r["event"]["Records"][0]["EventSubscriptionArn"] for r in got) == sorted([plain, latest])
    assert len({sns_of(r)["MessageId"] for r in got}) == 1
    platform.sns.unsubscribe(SubscriptionArn=latest)
    platform.sns.delete_topic(TopicArn=platform.topic())  # unrelated topics don't matter
    platform.sns.publish(TopicArn=topic, Message="to one")
    records.wait_for(3, DEADLINE_S)
    records.assert_stays(3, QUIET_S)
    last = [r for r in records.all() if sns_of(r)["Message"] == "to one"]
    assert [r["event"]["Records"][0]["EventSubscriptionArn"] for r in last] == [plain]


def test_publish_batch_delivers_each_entry(platform, recorder):
    arn, records = recorder
    topic = platform.topic()
    platform.subscribe(topic, arn, FilterPolicy=json.dumps({"keep": ["yes"]}))
    tags = [f"batch-{uuid.uuid4().hex[:8]}-{i}" for i in range(4)]
    out = platform.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": f"e{i}", "Message": t, "Subject": f"s{i}",
         "MessageAttributes": {"keep": {"DataType": "String", "StringValue": "yes" if i != 2 else "no"}}}
        for i, t in enumerate(tags)
    ])
    assert len(out["Successful"]) == 4 and out["Failed"] == []
    wanted = {tags[0], tags[1], tags[3]}
    got = records.wait_for(3, DEADLINE_S, where=lambda r: sns_of(r)["Message"] in wanted)
    ids = {e["Id"]: e["MessageId"] for e in out["Successful"]}
    assert {sns_of(r)["MessageId"] for r in got} == {ids["e0"], ids["e1"], ids["e3"]}
    assert {sns_of(r)["Subject"] for r in got} == {"s0", "s1", "s3"}
    records.assert_stays(0, 0.5, where=lambda r: sns_of(r)["Message"] == tags[2])


def test_failed_deliveries_are_retried(platform):
    # The recorder records, then fails: the async path retries it twice (AWS's default).
    arn, records = platform.recorder(FAIL="always")
    topic = platform.topic()
    platform.subscribe(topic, arn)
    message_id = platform.sns.publish(TopicArn=topic, Message="retry me")["MessageId"]
    got = records.wait_for(3, DEADLINE_S)
    assert {sns_of(r)["MessageId"] for r in got} == {message_id}
    assert len({r["request_id"] for r in got}) == 1, "retries keep the request id"


def test_function_publishes_with_boto3(platform):
    """A function that publishes with a plain boto3 client (no endpoint configured) reaches
    the topic's subscribers."""
    arn, records = platform.recorder()
    topic = platform.topic()
    platform.subscribe(topic, arn)
    publisher = unique_name("pub")
    create_function(platform.lam, publisher, make_zip({"app.py": PUBLISHER_SOURCE}), Timeout=30)
    wait_active(platform.lam, publisher)
    message = f"from inside {uuid.uuid4().hex}"
    result = invoke(platform.lam, publisher, {"topic": topic, "message": message})
    assert result.function_error is None, result
    message_id = result.payload
    got = records.wait_for(1, DEADLINE_S)
    sns = sns_of(got[0])
    assert (sns["MessageId"], sns["Message"]) == (message_id, message)
    assert sns["MessageAttributes"] == {"from": {"Type": "String", "Value": "function"}}


def test_aws_cli_flow(platform, tmp_path):
    """As a new user would: create a topic, subscribe a function, publish, filter."""
    cli = find_aws_cli()
    if cli is None:
        pytest.skip("aws CLI is not installed")
    env = aws_cli_env(tmp_path)

    def aws(*args):
        cmd = [cli, "--endpoint-url", platform.srv.url, "--output", "json", "sns", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"sns {' '.join(args)} failed:\n{proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    arn, records = platform.recorder()
    topic = aws("create-topic", "--name", unique_name("cli"))["TopicArn"]
    allow_topic(platform.lam, arn, topic)
    sub = aws("subscribe", "--topic-arn", topic, "--protocol", "lambda",
              "--notification-endpoint", arn)["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    aws("set-subscription-attributes", "--subscription-arn", sub, "--attribute-name", "FilterPolicy",
        "--attribute-value", json.dumps({"event": ["order_placed"]}))
    kept = aws("publish", "--topic-arn", topic, "--message", "order 1", "--subject", "Orders",
               "--message-attributes", json.dumps({"event": {"DataType": "String", "StringValue": "order_placed"}}))
    aws("publish", "--topic-arn", topic, "--message", "order 2",
        "--message-attributes", json.dumps({"event": {"DataType": "String", "StringValue": "order_cancelled"}}))
    got = records.wait_for(1, DEADLINE_S)
    records.assert_stays(1, QUIET_S)
    rec = got[0]["event"]["Records"][0]
    assert rec["EventSource"] == "aws:sns" and rec["EventSubscriptionArn"] == sub
    assert rec["Sns"]["MessageId"] == kept["MessageId"]
    assert (rec["Sns"]["Message"], rec["Sns"]["Subject"]) == ("order 1", "Orders")
    listed = aws("list-subscriptions-by-topic", "--topic-arn", topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == [sub]
