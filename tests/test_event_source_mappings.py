"""Lambda event source mappings through boto3: CRUD with AWS's fields, states and errors, and
a DynamoDB stream feeding a python function that writes what it received into another table:
the exact `aws:dynamodb` event, retries then the OnFailure destination, partial batch failures,
and a checkpoint that survives `kill -9` with no record lost."""

import json
import time

import pytest
from botocore.exceptions import ClientError

import helpers
from dynamodb_support import TableFactory, create_table, ddb_client

# Records every invocation (`inv-…`, with the sequence numbers it got) and every record
# (`rec-<seq>`, the record as received) into the SINK table. A NewImage `mode` makes it
# fail: `fail` raises; `once` reports the record in batchItemFailures the first time only.
SINK_SOURCE = r'''
import json, os, time, uuid
import boto3

sink = boto3.resource("dynamodb").Table(os.environ["SINK"])


def handler(event, context):
    records = event.get("Records", [])
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    sink.put_item(Item={"id": "inv-" + uuid.uuid4().hex, "seqs": seqs,
                        "at": str(time.time())})
    failures = []
    for r in records:
        mode = r["dynamodb"].get("NewImage", {}).get("mode", {}).get("S")
        if mode == "fail":
            raise RuntimeError("told to fail")
        seq = r["dynamodb"]["SequenceNumber"]
        if mode == "once" and "Item" not in sink.get_item(Key={"id": "seen-" + seq}):
            sink.put_item(Item={"id": "seen-" + seq})
            failures.append({"itemIdentifier": seq})
        sink.put_item(Item={"id": "rec-" + seq, "record": json.dumps(r)})
    time.sleep(float(os.environ.get("SLEEP", "0")))
    return {"batchItemFailures": failures}
'''

# Writes each SNS message it receives into SINK as `sns-<message id>`.
SNS_SINK_SOURCE = r'''
import os
import boto3

sink = boto3.resource("dynamodb").Table(os.environ["SINK"])


def handler(event, context):
    for r in event["Records"]:
        sink.put_item(Item={"id": "sns-" + r["Sns"]["MessageId"], "message": r["Sns"]["Message"]})
'''

STREAM_TABLE = dict(StreamSpecification={"StreamEnabled": True,
                                         "StreamViewType": "NEW_AND_OLD_IMAGES"})


@pytest.fixture(scope="module")
def ddb(server):
    return ddb_client(server)


@pytest.fixture
def tables(ddb):
    factory = TableFactory(ddb)
    yield factory
    factory.close()


def stream_arn(ddb, name):
    return ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


def sink_function(new_function, sink, source=SINK_SOURCE, **env):
    return new_function(zip_bytes=helpers.make_zip({"app.py": source}), Timeout=30,
                        Environment={"Variables": {"SINK": sink, **env}})["FunctionName"]


def scan(ddb, table, prefix):
    items, start = [], {}
    while True:
        page = ddb.scan(TableName=table, ConsistentRead=True, **start)
        items += [i for i in page["Items"] if i["id"]["S"].startswith(prefix)]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def wait_for(check, timeout=60):
    """Polls `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s: {check()!r}")


def received(ddb, sink):
    return {i["id"]["S"][4:]: json.loads(i["record"]["S"]) for i in scan(ddb, sink, "rec-")}


def invocations(ddb, sink):
    invs = scan(ddb, sink, "inv-")
    invs.sort(key=lambda i: float(i["at"]["S"]))
    return [[s["S"] for s in i["seqs"]["L"]] for i in invs]


def put(ddb, table, pk, **attrs):
    item = {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}
    ddb.put_item(TableName=table, Item=item)


def test_mapping_crud(server, ddb, tables, lambda_client, fn, new_function):
    table = tables(**STREAM_TABLE)
    arn = stream_arn(ddb, table)
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=arn, StartingPosition="LATEST", Enabled=False)
    assert m["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert m["State"] == "Creating" and m["StateTransitionReason"] == "User action"
    assert m["BatchSize"] == 100 and m["StartingPosition"] == "LATEST"
    assert m["FunctionArn"] == helpers.function_arn(fn) and m["EventSourceArn"] == arn
    assert m["MaximumRetryAttempts"] == -1 and m["MaximumRecordAgeInSeconds"] == -1
    assert m["BisectBatchOnFunctionError"] is False and m["ParallelizationFactor"] == 1
    assert m["LastProcessingResult"] == "No records processed"
    assert m["EventSourceMappingArn"].endswith(f":event-source-mapping:{m['UUID']}")
    got = lambda_client.get_event_source_mapping(UUID=m["UUID"])
    assert got["State"] == "Disabled"
    with pytest.raises(ClientError) as e:
        lambda_client.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn,
                                                  StartingPosition="LATEST")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert m["UUID"] in e.value.response["Error"]["Message"]
    other = new_function()["FunctionName"]
    m2 = lambda_client.create_event_source_mapping(
        FunctionName=other, EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=7)
    listed = lambda_client.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    assert sorted(x["UUID"] for x in listed) == sorted([m["UUID"], m2["UUID"]])
    mine = lambda_client.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]
    assert [x["UUID"] for x in mine] == [m["UUID"]]
    page = lambda_client.list_event_source_mappings(EventSourceArn=arn, MaxItems=1)
    assert len(page["EventSourceMappings"]) == 1 and "NextMarker" in page
    rest = lambda_client.list_event_source_mappings(EventSourceArn=arn, Marker=page["NextMarker"])
    assert len(rest["EventSourceMappings"]) == 1 and "NextMarker" not in rest
    up = lambda_client.update_event_source_mapping(UUID=m["UUID"], BatchSize=5, Enabled=True,
                                                   MaximumRetryAttempts=2)
    assert up["State"] == "Updating" and up["BatchSize"] == 5
    got = lambda_client.get_event_source_mapping(UUID=m["UUID"])
    assert got["State"] == "Enabled" and got["MaximumRetryAttempts"] == 2
    gone = lambda_client.delete_event_source_mapping(UUID=m["UUID"])
    assert gone["State"] == "Deleting"
    with pytest.raises(ClientError) as e:
        lambda_client.get_event_source_mapping(UUID=m["UUID"])
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lambda_client.delete_event_source_mapping(UUID=m2["UUID"])


def test_mapping_validation(ddb, tables, lambda_client, fn):
    arn = stream_arn(ddb, tables(**STREAM_TABLE))

    def refused(code, status=400, **kwargs):
        args = {"FunctionName": fn, "EventSourceArn": arn, "StartingPosition": "LATEST", **kwargs}
        args = {k: v for k, v in args.items() if v is not None}
        with pytest.raises(ClientError) as e:
            lambda_client.create_event_source_mapping(**args)
        assert e.value.response["Error"]["Code"] == code, e.value.response["Error"]
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        return e.value.response["Error"]["Message"]

    assert "Function not found" in refused("ResourceNotFoundException", 404,
                                           FunctionName="no-such-function")
    refused("ResourceNotFoundException", 404, EventSourceArn=arn.replace("/stream/", "x/stream/"))
    refused("InvalidParameterValueException", EventSourceArn="arn:aws:kinesis:us-east-1:000000000000:stream/s")
    assert "startingPosition" in refused("InvalidParameterValueException", StartingPosition=None)
    assert "less than or equal to 10000" in refused("ValidationException", BatchSize=10001)
    refused("ValidationException", MaximumBatchingWindowInSeconds=301)
    refused("InvalidParameterValueException", ScalingConfig={"MaximumConcurrency": 5})
    assert refused("InvalidParameterValueException",
                   FilterCriteria={"Filters": [{"Pattern": "not json"}]}) == \
        "Invalid filter pattern definition."
    refused("InvalidParameterValueException",
            DestinationConfig={"OnFailure": {"Destination": "not-an-arn"}})
    # Nothing was stored by the refusals.
    assert lambda_client.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"] == []


def test_sqs_sources_are_accepted_and_stored(server, lambda_client, fn):
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="jobs-" + helpers.unique_name())["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as e:
        lambda_client.create_event_source_mapping(FunctionName=fn, EventSourceArn=queue + "-missing")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "AWS.SimpleQueueService.NonExistentQueue" in e.value.response["Error"]["Message"]
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=queue, MaximumBatchingWindowInSeconds=5, BatchSize=50,
        FunctionResponseTypes=["ReportBatchItemFailures"], ScalingConfig={"MaximumConcurrency": 2},
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]},
        Enabled=False)
    try:
        assert m["BatchSize"] == 50 and "StartingPosition" not in m
        assert m["ScalingConfig"] == {"MaximumConcurrency": 2}
        assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        with pytest.raises(ClientError) as e:
            lambda_client.create_event_source_mapping(FunctionName=fn, EventSourceArn=queue + "x",
                                                      BatchSize=11)
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
        with pytest.raises(ClientError) as e:
            lambda_client.create_event_source_mapping(
                FunctionName=fn, EventSourceArn=queue + "y", ScalingConfig={"MaximumConcurrency": 1001})
        assert e.value.response["Error"]["Code"] == "ValidationException"
    finally:
        lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_stream_records_reach_the_function(ddb, tables, lambda_client, new_function):
    source, sink = tables(**STREAM_TABLE), tables(hash_key=("id", "S"))
    arn = stream_arn(ddb, source)
    put(ddb, source, "before")  # TRIM_HORIZON: delivered too
    fn = sink_function(new_function, sink)
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=arn, StartingPosition="TRIM_HORIZON")
    put(ddb, source, "a", v="1")
    put(ddb, source, "a", v="2")
    ddb.delete_item(TableName=source, Key={"pk": {"S": "a"}})
    got = wait_for(lambda: (r := received(ddb, sink)) and len(r) >= 4 and r)
    recs = [got[s] for s in sorted(got)]
    assert [r["eventName"] for r in recs] == ["INSERT", "INSERT", "MODIFY", "REMOVE"]
    r = recs[2]
    assert r["eventSource"] == "aws:dynamodb" and r["eventVersion"] == "1.1"
    assert r["eventSourceARN"] == arn and r["awsRegion"] == helpers.REGION
    assert len(r["eventID"]) > 0
    d = r["dynamodb"]
    assert d["Keys"] == {"pk": {"S": "a"}} and d["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert d["NewImage"]["v"] == {"S": "2"} and d["OldImage"]["v"] == {"S": "1"}
    assert isinstance(d["ApproximateCreationDateTime"], (int, float)) and d["SizeBytes"] > 0
    assert "NewImage" not in recs[3]["dynamodb"]
    wait_for(lambda: lambda_client.get_event_source_mapping(
        UUID=m["UUID"])["LastProcessingResult"] == "OK")
    lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_latest_skips_what_came_before(ddb, tables, lambda_client, new_function):
    source, sink = tables(**STREAM_TABLE), tables(hash_key=("id", "S"))
    put(ddb, source, "old")
    fn = sink_function(new_function, sink)
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=stream_arn(ddb, source), StartingPosition="LATEST")
    put(ddb, source, "new")
    got = wait_for(lambda: received(ddb, sink))
    time.sleep(1)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in received(ddb, sink).values()] == ["new"]
    lambda_client.delete_event_source_mapping(UUID=m["UUID"])
    assert got


def test_failing_batch_is_retried_then_sent_on_failure(server, ddb, tables, lambda_client,
                                                        new_function):
    source, sink = tables(**STREAM_TABLE), tables(hash_key=("id", "S"))
    arn = stream_arn(ddb, source)
    sns = server.client("sns")
    topic = sns.create_topic(Name=helpers.unique_name("onfailure"))["TopicArn"]
    catcher = sink_function(new_function, sink, SNS_SINK_SOURCE)
    lambda_client.add_permission(FunctionName=catcher, StatementId="sns", Action="lambda:InvokeFunction",
                                 Principal="sns.amazonaws.com", SourceArn=topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=helpers.function_arn(catcher))
    fn = sink_function(new_function, sink)
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        MaximumRetryAttempts=2, DestinationConfig={"OnFailure": {"Destination": topic}})
    put(ddb, source, "bad", mode="fail")
    failure = wait_for(lambda: scan(ddb, sink, "sns-"))
    body = json.loads(failure[0]["message"]["S"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == 3
    assert body["requestContext"]["functionArn"] == helpers.function_arn(fn)
    info = body["DDBStreamBatchInfo"]
    assert info["streamArn"] == arn and info["batchSize"] >= 1
    # Once the failed batch is given up on, the shard flows again.
    put(ddb, source, "good")
    got = wait_for(lambda: [r for r in received(ddb, sink).values()
                            if r["dynamodb"]["Keys"]["pk"]["S"] == "good"])
    assert got
    bad_seq = info["startSequenceNumber"]
    tries = [inv for inv in invocations(ddb, sink) if bad_seq in inv]
    assert len(tries) == 3  # the first attempt and two retries
    wait_for(lambda: lambda_client.get_event_source_mapping(
        UUID=m["UUID"])["LastProcessingResult"] in ("OK", "PROBLEM: Function call failed"))
    lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_partial_batch_failures_retry_from_the_failed_record(ddb, tables, lambda_client,
                                                             new_function):
    source, sink = tables(**STREAM_TABLE), tables(hash_key=("id", "S"))
    fn = sink_function(new_function, sink)
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=stream_arn(ddb, source), StartingPosition="LATEST",
        FunctionResponseTypes=["ReportBatchItemFailures"], BatchSize=10)
    # One transaction: the three records are in the stream together, so they form one batch.
    ddb.batch_write_item(RequestItems={source: [
        {"PutRequest": {"Item": {"pk": {"S": p}, "mode": {"S": mode}}}}
        for p, mode in (("a", "ok"), ("b", "once"), ("c", "ok"))]})
    wait_for(lambda: len(invocations(ddb, sink)) >= 2)
    invs = invocations(ddb, sink)
    assert len(invs[0]) == 3
    # The retry starts at the failed record: the one before it is not sent again.
    assert invs[1] == invs[0][1:]
    time.sleep(1)
    assert len(invocations(ddb, sink)) == 2
    lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_bisect_splits_a_failing_batch(ddb, tables, lambda_client, new_function):
    source, sink = tables(**STREAM_TABLE), tables(hash_key=("id", "S"))
    fn = sink_function(new_function, sink)
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=stream_arn(ddb, source), StartingPosition="LATEST",
        BisectBatchOnFunctionError=True, MaximumRetryAttempts=3)
    ddb.batch_write_item(RequestItems={source: [
        {"PutRequest": {"Item": {"pk": {"S": p}, "mode": {"S": mode}}}}
        for p, mode in (("a", "ok"), ("b", "ok"), ("c", "ok"), ("d", "fail"))]})
    wait_for(lambda: len(invocations(ddb, sink)) >= 3)
    invs = invocations(ddb, sink)
    assert len(invs[0]) == 4 and len(invs[1]) == 2  # the batch, then its first half
    assert invs[1] == invs[0][:2]
    lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_checkpoint_survives_kill_9(server_factory):
    srv = server_factory()
    ddb, lam = ddb_client(srv), srv.client("lambda")
    create_table(ddb, "source", **STREAM_TABLE)
    create_table(ddb, "sink", hash_key=("id", "S"))
    lam.create_function(**helpers.create_kwargs(
        "worker", helpers.make_zip({"app.py": SINK_SOURCE}), Timeout=30,
        Environment={"Variables": {"SINK": "sink", "SLEEP": "0.3"}}))
    helpers.wait_active(lam, "worker")
    lam.create_event_source_mapping(FunctionName="worker", EventSourceArn=stream_arn(ddb, "source"),
                                     StartingPosition="TRIM_HORIZON", BatchSize=2)
    for i in range(20):
        put(ddb, "source", f"k{i:02}")
    # Killed in the middle: some batches done, others not.
    wait_for(lambda: len(received(ddb, "sink")) >= 4)
    srv.kill()
    srv = server_factory(data_dir=srv.data_dir)
    ddb = ddb_client(srv)
    got = wait_for(lambda: (r := received(ddb, "sink")) and len(r) >= 20 and r, timeout=120)
    keys = sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in got.values())
    assert keys == [f"k{i:02}" for i in range(20)]
    # At least once: a batch cut short by the kill may run again, but the checkpoint kept the
    # finished ones from being replayed wholesale.
    delivered = sum(len(inv) for inv in invocations(ddb, "sink"))
    assert 20 <= delivered <= 24


@pytest.fixture
def aws(server, tmp_path):
    import subprocess

    from test_cli import find_aws_cli

    cli = find_aws_cli()
    if cli is None:
        pytest.skip("aws CLI is not installed")
    env = helpers.aws_cli_env(tmp_path)

    def run(*args):
        cmd = [cli, "--endpoint-url", server.url, "--output", "json", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    return run


def test_stream_to_function_with_the_aws_cli(aws, ddb, tables, lambda_client, new_function):
    source = helpers.unique_name("cli-source")
    desc = aws("dynamodb", "create-table", "--table-name", source,
               "--billing-mode", "PAY_PER_REQUEST",
               "--attribute-definitions", "AttributeName=pk,AttributeType=S",
               "--key-schema", "AttributeName=pk,KeyType=HASH",
               "--stream-specification", "StreamEnabled=true,StreamViewType=NEW_IMAGE")
    tables.names.append(source)
    arn = desc["TableDescription"]["LatestStreamArn"]
    sink = tables(hash_key=("id", "S"))
    fn = sink_function(new_function, sink)
    m = aws("lambda", "create-event-source-mapping", "--function-name", fn,
            "--event-source-arn", arn, "--starting-position", "TRIM_HORIZON", "--batch-size", "5")
    assert m["BatchSize"] == 5 and m["State"] == "Creating"
    aws("dynamodb", "put-item", "--table-name", source, "--item", '{"pk": {"S": "from-cli"}}')
    got = wait_for(lambda: received(ddb, sink))
    assert [r["dynamodb"]["NewImage"] for r in got.values()] == [{"pk": {"S": "from-cli"}}]
    streams = aws("dynamodbstreams", "list-streams", "--table-name", source)["Streams"]
    assert [s["StreamArn"] for s in streams] == [arn]
    shard = aws("dynamodbstreams", "describe-stream", "--stream-arn", arn)[
        "StreamDescription"]["Shards"][0]["ShardId"]
    it = aws("dynamodbstreams", "get-shard-iterator", "--stream-arn", arn, "--shard-id", shard,
             "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
    recs = aws("dynamodbstreams", "get-records", "--shard-iterator", it)["Records"]
    assert [r["eventName"] for r in recs] == ["INSERT"]
    listed = aws("lambda", "list-event-source-mappings", "--function-name", fn)
    assert [x["UUID"] for x in listed["EventSourceMappings"]] == [m["UUID"]]
    aws("lambda", "delete-event-source-mapping", "--uuid", m["UUID"])


def test_filter_criteria_choose_the_records(ddb, tables, lambda_client, new_function):
    source, sink = tables(**STREAM_TABLE), tables(hash_key=("id", "S"))
    fn = sink_function(new_function, sink)
    pattern = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["order"]}}}}
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=stream_arn(ddb, source), StartingPosition="LATEST",
        FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]})
    assert json.loads(m["FilterCriteria"]["Filters"][0]["Pattern"]) == pattern
    put(ddb, source, "skip-kind", kind="refund")
    put(ddb, source, "take", kind="order")
    put(ddb, source, "take", kind="order", v="modified")  # a MODIFY: filtered out
    put(ddb, source, "last", kind="order")
    got = wait_for(lambda: (r := received(ddb, sink)) and len(r) >= 2 and r)
    time.sleep(1)
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for _, r in sorted(received(ddb, sink).items())]
    assert keys == ["take", "last"] and got
    lambda_client.delete_event_source_mapping(UUID=m["UUID"])


# Records each SQS message it receives into SINK as `msg-<body>` (the record as received) and
# each invocation as `inv-…` with its batch size. A body starting with `fail` raises; one
# starting with `bad` is reported in batchItemFailures (so only it goes back to the queue).
SQS_SINK_SOURCE = r"""
import json, os, time, uuid
import boto3

sink = boto3.resource("dynamodb").Table(os.environ["SINK"])


def handler(event, context):
    records = event["Records"]
    sink.put_item(Item={"id": "inv-" + uuid.uuid4().hex, "n": len(records), "at": str(time.time())})
    failures = []
    for r in records:
        if r["body"].startswith("fail"):
            raise RuntimeError("told to fail")
        if r["body"].startswith("bad"):
            failures.append({"itemIdentifier": r["messageId"]})
            continue
        sink.put_item(Item={"id": "msg-" + r["body"], "record": json.dumps(r)})
    return {"batchItemFailures": failures}
"""


def queue_with_dlq(sqs, max_receives=2, visibility=1):
    name = "jobs-" + helpers.unique_name()
    dlq_url = sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}),
    })["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dlq_url


def messages(ddb, sink):
    return {i["id"]["S"][4:]: json.loads(i["record"]["S"]) for i in scan(ddb, sink, "msg-")}


def drain(sqs, url):
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return sorted(m["Body"] for m in got.get("Messages", []))


def test_queue_messages_reach_the_function_and_failures_go_back(server, ddb, tables, lambda_client,
                                                                new_function):
    sqs = server.client("sqs")
    sink = tables(hash_key=("id", "S"))
    fn = sink_function(new_function, sink, source=SQS_SINK_SOURCE)
    url, arn, dlq_url = queue_with_dlq(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="one", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "order"}})
    for body in ("two", "bad-1", "three"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=arn, BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"])
    try:
        got = wait_for(lambda: (r := messages(ddb, sink)) and len(r) == 3 and r)
        one = got["one"]
        assert one["eventSource"] == "aws:sqs" and one["eventSourceARN"] == arn
        assert one["awsRegion"] == "us-east-1" and one["body"] == "one"
        assert set(one) >= {"messageId", "receiptHandle", "attributes", "messageAttributes", "md5OfBody"}
        assert one["messageAttributes"]["kind"] == {
            "stringValue": "order", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
        assert one["attributes"]["ApproximateReceiveCount"] == "1"
        assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(one["attributes"])
        # The reported failure is received again until the redrive policy moves it.
        assert wait_for(lambda: drain(sqs, dlq_url), timeout=30) == ["bad-1"]
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"] == "0"
    finally:
        lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_a_failing_batch_stays_in_the_queue(server, ddb, tables, lambda_client, new_function):
    sqs = server.client("sqs")
    sink = tables(hash_key=("id", "S"))
    fn = sink_function(new_function, sink, source=SQS_SINK_SOURCE)
    url, arn, dlq_url = queue_with_dlq(sqs, max_receives=2)
    sqs.send_message(QueueUrl=url, MessageBody="fail-1")
    m = lambda_client.create_event_source_mapping(FunctionName=fn, EventSourceArn=arn, BatchSize=1)
    try:
        # Received twice (two failed invocations), then moved to the dead-letter queue.
        assert wait_for(lambda: drain(sqs, dlq_url), timeout=30) == ["fail-1"]
        assert len(scan(ddb, sink, "inv-")) == 2
    finally:
        lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_queue_filters_drop_what_they_do_not_match(server, ddb, tables, lambda_client, new_function):
    sqs = server.client("sqs")
    sink = tables(hash_key=("id", "S"))
    fn = sink_function(new_function, sink, source=SQS_SINK_SOURCE)
    url, arn, _ = queue_with_dlq(sqs)
    pattern = {"body": {"kind": [{"prefix": "ord"}]}}
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=arn, BatchSize=10,
        FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]})
    try:
        for body in ({"kind": "order", "n": 1}, {"kind": "refund", "n": 2}, "not json"):
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body) if isinstance(body, dict) else body)
        got = wait_for(lambda: messages(ddb, sink))
        # Unmatched messages are deleted, not delivered and not left behind.
        wait_for(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"] == "0" and sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0")
        assert list(messages(ddb, sink)) == [json.dumps({"kind": "order", "n": 1})] and got
        with pytest.raises(ClientError) as e:
            lambda_client.update_event_source_mapping(
                UUID=m["UUID"], FilterCriteria={"Filters": [{"Pattern": '{"body": [{"nope": 1}]}'}]})
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    finally:
        lambda_client.delete_event_source_mapping(UUID=m["UUID"])


def test_a_backlog_is_drained_in_full_batches(server, ddb, tables, lambda_client, new_function):
    sqs = server.client("sqs")
    sink = tables(hash_key=("id", "S"))
    fn = sink_function(new_function, sink, source=SQS_SINK_SOURCE)
    url, arn, _ = queue_with_dlq(sqs, visibility=30)
    for start in range(0, 60, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)])
    m = lambda_client.create_event_source_mapping(
        FunctionName=fn, EventSourceArn=arn, BatchSize=10, ScalingConfig={"MaximumConcurrency": 2})
    try:
        wait_for(lambda: len(messages(ddb, sink)) == 60)
        sizes = [int(i["n"]["N"]) for i in scan(ddb, sink, "inv-")]
        assert sum(sizes) == 60 and max(sizes) == 10
    finally:
        lambda_client.delete_event_source_mapping(UUID=m["UUID"])
