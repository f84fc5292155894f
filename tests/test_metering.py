"""Metering, cost and metrics: every invocation (throttles included) leaves one record in
`usage.db`; `GET /_stratus/usage` sums a window by function, version, day or hour with the
price table (from the config file and STRATUS_PRICING_* variables); `GET /metrics` serves the
same counts in Prometheus's text format. Records acknowledged before a graceful stop are
there after a restart, and so are those older than the batch window after a `kill -9`."""

import datetime
import json
import math
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from helpers import (
    store_query,
    INVOKE_CONFIG,
    allow_api,
    allow_bucket,
    create_function,
    function_arn,
    invoke,
    make_s3_client,
    make_zip,
    unique_bucket,
    unique_name,
    wait_active,
    wait_until,
)

DEFAULT_PRICES = {
    "request_per_million": 0.2,
    "x86_64_gb_second": 0.0000166667,
    "arm64_gb_second": 0.0000133334,
}

WORKER = '''
import json, os, time

def handler(event, context):
    mode = event.get("mode")
    if mode == "raise":
        raise RuntimeError("boom")
    if mode == "crash":
        os._exit(3)
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
'''

CALLER = '''
import json, boto3

LAM = boto3.client("lambda")

def handler(event, context):
    r = LAM.invoke(FunctionName=event["target"], Payload=b"{}")
    return {"status": r["StatusCode"], "request_id": r["ResponseMetadata"]["RequestId"]}
'''


def http_get(url):
    """(status, headers, body bytes) of an unsigned GET."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def usage(srv, **params):
    query = urllib.parse.urlencode(params)
    status, _, body = http_get(f"{srv.url}/_stratus/usage?{query}")
    assert status == 200, body
    return json.loads(body)


def group(report, key):
    found = [g for g in report["groups"] if g["key"] == key]
    assert len(found) == 1, f"no single group {key!r} in {report['groups']}"
    return found[0]


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-15)


def expected_cost(n, billed_ms, memory_mb, gb_price, prices=DEFAULT_PRICES):
    gb_s = billed_ms / 1000 * memory_mb / 1024
    return gb_s, n * prices["request_per_million"] / 1e6, gb_s * gb_price


def parse_metrics(text):
    """Prometheus text format → {(name, frozenset(labels)): value}; checks every line."""
    samples = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert not line or re.match(r"^# (HELP|TYPE) \S+ .+$", line), line
            continue
        m = line_re.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(label_re.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


@pytest.fixture(scope="module")
def lam(srv):
    return srv.client(**INVOKE_CONFIG)


@pytest.fixture(scope="module")
def once(srv):
    """A client that sends each request exactly once (botocore's `max_attempts` counts
    retries; a throttled call would otherwise reach the server twice)."""
    return srv.client(retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def make_fn(lam):
    def make(code=WORKER, **overrides):
        name = unique_name("meter")
        kwargs = {"Timeout": 10, "MemorySize": 128}
        kwargs.update(overrides)
        create_function(lam, name, make_zip({"app.py": code}), **kwargs)
        wait_active(lam, name)
        return name
    return make


@pytest.fixture(scope="module")
def ran(srv, lam, make_fn):
    """Two functions invoked sequentially (the first of each cold), with their REPORT lines."""
    started = time.time() - 1
    a = make_fn(MemorySize=128)
    b = make_fn(MemorySize=512, Architectures=["arm64"])
    reports = {a: [], b: []}
    for name, n in ((a, 3), (b, 2)):
        for _ in range(n):
            inv = invoke(lam, name, {"sleep": 0.01})
            assert inv.function_error is None, inv
            reports[name].append(inv.report())
    return {"a": a, "b": b, "reports": reports, "from": started}


def test_usage_by_function_counts_bills_and_prices_each_invocation(srv, ran):
    report = usage(srv, **{"from": iso(ran["from"])})
    assert report["group_by"] == "function"
    assert report["currency"] == "USD"
    assert report["prices"] == DEFAULT_PRICES
    for name, memory, price in ((ran["a"], 128, DEFAULT_PRICES["x86_64_gb_second"]),
                                (ran["b"], 512, DEFAULT_PRICES["arm64_gb_second"])):
        reps = ran["reports"][name]
        g = group(report, name)
        assert g["function"] == name and g["version"] is None
        assert g["invocations"] == len(reps)
        assert (g["errors"], g["throttles"], g["timeouts"]) == (0, 0, 0)
        assert g["cold_starts"] == 1
        billed = sum(int(r["billed"]) for r in reps)
        assert g["billed_ms"] == billed
        durations = [float(r["duration"]) for r in reps]
        assert g["billed_ms"] >= sum(durations)
        assert min(durations) - 0.01 <= g["duration_ms"]["p50"] <= max(durations) + 0.01
        assert g["duration_ms"]["p50"] <= g["duration_ms"]["p95"] <= g["duration_ms"]["p99"]
        assert abs(g["duration_ms"]["p99"] - max(durations)) <= 0.01
        init = float(reps[0]["init"])
        assert abs(g["init_duration_ms"]["p50"] - init) <= 0.01
        gb_s, request_cost, compute_cost = expected_cost(len(reps), billed, memory, price)
        assert close(g["gb_seconds"], gb_s)
        assert close(g["request_cost"], request_cost)
        assert close(g["compute_cost"], compute_cost)
        assert close(g["cost"], request_cost + compute_cost)
        assert g["cost"] > 0


def test_usage_by_version_day_and_hour(srv, lam, ran):
    a = ran["a"]
    version = lam.publish_version(FunctionName=a)["Version"]
    lam.create_alias(FunctionName=a, Name="live", FunctionVersion=version)
    invoke(lam, a, {}, Qualifier=version)
    invoke(lam, a, {}, Qualifier="live")
    before = time.time()
    by_version = usage(srv, **{"from": iso(ran["from"]), "group_by": "version"})
    latest = group(by_version, f"{a}:$LATEST")
    assert (latest["function"], latest["version"]) == (a, "$LATEST")
    assert latest["invocations"] == 3
    published = group(by_version, f"{a}:{version}")
    assert published["version"] == version
    assert published["invocations"] == 2
    assert published["cold_starts"] == 1
    start_ms = int(ran["from"] * 1000)
    for group_by, fmt in (("day", "%Y-%m-%d"), ("hour", "%Y-%m-%dT%H:00Z")):
        report = usage(srv, **{"from": str(start_ms), "group_by": group_by})
        assert report["group_by"] == group_by
        expected = {datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(fmt)
                    for t in (ran["from"], before)}
        keys = [g["key"] for g in report["groups"]]
        assert set(keys) <= expected and keys == sorted(keys), keys
        assert all(g["function"] is None and g["version"] is None for g in report["groups"])
        assert sum(g["invocations"] for g in report["groups"]) == report["total"]["invocations"]
        assert report["total"]["invocations"] >= 7
        assert close(sum(g["cost"] for g in report["groups"]), report["total"]["cost"])


def test_errors_timeouts_crashes_and_throttles_are_counted_and_throttles_not_charged(
        srv, lam, once, make_fn):
    started = time.time() - 1
    failing = make_fn(Timeout=1)
    assert invoke(lam, failing, {"mode": "raise"}).function_error == "Unhandled"
    assert invoke(lam, failing, {"sleep": 3}).function_error == "Unhandled"
    assert invoke(lam, failing, {"mode": "crash"}).function_error == "Unhandled"
    assert invoke(lam, failing, {}).function_error is None
    blocked = make_fn()
    lam.put_function_concurrency(FunctionName=blocked, ReservedConcurrentExecutions=0)
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            once.invoke(FunctionName=blocked, Payload=b"{}")
        assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
    report = usage(srv, **{"from": iso(started)})
    f = group(report, failing)
    assert (f["invocations"], f["errors"], f["timeouts"], f["throttles"]) == (4, 3, 1, 0)
    # The timed-out invocation ran (and is billed) for its whole second.
    assert f["billed_ms"] >= 1000
    assert f["cost"] > 0
    b = group(report, blocked)
    assert (b["invocations"], b["errors"], b["throttles"], b["cold_starts"]) == (0, 0, 2, 0)
    assert (b["billed_ms"], b["gb_seconds"]) == (0, 0)
    assert (b["request_cost"], b["compute_cost"], b["cost"]) == (0, 0, 0)
    assert b["duration_ms"] == {"p50": 0, "p95": 0, "p99": 0}


def test_records_carry_trigger_alias_and_outcome(srv, lam, make_fn):
    """The durable records themselves (read from usage.db): each trigger (direct, function,
    async, s3, http), the alias a caller named, and the request id the caller got."""
    target = make_fn()
    s3 = make_s3_client(srv.url)
    bucket = unique_bucket("meter")
    s3.create_bucket(Bucket=bucket)
    allow_bucket(lam, target, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": function_arn(target),
                                          "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"x")
    api = srv.client("apigatewayv2").create_api(
        Name=unique_name("api"), ProtocolType="HTTP", Target=function_arn(target))
    allow_api(lam, target, api["ApiId"])
    status, _, _ = http_get(f"{srv.url}/_aws/execute-api/{api['ApiId']}/hello")
    assert status == 200
    caller = make_fn(code=CALLER, Timeout=30)
    inv = invoke(lam, caller, {"target": target})
    assert inv.function_error is None, inv
    inner_request_id = inv.payload["request_id"]
    event = lam.invoke(FunctionName=target, InvocationType="Event", Payload=b"{}")
    event_id = event["ResponseMetadata"]["RequestId"]
    version = lam.publish_version(FunctionName=target)["Version"]
    lam.create_alias(FunctionName=target, Name="blue", FunctionVersion=version)
    alias_inv = invoke(lam, target, {}, Qualifier="blue")

    def records():
        usage(srv)  # flushes the writer's batch
        return {r["request_id"]: r for r in store_query(
            srv, "usage", "SELECT * FROM invocations WHERE function IN (?, ?)",
            (target, caller))}

    def triggers():
        rows = records()
        by = {}
        for r in rows.values():
            if r["function"] == target:
                by.setdefault(r["trigger"], []).append(r)
        return {"async", "s3", "http"} <= set(by) and rows

    rows = wait_until(triggers, 20, message="the Event, S3 and HTTP invocations' records")
    assert rows[event_id]["trigger"] == "async"
    assert sum(r["trigger"] == "s3" for r in rows.values()) == 1
    assert sum(r["trigger"] == "http" for r in rows.values()) == 1
    outer = rows[inv.request_id]
    assert (outer["function"], outer["trigger"], outer["outcome"]) == (caller, "direct", "success")
    assert outer["cold"] == 1 and outer["init_duration_ms"] > 0
    assert outer["memory_mb"] == 128 and outer["architecture"] == "x86_64"
    assert outer["max_memory_mb"] > 0
    assert outer["billed_ms"] >= outer["duration_ms"]
    inner = rows[inner_request_id]
    assert inner["function"] == target and inner["version"] == "$LATEST"
    if srv.health()[1]["isolation"] == "namespaces":
        assert inner["trigger"] == "function"
    assert rows[event_id]["outcome"] == "success"
    via_alias = rows[alias_inv.request_id]
    assert (via_alias["alias"], via_alias["version"]) == ("blue", version)
    assert rows[inv.request_id]["alias"] is None


def test_bad_parameters_are_rejected(srv):
    for query, needle in (
        ("group_by=week", "group_by"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=1795714200001&to=1795714200000", "later"),
        ("groupBy=day", "groupBy"),
    ):
        status, headers, body = http_get(f"{srv.url}/_stratus/usage?{query}")
        assert status == 400, (query, body)
        err = json.loads(body)
        assert err["__type"] == "ValidationException"
        assert needle in err["message"], (query, err)


def test_empty_window_costs_exactly_zero(srv, ran):
    for params in ({"from": "0", "to": "1000"},
                   {"from": "2001-01-01T00:00:00Z", "to": "2001-01-02T00:00:00Z",
                    "group_by": "hour"}):
        report = usage(srv, **params)
        assert report["groups"] == []
        total = report["total"]
        assert total["cost"] == 0 and total["request_cost"] == 0 and total["compute_cost"] == 0
        assert (total["invocations"], total["throttles"], total["billed_ms"]) == (0, 0, 0)
        assert total["gb_seconds"] == 0
    assert usage(srv, **{"from": "0", "to": "1000"})["from"] == "1970-01-01T00:00:00Z"


def test_metrics_match_what_ran(srv, lam, make_fn, ran):
    slow = make_fn()
    invoke(lam, slow, {})  # warm, so the next call is busy, not starting
    t = threading.Thread(target=invoke, args=(lam, slow, {"sleep": 3}))
    t.start()
    try:
        def busy():
            s = parse_metrics(http_get(f"{srv.url}/metrics")[2].decode())
            return metric(s, "stratus_concurrent_executions", function=slow) == 1 and s
        samples = wait_until(busy, 10, message="the running invocation in the gauges")
        assert metric(samples, "stratus_environments", function=slow, version="$LATEST",
                      state="busy") == 1
    finally:
        t.join()
    status, headers, body = http_get(f"{srv.url}/metrics")
    assert status == 200
    ctype = {k.lower(): v for k, v in headers.items()}["content-type"]
    assert ctype.startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert "# TYPE stratus_duration_seconds histogram" in text
    assert "# TYPE stratus_invocations_total counter" in text
    s = parse_metrics(text)
    a, b = ran["a"], ran["b"]
    fv = {"function": a, "version": "$LATEST"}
    assert metric(s, "stratus_invocations_total", outcome="success", **fv) == 3
    assert metric(s, "stratus_invocations_total", outcome="function_error", **fv) == 0
    assert metric(s, "stratus_errors_total", **fv) == 0
    assert metric(s, "stratus_throttles_total", **fv) == 0
    assert metric(s, "stratus_cold_starts_total", **fv) == 1
    assert metric(s, "stratus_duration_seconds_count", **fv) == 3
    assert metric(s, "stratus_init_duration_seconds_count", **fv) == 1
    buckets = sorted(
        (float(dict(k[1])["le"]), v) for k, v in s.items()
        if k[0] == "stratus_duration_seconds_bucket"
        and {("function", a), ("version", "$LATEST")} <= k[1])
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and buckets[-1] == (math.inf, 3)
    billed = sum(int(r["billed"]) for r in ran["reports"][a])
    assert close(metric(s, "stratus_billed_gb_seconds_total", **fv), billed / 1000 * 128 / 1024)
    assert metric(s, "stratus_invocations_total", function=b, version="$LATEST",
                  outcome="success") == 2
    assert metric(s, "stratus_environments", function=a, version="$LATEST", state="idle") >= 1
    assert metric(s, "stratus_async_queue_depth") is not None
    assert metric(s, "stratus_async_oldest_event_age_seconds") >= 0


def test_metrics_count_errors_and_throttles(srv, lam, once, make_fn):
    name = make_fn()
    invoke(lam, name, {"mode": "raise"})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError):
        once.invoke(FunctionName=name, Payload=b"{}")
    s = parse_metrics(http_get(f"{srv.url}/metrics")[2].decode())
    fv = {"function": name, "version": "$LATEST"}
    assert metric(s, "stratus_invocations_total", outcome="function_error", **fv) == 1
    assert metric(s, "stratus_errors_total", **fv) == 1
    assert metric(s, "stratus_throttles_total", **fv) == 1
    assert metric(s, "stratus_duration_seconds_count", **fv) == 1


def test_custom_prices_and_records_surviving_a_restart(server_factory, tmp_path):
    config = tmp_path / "stratus.toml"
    config.write_text("usage_retention_days = 7\n\n[pricing]\n"
                      "request_per_million = 1000000\nx86_64_gb_second = 1.0\n")
    env = {"STRATUS_CONFIG": str(config), "STRATUS_PRICING_ARM64_GB_SECOND": "2.5"}
    srv = server_factory(env=env)
    prices = {"request_per_million": 1000000.0, "x86_64_gb_second": 1.0, "arm64_gb_second": 2.5}
    empty = usage(srv)
    assert empty["prices"] == prices
    assert empty["groups"] == [] and empty["total"]["cost"] == 0
    lam = srv.client(**INVOKE_CONFIG)
    name = unique_name("meter")
    create_function(lam, name, make_zip({"app.py": WORKER}), MemorySize=256,
                    Architectures=["arm64"])
    wait_active(lam, name)
    billed = sum(int(invoke(lam, name, {}).report()["billed"]) for _ in range(2))
    gb_s = billed / 1000 * 256 / 1024
    g = group(usage(srv), name)
    assert g["invocations"] == 2
    assert close(g["request_cost"], 2.0)
    assert close(g["compute_cost"], gb_s * 2.5)
    assert close(g["cost"], 2.0 + gb_s * 2.5)
    invoke(lam, name, {})  # acknowledged, then straight to a graceful stop
    assert srv.stop() == 0
    again = server_factory(data_dir=srv.data_dir, env=env)
    after = group(usage(again), name)
    assert after["invocations"] == 3
    assert after["cold_starts"] == 1
    assert after["billed_ms"] >= billed + 1
    # A crash loses at most the batch being gathered: one committed a window ago survives.
    invoke(again.client(**INVOKE_CONFIG), name, {})
    time.sleep(2.5)
    again.kill()
    crashed = server_factory(data_dir=srv.data_dir, env=env)
    assert group(usage(crashed), name)["invocations"] == 4


def test_bad_price_in_config_stops_the_server_from_starting(tmp_path):
    import subprocess
    from conftest import stratus_binary
    config = tmp_path / "bad.toml"
    config.write_text("[pricing]\narm64_gb_second = -1\n")
    proc = subprocess.run(
        [str(stratus_binary()), "serve", "--listen", "127.0.0.1:0", "--data-dir",
         str(tmp_path / "data"), "--config", str(config)],
        capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "arm64_gb_second" in proc.stderr + proc.stdout
