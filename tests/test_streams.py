"""DynamoDB Streams through boto3's `dynamodbstreams` client: a record for every committed
change (and none for a write that changed nothing), per view type, transactions included, in
commit order; the four iterator types; StreamSpecification's errors; a disabled stream stays
readable; records survive `kill -9`."""

import pytest
from botocore.exceptions import ClientError

import helpers
from dynamodb_support import TableFactory, assert_ddb_error, ddb_client, raises_ddb


@pytest.fixture(scope="module")
def ddb(server):
    return ddb_client(server)


@pytest.fixture(scope="module")
def streams(server):
    return helpers.make_client(server.url, "dynamodbstreams",
                               retries={"total_max_attempts": 1})


@pytest.fixture
def tables(ddb):
    factory = TableFactory(ddb)
    yield factory
    factory.close()


def streamed(tables, ddb, view):
    """A new table with a `view` stream: (name, stream ARN)."""
    name = tables(StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    desc = ddb.describe_table(TableName=name)["Table"]
    assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": view}
    arn = desc["LatestStreamArn"]
    assert arn == f"{desc['TableArn']}/stream/{desc['LatestStreamLabel']}"
    return name, arn


def shard_of(streams, arn):
    desc = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert len(desc["Shards"]) == 1
    return desc["Shards"][0]["ShardId"]


def iterator(streams, arn, kind="TRIM_HORIZON", **extra):
    return streams.get_shard_iterator(StreamArn=arn, ShardId=shard_of(streams, arn),
                                      ShardIteratorType=kind, **extra)["ShardIterator"]


def records(streams, arn, kind="TRIM_HORIZON", **extra):
    it = iterator(streams, arn, kind, **extra)
    return streams.get_records(ShardIterator=it)["Records"]


def events(recs):
    return [r["eventName"] for r in recs]


def test_each_write_kind_makes_its_record(tables, ddb, streams):
    name, arn = streamed(tables, ddb, "NEW_AND_OLD_IMAGES")
    item = {"pk": {"S": "a"}, "v": {"N": "1"}}
    ddb.put_item(TableName=name, Item=item)
    ddb.put_item(TableName=name, Item=item)  # unchanged: no record
    ddb.update_item(TableName=name, Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "2"}})
    with pytest.raises(ClientError):
        ddb.put_item(TableName=name, Item=item, ConditionExpression="attribute_not_exists(pk)")
    ddb.delete_item(TableName=name, Key={"pk": {"S": "missing"}})  # nothing to delete
    ddb.delete_item(TableName=name, Key={"pk": {"S": "a"}})
    ddb.batch_write_item(RequestItems={name: [
        {"PutRequest": {"Item": {"pk": {"S": "b"}}}},
        {"PutRequest": {"Item": {"pk": {"S": "c"}}}}]})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": name, "Item": {"pk": {"S": "b"}, "v": {"N": "5"}}}},
        {"Delete": {"TableName": name, "Key": {"pk": {"S": "c"}}}}])
    # A cancelled transaction writes nothing.
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "d"}}}},
            {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "zz"}},
                                "ConditionExpression": "attribute_exists(pk)"}}])
    recs = records(streams, arn)
    assert events(recs) == ["INSERT", "MODIFY", "REMOVE", "INSERT", "INSERT", "MODIFY", "REMOVE"]
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in recs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    first = recs[0]
    assert first["eventSource"] == "aws:dynamodb" and first["eventVersion"] == "1.1"
    assert first["awsRegion"] == helpers.REGION
    assert first["dynamodb"]["Keys"] == {"pk": {"S": "a"}}
    assert first["dynamodb"]["NewImage"] == item and "OldImage" not in first["dynamodb"]
    assert first["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert first["dynamodb"]["SizeBytes"] > 0
    assert first["dynamodb"]["ApproximateCreationDateTime"].year >= 2024
    assert recs[1]["dynamodb"]["OldImage"]["v"] == {"N": "1"}
    assert recs[1]["dynamodb"]["NewImage"]["v"] == {"N": "2"}
    assert recs[2]["dynamodb"]["OldImage"]["v"] == {"N": "2"} and "NewImage" not in recs[2]["dynamodb"]


@pytest.mark.parametrize("view,new,old", [
    ("KEYS_ONLY", False, False), ("NEW_IMAGE", True, False),
    ("OLD_IMAGE", False, True), ("NEW_AND_OLD_IMAGES", True, True)])
def test_view_types_choose_the_images(tables, ddb, streams, view, new, old):
    name, arn = streamed(tables, ddb, view)
    ddb.put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"S": "one"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "k"}, "v": {"S": "two"}})
    modify = records(streams, arn)[1]["dynamodb"]
    assert modify["Keys"] == {"pk": {"S": "k"}}
    assert ("NewImage" in modify) == new and ("OldImage" in modify) == old
    if new:
        assert modify["NewImage"]["v"] == {"S": "two"}
    if old:
        assert modify["OldImage"]["v"] == {"S": "one"}


def test_iterator_types_and_paging(tables, ddb, streams):
    name, arn = streamed(tables, ddb, "KEYS_ONLY")
    for i in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
    all_recs = records(streams, arn)
    seq = [r["dynamodb"]["SequenceNumber"] for r in all_recs]
    assert len(seq) == 5
    at = records(streams, arn, "AT_SEQUENCE_NUMBER", SequenceNumber=seq[2])
    assert [r["dynamodb"]["SequenceNumber"] for r in at] == seq[2:]
    after = records(streams, arn, "AFTER_SEQUENCE_NUMBER", SequenceNumber=seq[2])
    assert [r["dynamodb"]["SequenceNumber"] for r in after] == seq[3:]
    latest = iterator(streams, arn, "LATEST")
    assert streams.get_records(ShardIterator=latest)["Records"] == []
    ddb.put_item(TableName=name, Item={"pk": {"S": "later"}})
    got = streams.get_records(ShardIterator=latest)["Records"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in got] == ["later"]
    # Pages of two follow NextShardIterator through all six records.
    it, seen = iterator(streams, arn), []
    for _ in range(4):
        page = streams.get_records(ShardIterator=it, Limit=2)
        seen += page["Records"]
        it = page["NextShardIterator"]
    assert len(seen) == 6 and page["Records"] == []


def test_streams_api_errors(tables, ddb, streams):
    name, arn = streamed(tables, ddb, "KEYS_ONLY")
    missing = arn.replace(name, name + "-nope")
    raises_ddb("ResourceNotFoundException", streams.describe_stream, StreamArn=missing,
               message=f"Requested resource not found: Stream: {missing} not found")
    raises_ddb("ResourceNotFoundException", streams.get_shard_iterator, StreamArn=arn,
               ShardId="shardId-00000000000000000000-deadbeef",
               ShardIteratorType="TRIM_HORIZON")
    with pytest.raises(ClientError) as e:
        streams.get_records(ShardIterator="not-an-iterator")
    assert_ddb_error(e, "ValidationException")
    with pytest.raises(ClientError) as e:
        streams.get_records(ShardIterator=iterator(streams, arn), Limit=1001)
    assert_ddb_error(e, "ValidationException", contains="less than or equal to 1000")


def test_stream_specification_errors(tables, ddb, streams):
    name, arn = streamed(tables, ddb, "NEW_IMAGE")
    raises_ddb("ValidationException", ddb.update_table, TableName=name,
               StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
               message=f"Table already has an enabled stream: TableName: {name}")
    raises_ddb("ValidationException", ddb.update_table, TableName=name,
               StreamSpecification={"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"},
               message="One or more parameter values were invalid: If stream is being disabled, "
                       "then UpdateViewType must not be specified")
    ddb.put_item(TableName=name, Item={"pk": {"S": "before"}})
    desc = ddb.update_table(TableName=name,
                            StreamSpecification={"StreamEnabled": False})["TableDescription"]
    assert "StreamSpecification" not in desc and desc["LatestStreamArn"] == arn
    raises_ddb("ValidationException", ddb.update_table, TableName=name,
               StreamSpecification={"StreamEnabled": False},
               message=f"Table has no stream to disable: TableName: {name}")
    # The disabled stream is still readable, and its shard is closed.
    ddb.put_item(TableName=name, Item={"pk": {"S": "after"}})
    d = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert d["StreamStatus"] == "DISABLED" and d["TableName"] == name
    assert "EndingSequenceNumber" in d["Shards"][0]["SequenceNumberRange"]
    page = streams.get_records(ShardIterator=iterator(streams, arn))
    assert events(page["Records"]) == ["INSERT"] and "NextShardIterator" not in page
    new = ddb.update_table(TableName=name, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})["TableDescription"]
    assert new["LatestStreamArn"] != arn
    listed = streams.list_streams(TableName=name)["Streams"]
    assert [s["StreamArn"] for s in listed] == [arn, new["LatestStreamArn"]]
    assert streams.describe_stream(
        StreamArn=new["LatestStreamArn"])["StreamDescription"]["StreamStatus"] == "ENABLED"


def test_list_streams_pages(tables, ddb, streams):
    arns = sorted(streamed(tables, ddb, "KEYS_ONLY")[1] for _ in range(3))
    seen, start = [], {}
    while True:
        page = streams.list_streams(Limit=1, **start)
        seen += [s["StreamArn"] for s in page["Streams"]]
        if "LastEvaluatedStreamArn" not in page:
            break
        start = {"ExclusiveStartStreamArn": page["LastEvaluatedStreamArn"]}
    assert all(a in seen for a in arns) and seen == sorted(seen)


def test_deleted_table_keeps_its_stream_readable(tables, ddb, streams):
    name, arn = streamed(tables, ddb, "KEYS_ONLY")
    ddb.put_item(TableName=name, Item={"pk": {"S": "x"}})
    ddb.delete_table(TableName=name)
    assert streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"] == "DISABLED"
    assert events(records(streams, arn)) == ["INSERT"]


def test_records_survive_kill_9(server_factory):
    srv = server_factory()
    ddb, streams = ddb_client(srv), srv.client("dynamodbstreams")
    ddb.create_table(TableName="durable", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    arn = ddb.describe_table(TableName="durable")["Table"]["LatestStreamArn"]
    for i in range(20):
        ddb.put_item(TableName="durable", Item={"pk": {"S": f"k{i}"}})
    srv.kill()
    srv = server_factory(data_dir=srv.data_dir)
    got = records(srv.client("dynamodbstreams"), arn)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in got] == [f"k{i}" for i in range(20)]
    # Sequence numbers keep increasing after the restart.
    ddb = ddb_client(srv)
    ddb.put_item(TableName="durable", Item={"pk": {"S": "after"}})
    again = records(srv.client("dynamodbstreams"), arn)
    assert int(again[-1]["dynamodb"]["SequenceNumber"]) > int(got[-1]["dynamodb"]["SequenceNumber"])
