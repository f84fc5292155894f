"""CloudWatch Logs API subset: log groups and streams (including the ones Lambda functions
write to), events with AWS's paging tokens, filter patterns, retention, errors; and the aws CLI
v2's `aws logs tail --follow`."""

import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

import helpers

LOGGING_SOURCE = (
    "import json\n"
    "def handler(event, context):\n"
    "    print('hello from', event.get('tag', 'none'))\n"
    "    print('second line')\n"
    "    return {'ok': True}\n"
)

DAY_MS = 86_400_000


def now_ms():
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


@pytest.fixture(scope="module")
def logs(srv):
    return srv.client("logs")


@pytest.fixture(scope="module")
def lam(srv):
    return srv.client()


@pytest.fixture(scope="module")
def logging_fn(lam):
    name = helpers.unique_name("logfn")
    helpers.create_function(lam, name, helpers.make_zip({"app.py": LOGGING_SOURCE}))
    helpers.wait_active(lam, name)
    return name


def new_stream(logs, events=()):
    group = "/test/" + uuid.uuid4().hex[:10]
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    if events:
        logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=list(events))
    return group


def assert_logs_error(exc, code, message=None):
    err = exc.value.response
    assert err["Error"]["Code"] == code
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    if message is not None:
        assert err["Error"]["Message"] == message


def test_a_failed_init_leaves_no_empty_environment_stream(logs, lam):
    # The environment's stream is opened while its runtime initialises; an init that fails
    # logs to its own stream, and the environment's is not left behind empty.
    name = helpers.unique_name("badinit")
    source = "raise RuntimeError('no init for you')\n"
    helpers.create_function(lam, name, helpers.make_zip({"app.py": source}))
    helpers.wait_active(lam, name)
    out = helpers.invoke(lam, name, {})
    assert out.function_error == "Unhandled"
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert streams and all(s.get("storedBytes", 1) != 0 for s in streams), streams
    for s in streams:
        events = logs.get_log_events(logGroupName=f"/aws/lambda/{name}",
                                     logStreamName=s["logStreamName"])["events"]
        assert events, s["logStreamName"]
    assert any("no init for you" in e["message"] for s in streams
               for e in logs.get_log_events(logGroupName=f"/aws/lambda/{name}",
                                            logStreamName=s["logStreamName"])["events"])


def test_lambda_log_group_appears_once_the_function_has_logged(logs, lam, logging_fn):
    group = f"/aws/lambda/{logging_fn}"
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    out = helpers.invoke(lam, logging_fn, {"tag": "first"})
    assert out.payload == {"ok": True}

    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    g = groups[0]
    assert g["arn"] == f"arn:aws:logs:us-east-1:{helpers.ACCOUNT}:log-group:{group}:*"
    assert g["creationTime"] > now_ms() - 60_000
    assert g["storedBytes"] > 0
    assert "retentionInDays" not in g

    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1
    s = streams[0]
    assert "[$LATEST]" in s["logStreamName"]
    assert s["firstEventTimestamp"] <= s["lastEventTimestamp"] <= s["lastIngestionTime"]

    events = logs.get_log_events(
        logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True
    )["events"]
    messages = [e["message"] for e in events]
    request_id = out.request_id
    # One event per line; START, END and REPORT are events of their own.
    # As on AWS, a cold start's stream opens with INIT_START, naming the runtime's version.
    assert messages[0].startswith("INIT_START Runtime Version: python:"), messages[0]
    assert messages[1].startswith(f"START RequestId: {request_id}")
    assert "hello from first" in [m.strip() for m in messages]
    assert "second line" in [m.strip() for m in messages]
    assert any(m.startswith(f"END RequestId: {request_id}") for m in messages)
    assert messages[-1].startswith(f"REPORT RequestId: {request_id}")
    for e in events:
        assert e["timestamp"] > 0 and e["ingestionTime"] >= e["timestamp"]
    # Lines are stamped as they were printed: in order from START to REPORT.
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)


def test_get_log_events_pages_forward_and_backward(logs):
    t = now_ms() - 10_000
    group = new_stream(logs, [{"timestamp": t + i, "message": f"m{i}"} for i in range(5)])

    page = logs.get_log_events(logGroupName=group, logStreamName="s1", startFromHead=True, limit=2)
    seen = [e["message"] for e in page["events"]]
    token = page["nextForwardToken"]
    assert token.startswith("f/")
    while True:
        page = logs.get_log_events(
            logGroupName=group, logStreamName="s1", nextToken=token, limit=2
        )
        if not page["events"]:
            # At the end the forward token comes back unchanged.
            assert page["nextForwardToken"] == token
            break
        seen += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
    assert seen == ["m0", "m1", "m2", "m3", "m4"]

    # Without startFromHead: the newest events, then backwards.
    last = logs.get_log_events(logGroupName=group, logStreamName="s1", limit=2)
    assert [e["message"] for e in last["events"]] == ["m3", "m4"]
    back = logs.get_log_events(
        logGroupName=group, logStreamName="s1", limit=2, nextToken=last["nextBackwardToken"]
    )
    assert back["nextBackwardToken"].startswith("b/")
    assert [e["message"] for e in back["events"]] == ["m1", "m2"]

    # A new event is picked up from the end token.
    logs.put_log_events(
        logGroupName=group, logStreamName="s1",
        logEvents=[{"timestamp": t + 10, "message": "later\nwith two lines"}],
    )
    page = logs.get_log_events(logGroupName=group, logStreamName="s1", nextToken=token)
    assert [e["message"] for e in page["events"]] == ["later\nwith two lines"]

    # Time range: startTime inclusive, endTime exclusive.
    ranged = logs.get_log_events(
        logGroupName=group, logStreamName="s1", startTime=t + 1, endTime=t + 3, startFromHead=True
    )
    assert [e["message"] for e in ranged["events"]] == ["m1", "m2"]


def test_filter_log_events_patterns_streams_and_paging(logs):
    t = now_ms() - 10_000
    group = new_stream(logs, [
        {"timestamp": t, "message": "ERROR db down"},
        {"timestamp": t + 2, "message": "INFO all good"},
        {"timestamp": t + 4, "message": "WARN disk almost full"},
    ])
    logs.create_log_stream(logGroupName=group, logStreamName="other")
    logs.put_log_events(logGroupName=group, logStreamName="other", logEvents=[
        {"timestamp": t + 1, "message": "ERROR cache down retrying"},
        {"timestamp": t + 3, "message": "down db"},
    ])

    def messages(**kw):
        resp = logs.filter_log_events(logGroupName=group, **kw)
        return [e["message"] for e in resp["events"]]

    # Interleaved by time across streams; the empty pattern matches everything.
    assert messages() == [
        "ERROR db down", "ERROR cache down retrying", "INFO all good", "down db",
        "WARN disk almost full",
    ]
    assert messages(filterPattern="") == messages()
    assert messages(filterPattern="ERROR") == ["ERROR db down", "ERROR cache down retrying"]
    assert messages(filterPattern="error") == []
    assert messages(filterPattern="db down") == ["ERROR db down", "down db"]
    assert messages(filterPattern='"db down"') == ["ERROR db down"]
    assert messages(filterPattern="?WARN ?INFO") == ["INFO all good", "WARN disk almost full"]
    assert messages(filterPattern="ERROR -retrying") == ["ERROR db down"]
    assert messages(logStreamNames=["other"]) == ["ERROR cache down retrying", "down db"]
    assert messages(logStreamNamePrefix="s") == [
        "ERROR db down", "INFO all good", "WARN disk almost full",
    ]
    assert messages(startTime=t + 1, endTime=t + 3) == [
        "ERROR cache down retrying", "INFO all good", "down db",
    ]

    full = logs.filter_log_events(logGroupName=group)
    e = full["events"][0]
    assert set(e) >= {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert e["logStreamName"] == "s1"
    assert len({ev["eventId"] for ev in full["events"]}) == 5
    assert sorted(s["logStreamName"] for s in full["searchedLogStreams"]) == ["other", "s1"]

    # Paging with nextToken yields every event exactly once, in order; boto3's paginator too.
    paged, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.filter_log_events(logGroupName=group, limit=2, **kw)
        assert len(page["events"]) <= 2
        paged += [ev["eventId"] for ev in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    assert paged == [ev["eventId"] for ev in full["events"]]
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 2}
    )
    assert [ev["message"] for p in pages for ev in p["events"]] == messages()


def test_describe_paging_prefix_and_stream_order(logs):
    prefix = "/paging/" + uuid.uuid4().hex[:8] + "/"
    for i in range(3):
        logs.create_log_group(logGroupName=f"{prefix}{i}")
    first = logs.describe_log_groups(logGroupNamePrefix=prefix, limit=2)
    assert [g["logGroupName"] for g in first["logGroups"]] == [f"{prefix}0", f"{prefix}1"]
    rest = logs.describe_log_groups(logGroupNamePrefix=prefix, limit=2,
                                    nextToken=first["nextToken"])
    assert [g["logGroupName"] for g in rest["logGroups"]] == [f"{prefix}2"]
    assert "nextToken" not in rest

    group = f"{prefix}0"
    t = now_ms()
    for name, ts in [("b", t - 3000), ("a", t - 1000), ("c", t - 2000)]:
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        logs.put_log_events(logGroupName=group, logStreamName=name,
                            logEvents=[{"timestamp": ts, "message": name}])
    by_name = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in by_name] == ["a", "b", "c"]
    latest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime",
                                       descending=True)["logStreams"]
    assert [s["logStreamName"] for s in latest] == ["a", "c", "b"]
    assert latest[0]["lastEventTimestamp"] == t - 1000
    assert [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName=group, logStreamNamePrefix="b")["logStreams"]] == ["b"]
    page = logs.describe_log_streams(logGroupName=group, limit=2)
    assert len(page["logStreams"]) == 2 and page["nextToken"]

    logs.delete_log_stream(logGroupName=group, logStreamName="b")
    assert [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName=group)["logStreams"]] == ["a", "c"]
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []


def test_retention_policy_expires_old_events(logs):
    old = now_ms() - 10 * DAY_MS
    group = new_stream(logs, [{"timestamp": old, "message": "old"}])
    logs.put_log_events(logGroupName=group, logStreamName="s1",
                        logEvents=[{"timestamp": now_ms(), "message": "new"}])

    with pytest.raises(ClientError) as exc:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert_logs_error(exc, "InvalidParameterException")

    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert g["retentionInDays"] == 7
    helpers.wait_until(
        lambda: [e["message"] for e in logs.get_log_events(
            logGroupName=group, logStreamName="s1", startFromHead=True)["events"]] == ["new"],
        timeout=10, message="expired event removed",
    )
    # Events older than the retention are refused, and said to be.
    resp = logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
        {"timestamp": now_ms() - 8 * DAY_MS, "message": "too old"},
        {"timestamp": now_ms() - 7 * DAY_MS - 60_000, "message": "also too old"},
    ])
    assert resp["rejectedLogEventsInfo"]["expiredLogEventEndIndex"] == 2
    assert [e["message"] for e in logs.get_log_events(
        logGroupName=group, logStreamName="s1", startFromHead=True)["events"]] == ["new"]

    logs.delete_retention_policy(logGroupName=group)
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert "retentionInDays" not in g


def test_errors_and_nothing_changes(logs):
    missing = "/no/such/" + uuid.uuid4().hex
    calls = [
        lambda: logs.describe_log_streams(logGroupName=missing),
        lambda: logs.get_log_events(logGroupName=missing, logStreamName="s"),
        lambda: logs.filter_log_events(logGroupName=missing),
        lambda: logs.delete_log_group(logGroupName=missing),
        lambda: logs.create_log_stream(logGroupName=missing, logStreamName="s"),
        lambda: logs.put_retention_policy(logGroupName=missing, retentionInDays=1),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert_logs_error(exc, "ResourceNotFoundException", "The specified log group does not exist.")
    assert logs.describe_log_groups(logGroupNamePrefix=missing)["logGroups"] == []

    group = new_stream(logs)
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName=group)
    assert_logs_error(exc, "ResourceAlreadyExistsException")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName=group, logStreamName="s1")
    assert_logs_error(exc, "ResourceAlreadyExistsException")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=group, logStreamName="nope")
    assert_logs_error(exc, "ResourceNotFoundException", "The specified log stream does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group, logStreamName="nope",
                            logEvents=[{"timestamp": now_ms(), "message": "x"}])
    assert_logs_error(exc, "ResourceNotFoundException", "The specified log stream does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
            {"timestamp": now_ms(), "message": "b"},
            {"timestamp": now_ms() - 1000, "message": "a"},
        ])
    assert_logs_error(exc, "InvalidParameterException")
    assert logs.get_log_events(logGroupName=group, logStreamName="s1")["events"] == []


def test_default_retention_from_config(module_server_factory):
    srv = module_server_factory(env={"STRATUS_LOG_RETENTION_DAYS": "3"})
    logs = srv.client("logs")
    logs.create_log_group(logGroupName="/with/default")
    g = logs.describe_log_groups(logGroupNamePrefix="/with/default")["logGroups"][0]
    assert g["retentionInDays"] == 3
    logs.put_retention_policy(logGroupName="/with/default", retentionInDays=14)
    g = logs.describe_log_groups(logGroupNamePrefix="/with/default")["logGroups"][0]
    assert g["retentionInDays"] == 14


def find_aws_v2():
    """An aws CLI v2 (the one with `logs tail`), or None. The test venv's `aws` is v1."""
    candidates = []
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin", "/usr/local/bin"]:
        path = os.path.join(d, "aws")
        if os.access(path, os.X_OK) and path not in candidates:
            candidates.append(path)
    for path in candidates:
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if (out.stdout + out.stderr).startswith("aws-cli/2"):
            return path
    return None


def test_aws_logs_tail_and_follow(srv, lam, logging_fn, tmp_path):
    aws = find_aws_v2()
    if aws is None:
        pytest.skip("no aws CLI v2 found (`aws logs tail` exists only in v2)")
    env = helpers.aws_cli_env(tmp_path)
    group = f"/aws/lambda/{logging_fn}"
    helpers.invoke(lam, logging_fn, {"tag": "before-tail"})
    base = [aws, "--endpoint-url", srv.url, "logs", "tail", group]
    out = subprocess.run(base + ["--since", "1h"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "hello from before-tail" in out.stdout

    follow = subprocess.Popen(base + ["--follow", "--since", "1m"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(follow.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        marker = "during-follow-" + uuid.uuid4().hex[:6]
        helpers.wait_until(lambda: any("before-tail" in ln for ln in lines), timeout=30,
                           message="tail --follow printed the earlier invocation")
        helpers.invoke(lam, logging_fn, {"tag": marker})
        helpers.wait_until(lambda: any(marker in ln for ln in lines), timeout=30,
                           message="tail --follow printed the new invocation")
        assert follow.poll() is None
    finally:
        follow.terminate()
        follow.wait(timeout=10)
    # Each event once, even though --follow polls overlapping windows.
    assert sum("hello from before-tail" in ln for ln in lines) == 1
