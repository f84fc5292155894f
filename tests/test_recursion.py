"""Recursive loop detection through boto3: a function that sends its event back to the queue,
topic or bucket that invoked it is stopped after 16 invocations of the chain (the event goes
to the queue's redrive, or to the function's dead-letter queue), unless its recursion
configuration is `Allow`; Get/PutFunctionRecursionConfig with AWS's errors.

The loop function uses the runtime's own boto3 with no trace handling of its own: the SDK
sends `_X_AMZN_TRACE_ID` as `X-Amzn-Trace-Id`, as it does on AWS."""

import hashlib
import json
import time

import pytest
from botocore.exceptions import ClientError

import helpers
from dynamodb_support import TableFactory, ddb_client

# Records each invocation (`inv-<hop>`, with the trace header it ran with) into SINK, then sends
# the event on to where it came from with the hop one higher, until hop LIMIT.
LOOP_SOURCE = r'''
import json, os
import boto3

sink = boto3.resource("dynamodb").Table(os.environ["SINK"])


def incoming(event):
    r = event["Records"][0]
    if "body" in r:
        return json.loads(r["body"])
    if "Sns" in r:
        return json.loads(r["Sns"]["Message"])
    return {"hop": int(r["s3"]["object"]["key"].split("/")[-1])}


def handler(event, context):
    hop = incoming(event)["hop"]
    sink.put_item(Item={"id": "inv-%d" % hop, "trace": os.environ.get("_X_AMZN_TRACE_ID", "")})
    if hop >= int(os.environ["LIMIT"]):
        return
    nxt = json.dumps({"hop": hop + 1})
    if "QUEUE" in os.environ:
        boto3.client("sqs").send_message(QueueUrl=os.environ["QUEUE"], MessageBody=nxt)
    elif "TOPIC" in os.environ:
        boto3.client("sns").publish(TopicArn=os.environ["TOPIC"], Message=nxt)
    else:
        boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key="loop/%d" % (hop + 1), Body=b"x")
'''


# The same loop through SQS in node, with the AWS SDK for JavaScript v3 the runtime carries.
NODE_LOOP_SOURCE = r"""
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";

const ddb = new DynamoDBClient({});
const sqs = new SQSClient({});

export const handler = async (event) => {
  const hop = JSON.parse(event.Records[0].body).hop;
  await ddb.send(new PutItemCommand({ TableName: process.env.SINK, Item: {
    id: { S: `inv-${hop}` }, trace: { S: process.env._X_AMZN_TRACE_ID || "" } } }));
  if (hop >= Number(process.env.LIMIT)) return;
  await sqs.send(new SendMessageCommand({ QueueUrl: process.env.QUEUE,
                                          MessageBody: JSON.stringify({ hop: hop + 1 }) }));
};
"""


@pytest.fixture(scope="module")
def ddb(server):
    return ddb_client(server)


@pytest.fixture
def sink(ddb):
    factory = TableFactory(ddb)
    yield factory(hash_key=("id", "S"))
    factory.close()


def hops(ddb, sink):
    """The hop number → trace header of every invocation recorded so far."""
    items = ddb.scan(TableName=sink, ConsistentRead=True)["Items"]
    return {int(i["id"]["S"][4:]): i["trace"]["S"] for i in items if i["id"]["S"].startswith("inv-")}


def wait_for(check, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"condition not met within {timeout}s: {check()!r}")


def loop_function(new_function, lambda_client, sink, allow=False, limit=1000, **env):
    fn = new_function(zip_bytes=helpers.make_zip({"app.py": LOOP_SOURCE}), Timeout=30,
                      Environment={"Variables": {"SINK": sink, "LIMIT": str(limit), **env}})
    if allow:
        lambda_client.put_function_recursion_config(FunctionName=fn["FunctionName"],
                                                    RecursiveLoop="Allow")
    return fn


def queue(sqs, name, **attrs):
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def dead_letters(sqs, url):
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def assert_stopped_after_16(ddb, sink, dropped):
    """16 invocations ran, the 17th event was dropped (`dropped` is its body), and each ran
    with its own count in the lineage."""
    got = hops(ddb, sink)
    assert sorted(got) == list(range(1, 17)), sorted(got)
    assert dropped == {"hop": 17}
    counts = [got[n].split("Lineage=")[1].split(":")[1] for n in (1, 16)]
    assert counts == ["1", "16"], got


# --- Get/PutFunctionRecursionConfig ---------------------------------------------------------

def test_recursion_config_round_trip_and_errors(lambda_client, fn):
    assert lambda_client.get_function_recursion_config(FunctionName=fn)["RecursiveLoop"] == "Terminate"
    put = lambda_client.put_function_recursion_config(FunctionName=fn, RecursiveLoop="Allow")
    assert put["RecursiveLoop"] == "Allow"
    arn = helpers.function_arn(fn)
    assert lambda_client.get_function_recursion_config(FunctionName=arn)["RecursiveLoop"] == "Allow"
    lambda_client.put_function_recursion_config(FunctionName=fn, RecursiveLoop="Terminate")
    assert lambda_client.get_function_recursion_config(FunctionName=fn)["RecursiveLoop"] == "Terminate"

    with pytest.raises(ClientError) as e:
        lambda_client.get_function_recursion_config(FunctionName="no-such-fn-" + helpers.unique_name())
    helpers.assert_error(e.value, "ResourceNotFoundException", 404, message_contains="Function not found")
    with pytest.raises(ClientError) as e:
        lambda_client.put_function_recursion_config(FunctionName="no-such-fn-" + helpers.unique_name(),
                                                    RecursiveLoop="Allow")
    helpers.assert_error(e.value, "ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        lambda_client.get_function_recursion_config(FunctionName=fn + ":1")
    helpers.assert_error(e.value, "InvalidParameterValueException", 400)


def test_bad_settings_are_refused_and_change_nothing(unvalidated_client, fn, lambda_client):
    with pytest.raises(ClientError) as e:
        unvalidated_client.put_function_recursion_config(FunctionName=fn, RecursiveLoop="Sometimes")
    helpers.assert_error(e.value, "ValidationException", 400, message_contains=(
        "Value 'Sometimes' at 'recursiveLoop' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Terminate, Allow]"))
    assert lambda_client.get_function_recursion_config(FunctionName=fn)["RecursiveLoop"] == "Terminate"


def test_the_setting_goes_with_its_function(lambda_client, new_function):
    name = helpers.unique_name()
    new_function(name=name)
    lambda_client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    lambda_client.delete_function(FunctionName=name)
    new_function(name=name)
    assert lambda_client.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


# --- loops ---------------------------------------------------------------------------------

def test_an_sqs_loop_stops_after_16_and_the_message_goes_to_the_redrive(
        server, ddb, sink, lambda_client, new_function):
    sqs = server.client("sqs")
    name = "loop-" + helpers.unique_name()
    dlq_url, dlq_arn = queue(sqs, name + "-dlq")
    url, arn = queue(sqs, name, VisibilityTimeout="1", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}))
    fn = loop_function(new_function, lambda_client, sink, QUEUE=url)
    m = lambda_client.create_event_source_mapping(FunctionName=fn["FunctionName"],
                                                  EventSourceArn=arn, BatchSize=1)
    try:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"hop": 1}))
        dropped = wait_for(lambda: dead_letters(sqs, dlq_url))
        assert_stopped_after_16(ddb, sink, dropped[0])
        # The dropped message kept its trace: its lineage counts 16 invocations.
        assert "16" in hops(ddb, sink)[16]
    finally:
        lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_a_node_sqs_loop_stops_after_16(server, ddb, sink, lambda_client, new_function):
    sqs = server.client("sqs")
    name = "loop-" + helpers.unique_name()
    dlq_url, dlq_arn = queue(sqs, name + "-dlq")
    url, arn = queue(sqs, name, VisibilityTimeout="1", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}))
    fn = new_function(zip_bytes=helpers.make_zip({"index.mjs": NODE_LOOP_SOURCE}),
                      Runtime="nodejs20.x", Handler="index.handler", Timeout=30,
                      Environment={"Variables": {"SINK": sink, "LIMIT": "1000", "QUEUE": url}})
    m = lambda_client.create_event_source_mapping(FunctionName=fn["FunctionName"],
                                                  EventSourceArn=arn, BatchSize=1)
    try:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"hop": 1}))
        dropped = wait_for(lambda: dead_letters(sqs, dlq_url))
        assert_stopped_after_16(ddb, sink, dropped[0])
    finally:
        lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_an_sqs_loop_that_is_allowed_keeps_going(server, ddb, sink, lambda_client, new_function):
    sqs = server.client("sqs")
    url, arn = queue(sqs, "loop-" + helpers.unique_name(), VisibilityTimeout="5")
    fn = loop_function(new_function, lambda_client, sink, allow=True, limit=25, QUEUE=url)
    m = lambda_client.create_event_source_mapping(FunctionName=fn["FunctionName"],
                                                  EventSourceArn=arn, BatchSize=1)
    try:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"hop": 1}))
        got = wait_for(lambda: len(r := hops(ddb, sink)) >= 25 and r)
        assert sorted(got) == list(range(1, 26))
        assert got[25].split("Lineage=")[1].split(":")[1] == "25"
    finally:
        lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_an_sns_loop_stops_after_16_and_the_event_goes_to_the_dead_letter_queue(
        server, ddb, sink, lambda_client, new_function):
    sqs, sns = server.client("sqs"), server.client("sns")
    dlq_url, dlq_arn = queue(sqs, "loop-dlq-" + helpers.unique_name())
    topic = sns.create_topic(Name="loop-" + helpers.unique_name())["TopicArn"]
    fn = loop_function(new_function, lambda_client, sink, TOPIC=topic)
    lambda_client.update_function_configuration(FunctionName=fn["FunctionName"],
                                                DeadLetterConfig={"TargetArn": dlq_arn})
    helpers.wait_updated(lambda_client, fn["FunctionName"])
    helpers.allow_topic(lambda_client, fn["FunctionArn"], topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn["FunctionArn"])
    sns.publish(TopicArn=topic, Message=json.dumps({"hop": 1}))
    dropped = wait_for(lambda: dead_letters(sqs, dlq_url))
    assert_stopped_after_16(ddb, sink, json.loads(dropped[0]["Records"][0]["Sns"]["Message"]))


def test_an_s3_loop_stops_after_16(server, ddb, sink, lambda_client, new_function):
    s3, sqs = helpers.make_s3_client(server.url), server.client("sqs")
    dlq_url, dlq_arn = queue(sqs, "loop-dlq-" + helpers.unique_name())
    bucket = helpers.unique_bucket("loop")
    s3.create_bucket(Bucket=bucket)
    fn = loop_function(new_function, lambda_client, sink, BUCKET=bucket)
    lambda_client.update_function_configuration(FunctionName=fn["FunctionName"],
                                                DeadLetterConfig={"TargetArn": dlq_arn})
    helpers.wait_updated(lambda_client, fn["FunctionName"])
    helpers.allow_bucket(lambda_client, fn["FunctionArn"], bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": fn["FunctionArn"],
                                          "Events": ["s3:ObjectCreated:*"]}]})
    # The first object is put from outside: the chain starts at the function's first run.
    s3.put_object(Bucket=bucket, Key="loop/1", Body=b"x")
    dropped = wait_for(lambda: dead_letters(sqs, dlq_url))
    key = dropped[0]["Records"][0]["s3"]["object"]["key"]
    assert_stopped_after_16(ddb, sink, {"hop": int(key.split("/")[-1])})


def test_a_direct_invoke_chain_is_refused_with_aws_error(server, lambda_client, fn):
    """A synchronous Invoke whose trace header says the chain has run the function 16 times
    is refused with Invoke's RecursiveInvocationException, as a function's SDK call would be."""
    key_of = hashlib.sha256(helpers.function_arn(fn).encode()).hexdigest()[:8]

    def add_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = (
            f"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0;Lineage={key_of}:16")

    client = server.client("lambda")
    client.meta.events.register("before-sign.lambda.Invoke", add_header)
    with pytest.raises(ClientError) as e:
        client.invoke(FunctionName=fn, Payload=b"{}")
    helpers.assert_error(e.value, "RecursiveInvocationException", 400,
                         message_contains="recursive loop")
    # A function set to Allow runs at any count.
    lambda_client.put_function_recursion_config(FunctionName=fn, RecursiveLoop="Allow")
    assert client.invoke(FunctionName=fn, Payload=b"{}")["StatusCode"] == 200
    # The stop is counted, as AWS counts RecursiveInvocationsDropped.
    _, _, metrics = helpers.http_request("GET", server.url + "/metrics")
    line = f'stratus_recursive_invocations_dropped_total{{function="{fn}",version="$LATEST"}} 1'
    assert line in metrics.decode(), metrics.decode()
