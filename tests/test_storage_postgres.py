"""The storage layer's promises with state on PostgreSQL (runs only with STRATUS_TEST_DATABASE):
while the database is away, warm invocations go on (their path never touches it) and every
other request gets its service's retryable server error and changes nothing; once it is back,
the server recovers by itself; and `stratus migrate` moves a SQLite data directory onto
PostgreSQL, after which a server there serves everything the old one had."""

import json
import os
import subprocess

import pytest

from conftest import database_for, stratus_binary
from garage import Garage, garage_binary
from helpers import (
    allow_topic,
    create_function,
    make_client,
    make_s3_client,
    make_zip,
    unique_bucket,
    unique_name,
    wait_active,
    wait_updated,
)
from storage_support import error_of, eventually, on_postgres, relayed_server  # noqa: F401

pytestmark = on_postgres

PRINTING = """
def handler(event, context):
    print("marker", event.get("marker"))
    return event
"""


def make_table(ddb, name):
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])


def invoke(lam, name, event, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kw)
    assert "FunctionError" not in r, r["Payload"].read()
    return json.loads(r["Payload"].read())


def test_warm_invokes_go_on_while_the_database_is_away(relayed_server):
    srv, relay = relayed_server
    lam, ddb = make_client(srv.url), make_client(srv.url, "dynamodb")
    logs = make_client(srv.url, "logs")
    name, table = unique_name("away"), unique_name("away")
    create_function(lam, name, make_zip({"app.py": PRINTING}))
    wait_active(lam, name)
    assert invoke(lam, name, {"marker": "before"}) == {"marker": "before"}
    make_table(ddb, table)
    ddb.put_item(TableName=table, Item={"pk": {"S": "kept"}})

    relay.cut()
    assert invoke(lam, name, {"marker": "during"}) == {"marker": "during"}
    code, status = error_of(lambda: create_function(lam, unique_name("lost"), make_zip()))
    assert (code, status >= 500) == ("ServiceException", True)
    assert error_of(lambda: ddb.put_item(TableName=table, Item={"pk": {"S": "lost"}})) == (
        "ServiceUnavailable", 503)
    assert srv.proc.poll() is None, "the server keeps running"
    eventually_true(lambda: _assert(not database_health(srv)["reachable"]))

    relay.restore()
    eventually_true(lambda: _assert(database_health(srv)["reachable"]))
    eventually(lambda: lam.get_function(FunctionName=name))
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == [name], \
        "the refused CreateFunction left nothing behind"
    items = eventually(lambda: ddb.scan(TableName=table))["Items"]
    assert items == [{"pk": {"S": "kept"}}]
    created = unique_name("after")
    create_function(lam, created, make_zip())
    wait_active(lam, created)
    assert invoke(lam, created, {"a": 1}) == {"a": 1}

    # The log lines of the invocation made while the database was away were kept and stored.
    def during_logged():
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}",
                                        filterPattern='"marker during"')["events"]
        assert events, "the outage's log lines are not stored yet"
        return events
    eventually_true(during_logged)


def database_health(srv):
    return srv.health()[1]["storage"]["database"]


def _assert(ok):
    assert ok
    return ok


def eventually_true(check, deadline_s=30):
    import time
    end = time.monotonic() + deadline_s
    while True:
        try:
            return check()
        except Exception:
            if time.monotonic() > end:
                raise
            time.sleep(0.3)


def run_migrate(source, target, *extra, env=None):
    out = subprocess.run([str(stratus_binary()), "migrate", "--from", source, "--to", target,
                          *extra],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_sqlite_data_directory_migrates_to_postgres(server_factory, tmp_path):
    data = tmp_path / "old"
    old = server_factory(data_dir=data, env={"STRATUS_DATABASE": "sqlite"})
    lam, s3 = make_client(old.url), make_s3_client(old.url)
    ddb, sns = make_client(old.url, "dynamodb"), make_client(old.url, "sns")
    name, bucket, table = unique_name("moved"), unique_bucket("moved"), unique_name("moved")
    create_function(lam, name, make_zip())
    wait_active(lam, name)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    assert invoke(lam, name, {"n": 1}, Qualifier="live") == {"n": 1}
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"bytes that moved")
    make_table(ddb, table)
    ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "v": {"N": "42"}})
    topic = sns.create_topic(Name=unique_name("moved"))["TopicArn"]
    allow_topic(lam, name, topic)
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda",
                        Endpoint=f"arn:aws:lambda:us-east-1:000000000000:function:{name}")
    sqs = make_client(old.url, "sqs")
    queue = sqs.create_queue(QueueName=unique_name("moved"))["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="a message that moved")
    cw = make_client(old.url, "cloudwatch")
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanThreshold")
    cw.put_metric_data(Namespace="Moved", MetricData=[{"MetricName": "m", "Value": 3.0}])
    old.stop()

    target = database_for(tmp_path / "new")
    first = run_migrate(f"sqlite:{data}", target)
    assert " copied" in first and "meta" in first and "tables" in first, first
    second = run_migrate(f"sqlite:{data}", target)
    assert "copied" not in second and "already identical" in second, second

    new = server_factory(data_dir=data, env={"STRATUS_DATABASE": target})
    lam, s3 = make_client(new.url), make_s3_client(new.url)
    ddb, sns = make_client(new.url, "dynamodb"), make_client(new.url, "sns")
    assert new.health()[1]["store"]["database"] == "postgres"
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == version
    assert invoke(lam, name, {"n": 2}, Qualifier="live") == {"n": 2}
    body = s3.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read()
    assert body == b"bytes that moved"
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "k"}})["Item"]
    assert item["v"] == {"N": "42"}
    cw = make_client(new.url, "cloudwatch")
    assert [a["AlarmName"] for a in cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]] == [name]
    assert [m["MetricName"] for m in cw.list_metrics(Namespace="Moved")["Metrics"]] == ["m"]
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subs] == [sub["SubscriptionArn"]]
    sqs = make_client(new.url, "sqs")
    moved = sqs.get_queue_url(QueueName=queue.rsplit("/", 1)[1])["QueueUrl"]
    got = sqs.receive_message(QueueUrl=moved)["Messages"]
    assert [m["Body"] for m in got] == ["a message that moved"]
    # New writes continue on PostgreSQL.
    lam.update_function_configuration(FunctionName=name, Description="after the move")
    wait_updated(lam, name)
    lam.publish_version(FunctionName=name)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] \
        == ["$LATEST", version, str(int(version) + 1)]


@pytest.fixture
def blob_target(tmp_path):
    """Where the moved blobs go: a Garage of its own when one is installed, else a second
    local directory. Yields (blob store URL, environment for its credentials)."""
    if garage_binary() is None:
        yield f"file://{tmp_path / 'moved-blobs'}", {}
        return
    garage = Garage(tmp_path / "garage").start()
    try:
        yield garage.blob_store_url(prefix="moved"), garage.env()
    finally:
        garage.stop()


def report_line(report, prefix):
    return next(line for line in report.splitlines() if line.startswith(prefix))


def test_blobs_and_logs_move_with_the_database(server_factory, tmp_path, blob_target):
    data = tmp_path / "old"
    # The embedded backends, whatever this run's defaults are (the local disk: "").
    old = server_factory(data_dir=data,
                         env={"STRATUS_DATABASE": "sqlite", "STRATUS_BLOB_STORE": ""})
    lam, s3, logs = make_client(old.url), make_s3_client(old.url), make_client(old.url, "logs")
    name, bucket = unique_name("carried"), unique_bucket("carried")
    create_function(lam, name, make_zip({"app.py": PRINTING}))
    wait_active(lam, name)
    assert invoke(lam, name, {"marker": "written-on-sqlite"}) == {"marker": "written-on-sqlite"}
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="big.bin", Body=body)
    s3.put_object(Bucket=bucket, Key="small.txt", Body=b"small")
    group = f"/aws/lambda/{name}"
    before = eventually_true(lambda: _assert(logs.filter_log_events(
        logGroupName=group, filterPattern="written-on-sqlite")["events"]))
    old.stop()

    target = database_for(tmp_path / "new")
    url, env = blob_target
    first = run_migrate(f"sqlite:{data}", target, "--to-blob-store", url, env=env)
    assert report_line(first, "blobs    code/").split()[2:4] == ["1", "blobs"], first
    objects = report_line(first, "blobs    objects/blobs/").split()
    assert objects[2:8] == ["2", "blobs", str(300_000 + 5), "bytes", "2", "blobs"], first
    logs_line = report_line(first, "logs ")
    assert "1 groups" in logs_line and "1 streams copied" in logs_line, first
    again = run_migrate(f"sqlite:{data}", target, "--to-blob-store", url, env=env)
    assert "copied" not in again, again
    assert report_line(again, "blobs    objects/blobs/").endswith("already identical"), again
    assert report_line(again, "logs ").endswith("already identical"), again

    # A fresh data directory: nothing is read from the old one.
    new = server_factory(data_dir=tmp_path / "fresh",
                         env={"STRATUS_DATABASE": target, "STRATUS_BLOB_STORE": url, **env})
    lam, s3, logs = make_client(new.url), make_s3_client(new.url), make_client(new.url, "logs")
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="small.txt")["Body"].read() == b"small"
    assert invoke(lam, name, {"marker": "served-after"}) == {"marker": "served-after"}
    after = logs.filter_log_events(logGroupName=group, filterPattern="written-on-sqlite")["events"]
    assert [(e["timestamp"], e["message"]) for e in after] \
        == [(e["timestamp"], e["message"]) for e in before]
