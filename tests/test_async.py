"""Asynchronous invocation (InvocationType Event): acceptance and the payload limit, retries of
function errors with one request id, MaximumRetryAttempts, OnSuccess/OnFailure destinations
and AWS's invocation record, zero reserved concurrency, event age, and events that survive a
`kill -9` of the server.

The servers here run with STRATUS_ASYNC_RETRY_DELAY_SECS=1: retries come after 1 s and 2 s
instead of AWS's 1 and 2 minutes."""

import datetime
import json
import re

import pytest
from botocore.exceptions import ClientError

from helpers import (
    INVOKE_CONFIG,
    Records,
    assert_error,
    create_function,
    function_arn,
    make_s3_client,
    recorder_kwargs,
    recorder_zip,
    unique_bucket,
    unique_name,
    wait_active,
    wait_until,
)

FAST_RETRIES = {"STRATUS_ASYNC_RETRY_DELAY_SECS": "1"}
DEADLINE_S = 30
ISO_MS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class Platform:
    """One server with clients, a bucket for records, and recorder functions on it."""

    def __init__(self, srv):
        self.srv = srv
        self.lam = srv.client(**INVOKE_CONFIG)
        self.s3 = make_s3_client(srv.url)
        self.bucket = unique_bucket("rec")
        self.s3.create_bucket(Bucket=self.bucket)

    def reconnect(self, srv):
        self.srv = srv
        self.lam = srv.client(**INVOKE_CONFIG)
        self.s3 = make_s3_client(srv.url)

    def recorder(self, **env):
        """A new recorder function; returns (name, Records for what it writes)."""
        name = unique_name("rec")
        prefix = f"{name}/"
        create_function(self.lam, name, recorder_zip(), **recorder_kwargs(self.bucket, prefix, **env))
        wait_active(self.lam, name)
        return name, Records(self.s3, self.bucket, prefix)

    def event(self, name, payload, **kwargs):
        """Invoke with InvocationType Event; returns (response, request id)."""
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        resp = self.lam.invoke(FunctionName=name, InvocationType="Event", Payload=raw, **kwargs)
        return resp, resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")

    def event_config(self, name, **kwargs):
        self.lam.put_function_event_invoke_config(FunctionName=name, **kwargs)


@pytest.fixture(scope="module")
def platform(module_server_factory):
    return Platform(module_server_factory(env=FAST_RETRIES))


def with_id(rid):
    return lambda r: r["request_id"] == rid


def destination(name):
    return {"Destination": function_arn(name)}


def assert_timestamp(value):
    assert ISO_MS_RE.match(value), value
    when = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - when).total_seconds()) < 120, value


# --- acceptance ---------------------------------------------------------------------


def test_event_invoke_is_accepted_and_runs(platform):
    name, records = platform.recorder()
    payload = {"hello": "async", "n": 1, "nested": {"list": [1, 2, 3]}}
    resp, rid = platform.event(name, payload)
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    assert "FunctionError" not in resp
    assert rid and re.match(r"^[0-9a-f-]{36}$", rid), rid
    [rec] = records.wait_for(1, DEADLINE_S, where=with_id(rid))
    assert rec["event"] == payload
    assert rec["function"] == name
    assert rec["version"] == "$LATEST"


def test_invoke_async_queues_the_event(platform):
    # The deprecated InvokeAsync operation, still in the SDKs: 202 and {"Status": 202}.
    name, records = platform.recorder()
    resp = platform.lam.invoke_async(FunctionName=name, InvokeArgs=json.dumps({"legacy": True}))
    assert resp["Status"] == 202
    rid = resp["ResponseMetadata"]["RequestId"]
    [rec] = records.wait_for(1, DEADLINE_S, where=with_id(rid))
    assert rec["event"] == {"legacy": True}


def test_invoke_async_of_a_missing_function(platform):
    with pytest.raises(ClientError) as e:
        platform.lam.invoke_async(FunctionName=unique_name("missing"), InvokeArgs="{}")
    assert_error(e.value, "ResourceNotFoundException", 404)


def test_event_invoke_of_a_missing_function(platform):
    with pytest.raises(ClientError) as e:
        platform.event(unique_name("missing"), {})
    assert_error(e.value, "ResourceNotFoundException", 404)


def test_event_payload_limit_is_1_mb(platform):
    name, records = platform.recorder()
    limit = 1048576
    too_big = b'"' + b"a" * (limit - 1) + b'"'  # limit + 1 bytes of valid JSON
    with pytest.raises(ClientError) as e:
        platform.event(name, too_big)
    assert_error(
        e.value, "RequestEntityTooLargeException", 413,
        message=f"{limit + 1} byte payload is too large for the Event invocation type (limit {limit} bytes)",
    )
    just_fits = b'"' + b"b" * (limit - 2) + b'"'
    resp, rid = platform.event(name, just_fits)
    assert resp["StatusCode"] == 202
    [rec] = records.wait_for(1, DEADLINE_S, where=with_id(rid))
    assert rec["event"] == "b" * (limit - 2)


# --- retries --------------------------------------------------------------------------


def test_function_errors_are_retried_twice_with_the_same_request_id(platform):
    """No event-invoke config: the defaults, 2 retries (3 attempts), each after a delay that
    doubles (AWS: about 1 and 2 minutes; here 1 and 2 seconds)."""
    name, records = platform.recorder(FAIL="always")
    resp, rid = platform.event(name, {"attempt": "me"})
    assert resp["StatusCode"] == 202
    attempts = records.wait_for(3, DEADLINE_S, where=with_id(rid))
    assert all(a["request_id"] == rid and a["event"] == {"attempt": "me"} for a in attempts)
    # A fourth attempt would come about 3 s after the third.
    attempts = records.assert_stays(3, 4.0)
    times = sorted(a["time"] for a in attempts)
    assert times[1] - times[0] >= 0.8, times
    assert times[2] - times[1] >= 1.6, times


def test_retries_exhausted_record_after_default_retries(platform):
    name, records = platform.recorder(FAIL="always")
    dest, dest_records = platform.recorder()
    platform.event_config(name, DestinationConfig={"OnFailure": destination(dest)})
    resp, rid = platform.event(name, {"job": 42})
    [delivered] = dest_records.wait_for(1, DEADLINE_S)
    record = delivered["event"]
    # The record is sent once the event is finished: no attempt can follow it.
    assert len([r for r in records.all() if r["request_id"] == rid]) == 3
    assert record["version"] == "1.0"
    assert_timestamp(record["timestamp"])
    assert record["requestContext"] == {
        "requestId": rid,
        "functionArn": function_arn(name, "$LATEST"),
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"job": 42}
    assert record["responseContext"] == {
        "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    payload = record["responsePayload"]
    assert payload["errorType"] == "RuntimeError"
    assert payload["errorMessage"] == "intentional failure"
    # The destination runs as an invocation of its own.
    assert delivered["request_id"] != rid
    assert delivered["function"] == dest


def test_maximum_retry_attempts_zero_means_one_attempt(platform):
    name, records = platform.recorder(FAIL="always")
    dest, dest_records = platform.recorder()
    platform.event_config(name, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": destination(dest)})
    resp, rid = platform.event(name, {"once": True})
    [delivered] = dest_records.wait_for(1, DEADLINE_S)
    assert [r["request_id"] for r in records.all()] == [rid]
    record = delivered["event"]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["requestId"] == rid


def test_maximum_retry_attempts_one(platform):
    name, records = platform.recorder(FAIL="always")
    dest, dest_records = platform.recorder()
    platform.event_config(name, MaximumRetryAttempts=1, DestinationConfig={"OnFailure": destination(dest)})
    resp, rid = platform.event(name, {})
    [delivered] = dest_records.wait_for(1, DEADLINE_S)
    assert [r["request_id"] for r in records.all()] == [rid, rid]
    assert delivered["event"]["requestContext"]["approximateInvokeCount"] == 2


# --- destinations ----------------------------------------------------------------------


def test_on_success_and_on_failure_destinations(platform):
    name, records = platform.recorder()
    ok, ok_records = platform.recorder()
    failed, failed_records = platform.recorder()
    platform.event_config(name, MaximumRetryAttempts=0, DestinationConfig={
        "OnSuccess": destination(ok), "OnFailure": destination(failed)})

    _, rid = platform.event(name, {"order": 7})
    [delivered] = ok_records.wait_for(1, DEADLINE_S)
    record = delivered["event"]
    assert set(record) == {"version", "timestamp", "requestContext", "requestPayload",
                           "responseContext", "responsePayload"}
    assert record["version"] == "1.0"
    assert_timestamp(record["timestamp"])
    assert record["requestContext"] == {
        "requestId": rid,
        "functionArn": function_arn(name, "$LATEST"),
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    [ran] = records.all()
    assert record["responsePayload"] == {"recorded": records.keys()[0], "request_id": rid}
    assert ran["request_id"] == rid

    _, bad_rid = platform.event(name, {"fail": True})
    [bad] = failed_records.wait_for(1, DEADLINE_S)
    record = bad["event"]
    assert record["requestContext"]["requestId"] == bad_rid
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"fail": True}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "intentional failure"
    # Each outcome went to its own destination only.
    assert len(ok_records.all()) == 1 and len(failed_records.all()) == 1


def test_destination_to_a_qualified_function(platform):
    name, _ = platform.recorder()
    dest, dest_records = platform.recorder()
    version = platform.lam.publish_version(FunctionName=dest)["Version"]
    platform.event_config(name, DestinationConfig={"OnSuccess": {"Destination": function_arn(dest, version)}})
    _, rid = platform.event(name, {"q": 1})
    [delivered] = dest_records.wait_for(1, DEADLINE_S)
    assert delivered["version"] == version
    assert delivered["event"]["requestContext"]["requestId"] == rid


def test_zero_reserved_concurrency_goes_straight_to_on_failure(platform):
    name, records = platform.recorder()
    dest, dest_records = platform.recorder()
    platform.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    platform.event_config(name, DestinationConfig={"OnFailure": destination(dest)})
    resp, rid = platform.event(name, {"never": "runs"})
    assert resp["StatusCode"] == 202
    [delivered] = dest_records.wait_for(1, DEADLINE_S)
    record = delivered["event"]
    assert record["version"] == "1.0"
    assert_timestamp(record["timestamp"])
    assert record["requestContext"] == {
        "requestId": rid,
        "functionArn": function_arn(name, "$LATEST"),
        "condition": "ZeroReservedConcurrency",
        "approximateInvokeCount": 0,
    }
    assert record["requestPayload"] == {"never": "runs"}
    assert "responseContext" not in record and "responsePayload" not in record
    # The event is finished: the function never ran and never will.
    records.assert_stays(0, 1.0)


def test_event_age_exceeded_when_the_next_retry_would_be_too_late(server_factory):
    """AWS drops an event with condition EventAgeExceeded as soon as its next retry would come
    after MaximumEventAgeInSeconds, even after a single attempt: with the minimum age (60 s)
    and AWS's first retry delay (about a minute), the failure record follows the first attempt
    within seconds. This server keeps AWS's delays (no STRATUS_ASYNC_RETRY_DELAY_SECS)."""
    platform = Platform(server_factory())
    name, records = platform.recorder(FAIL="always")
    dest, dest_records = platform.recorder()
    platform.event_config(name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60,
                          DestinationConfig={"OnFailure": destination(dest)})
    _, rid = platform.event(name, {"old": True})
    records.wait_for(1, DEADLINE_S, where=with_id(rid))
    try:
        [delivered] = dest_records.wait_for(1, 12)
    except AssertionError as e:
        raise AssertionError(
            "no EventAgeExceeded record within 12 s of the first failed attempt, although the "
            f"next retry could only come after the 60 s maximum age ({e})") from None
    record = delivered["event"]
    assert record["requestContext"] == {
        "requestId": rid,
        "functionArn": function_arn(name, "$LATEST"),
        "condition": "EventAgeExceeded",
        "approximateInvokeCount": 1,
    }
    assert record["responseContext"] == {
        "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert len(records.all()) == 1


# --- durability of the queue ------------------------------------------------------------


def test_queued_events_survive_kill_9(server_factory):
    """Events acknowledged with 202 are delivered (at least once) after the server is killed
    with SIGKILL right after accepting them and restarted on the same data."""
    srv = server_factory(env=FAST_RETRIES)
    platform = Platform(srv)
    name, records = platform.recorder(SLEEP_BEFORE=2)
    platform.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    rids = []
    for i in range(10):
        resp, rid = platform.event(name, {"i": i})
        assert resp["StatusCode"] == 202
        rids.append(rid)
    srv.kill()

    srv2 = server_factory(data_dir=srv.data_dir, env=FAST_RETRIES)
    platform.reconnect(srv2)
    records.s3 = platform.s3
    # Let the backlog drain several at a time: with one slot, throttled events back off for up
    # to half their age between tries, which is slow but not what this test is about.
    platform.lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)

    def delivered():
        return {r["request_id"] for r in records.all()}

    try:
        wait_until(lambda: set(rids) <= delivered(), 45, interval=0.5)
    except AssertionError:
        missing = set(rids) - delivered()
        raise AssertionError(
            f"{len(missing)} of 10 acknowledged events were not delivered within 45 s of the "
            f"restart: {sorted(missing)}") from None
    by_id = {r["request_id"]: r["event"] for r in records.all()}
    assert sorted(by_id[rid]["i"] for rid in rids) == list(range(10))
