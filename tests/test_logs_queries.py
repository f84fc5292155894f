"""CloudWatch Logs as tools query it: FilterLogEvents with JSON and space-delimited filter
patterns over a function's structured logs, multi-line records (a traceback, a multi-line
`logging` record, a node error) stored as one event, Logs Insights queries (StartQuery,
GetQueryResults, StopQuery, DescribeQueries) and metric filters."""

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

import helpers

STRUCTURED = """
import json, logging
logging.getLogger().setLevel(logging.INFO)

def handler(event, context):
    for i, level in enumerate(["INFO", "ERROR", "INFO"]):
        print(json.dumps({"level": level, "latency": 100 * (i + 1),
                          "user": {"id": i, "tags": ["a", "b"]}, "ok": level == "INFO"}))
    print('127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534')
    print('10.0.0.2 - - [10/Oct/2000:13:25:16 -0700] "GET /a.png HTTP/1.0" 200 99')
    if event.get("log"):
        logging.info("first line\\nsecond line\\nthird line")
    if event.get("fail"):
        raise ValueError("no such order")
    print("plain one\\nplain two")
    return "ok"
"""

NODE = """
exports.handler = async (event) => {
  console.error(new Error('broken widget'));
  if (event.fail) { throw new TypeError('bad input'); }
  return 'ok';
};
"""


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
def structured(lam):
    name = helpers.unique_name("structured")
    helpers.create_function(lam, name, helpers.make_zip({"app.py": STRUCTURED}))
    helpers.wait_active(lam, name)
    helpers.invoke(lam, name, {"log": True})
    return name


def messages(logs, group, pattern):
    events = logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]
    return [e["message"].strip() for e in events]


def test_json_filter_patterns_over_structured_logs(logs, structured):
    group = f"/aws/lambda/{structured}"
    errors = messages(logs, group, '{ $.level = "ERROR" }')
    assert [json.loads(m)["latency"] for m in errors] == [200]
    assert len(messages(logs, group, "{ $.latency > 150 }")) == 2
    assert len(messages(logs, group, '{ $.level = "INFO" && $.latency >= 300 }')) == 1
    assert len(messages(logs, group, '{ ($.level = "ERROR") || ($.user.id = 0) }')) == 2
    assert len(messages(logs, group, '{ $.user.tags[1] = "b" }')) == 3
    assert len(messages(logs, group, "{ $.ok IS FALSE }")) == 1
    assert len(messages(logs, group, "{ $.missing NOT EXISTS }")) == 3
    assert len(messages(logs, group, "{ $.level != INF* }")) == 1
    assert len(messages(logs, group, "{ $.level = %^E.*R$% }")) == 1


def test_space_delimited_filter_patterns(logs, structured):
    group = f"/aws/lambda/{structured}"
    found = messages(logs, group, "[ip, user, username, timestamp, request, status_code = 4*, bytes > 1000]")
    assert len(found) == 1 and found[0].startswith("127.0.0.1")
    found = messages(logs, group, "[ip != 127.0.0.1, ..., status_code = 200, bytes]")
    assert len(found) == 1 and found[0].startswith("10.0.0.2")
    assert messages(logs, group, "[ip, user, ..., status_code = 500]") == []


def test_bad_filter_patterns_are_refused(logs, structured):
    group = f"/aws/lambda/{structured}"
    for bad in ["{ $.level = }", "{ $.a > abc }", "[a, b = ]", "{ (((( $.a = 1 }", "%(%"]:
        with pytest.raises(ClientError) as exc:
            logs.filter_log_events(logGroupName=group, filterPattern=bad)
        err = exc.value.response["Error"]
        assert err["Code"] == "InvalidParameterException", bad
        assert err["Message"] == "Invalid filter pattern", bad


def events_of(logs, group):
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    out = []
    for s in streams:
        out += logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"],
                                   startFromHead=True)["events"]
    return [e["message"] for e in out]


def test_python_traceback_and_multiline_logging_record_are_one_event(lam, logs):
    name = helpers.unique_name("tb")
    helpers.create_function(lam, name, helpers.make_zip({"app.py": STRUCTURED}))
    helpers.wait_active(lam, name)
    out = helpers.invoke(lam, name, {"fail": True, "log": True})
    assert out.function_error == "Unhandled"
    msgs = events_of(logs, f"/aws/lambda/{name}")
    tracebacks = [m for m in msgs if "Traceback (most recent call last):" in m]
    assert len(tracebacks) == 1, msgs
    tb = tracebacks[0]
    assert tb.startswith("[ERROR] ValueError: no such order\nTraceback (most recent call last):\n")
    assert 'raise ValueError("no such order")' in tb
    records = [m for m in msgs if "first line" in m]
    assert len(records) == 1 and records[0].rstrip().endswith("first line\nsecond line\nthird line")
    assert records[0].startswith("[INFO]\t")
    # The tail shows the same lines as before, without framing.
    assert "[ERROR] ValueError: no such order" in out.log_lines
    assert not any("\x1e" in line for line in out.log_lines)


def test_print_lines_stay_one_event_each(lam, logs, structured):
    msgs = [m.strip() for m in events_of(logs, f"/aws/lambda/{structured}")]
    assert "plain one" in msgs and "plain two" in msgs


def test_node_error_is_one_event(lam, logs, new_function_in):
    name = new_function_in(lam, NODE)
    out = helpers.invoke(lam, name, {"fail": True})
    assert out.function_error == "Unhandled"
    msgs = events_of(logs, f"/aws/lambda/{name}")
    logged = [m for m in msgs if "broken widget" in m]
    assert len(logged) == 1, msgs
    assert "\tERROR\tError: broken widget\n    at " in logged[0]
    invoke_error = [m for m in msgs if "bad input" in m]
    assert len(invoke_error) == 1 and "TypeError" in invoke_error[0]


@pytest.fixture
def new_function_in():
    created = []

    def make(lam, source):
        name = helpers.unique_name("node")
        helpers.create_function(lam, name, helpers.make_zip({"index.js": source}),
                                Runtime="nodejs20.x", Handler="index.handler")
        helpers.wait_active(lam, name)
        created.append((lam, name))
        return name

    yield make
    for lam, name in created:
        lam.delete_function(FunctionName=name)


def run_query(logs, group, query, **kw):
    now = int(time.time())
    qid = logs.start_query(logGroupName=group, startTime=now - 3600, endTime=now + 60,
                           queryString=query, **kw)["queryId"]
    for _ in range(600):
        resp = logs.get_query_results(queryId=qid)
        if resp["status"] not in ("Scheduled", "Running"):
            return qid, resp
        time.sleep(0.05)
    raise AssertionError("query did not finish")


def rows(resp):
    return [{c["field"]: c["value"] for c in row} for row in resp["results"]]


def test_insights_stats_by_bin_over_report_lines(lam, logs, structured):
    for _ in range(2):
        helpers.invoke(lam, structured, {})
    group = f"/aws/lambda/{structured}"
    _, resp = run_query(
        logs, group,
        'filter @type = "REPORT" | stats count(*) as invocations, avg(@duration) as avgDuration, '
        "max(@maxMemoryUsed / 1000 / 1000) as maxMB, pct(@billedDuration, 90) by bin(5m) "
        "| sort invocations desc")
    assert resp["status"] == "Complete"
    result = rows(resp)
    assert sum(int(r["invocations"]) for r in result) == 3
    first = result[0]
    assert float(first["avgDuration"]) > 0
    assert 0 < float(first["maxMB"]) <= 128
    assert "pct(@billedDuration, 90)" in first
    assert first["bin(5m)"].endswith(":00.000")
    stats = resp["statistics"]
    assert stats["recordsScanned"] >= stats["recordsMatched"] == 3
    assert stats["bytesScanned"] > 0


def test_insights_fields_filter_parse_sort_limit(logs, structured):
    group = f"/aws/lambda/{structured}"
    _, resp = run_query(
        logs, group,
        "fields @timestamp, level, latency, user.id | filter level in ['INFO', 'ERROR'] "
        "and latency >= 100 and latency < 300 | sort latency desc | limit 2")
    result = rows(resp)
    # Every invocation logs latencies 100 (INFO), 200 (ERROR) and 300 (INFO).
    assert [r["latency"] for r in result] == ["200", "200"]
    assert all(r["level"] == "ERROR" and r["user.id"] == "1" for r in result)
    assert all("@ptr" in r and "@timestamp" in r for r in result)

    _, resp = run_query(
        logs, group,
        "parse @message '* - * [*] \"* * *\" * *' as ip, user, when, verb, path, proto, status, size "
        "| filter ispresent(status) and @message like /HTTP/ | display ip, path, status | sort ip")
    found = [(r["ip"], r["path"], r["status"]) for r in rows(resp)]
    # Sorted by ip, one pair of access lines per invocation.
    assert found == sorted(found) and len(found) % 2 == 0
    assert set(found) == {("10.0.0.2", "/a.png", "200"), ("127.0.0.1", "/index.html", "404")}
    assert all(set(r) == {"ip", "path", "status", "@ptr"} for r in rows(resp))
    _, resp = run_query(
        logs, group,
        r"parse @message /(?<ip>\d+\.\d+\.\d+\.\d+) .* (?<code>\d{3}) \d+$/ "
        "| stats count(*) as n by code | sort code", limit=1)
    assert rows(resp) == [{"code": "200", "n": str(len(found) // 2)}]


def test_insights_errors_and_describe_and_stop(logs, structured):
    group = f"/aws/lambda/{structured}"
    now = int(time.time())
    for bad in ["fields @message | bogus", "filter (a = 1", "stats @duration", "limit 0"]:
        with pytest.raises(ClientError) as exc:
            logs.start_query(logGroupName=group, startTime=now - 60, endTime=now, queryString=bad)
        assert exc.value.response["Error"]["Code"] == "MalformedQueryException", bad
    with pytest.raises(ClientError) as exc:
        logs.start_query(logGroupName=group, startTime=now - 60, endTime=now,
                         queryString="fields @message | bogus")
    assert exc.value.response["Error"]["Message"] == \
        "unexpected symbol found bogus at line 1 and position 19"
    with pytest.raises(ClientError) as exc:
        logs.start_query(logGroupName="/no/such/" + uuid.uuid4().hex, startTime=now - 60,
                         endTime=now, queryString="fields @message")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        logs.get_query_results(queryId=str(uuid.uuid4()))
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"

    qid, resp = run_query(logs, group, "fields @message | limit 1")
    assert resp["status"] == "Complete"
    described = logs.describe_queries(logGroupName=group)["queries"]
    mine = [q for q in described if q["queryId"] == qid]
    assert mine and mine[0]["status"] == "Complete" and mine[0]["queryString"] == "fields @message | limit 1"
    assert all(q["status"] == "Complete" for q in logs.describe_queries(status="Complete")["queries"])
    # A finished query cannot be stopped.
    assert logs.stop_query(queryId=qid)["success"] is False


def test_metric_filter_crud_and_test(logs, structured):
    group = f"/aws/lambda/{structured}"
    logs.put_metric_filter(
        logGroupName=group, filterName="latency", filterPattern='{ $.level = "INFO" }',
        metricTransformations=[{"metricName": "Latency", "metricNamespace": "Shop",
                                "metricValue": "$.latency", "unit": "Milliseconds"}])
    logs.put_metric_filter(
        logGroupName=group, filterName="notfound",
        filterPattern="[ip, user, username, timestamp, request, status_code = 404, bytes]",
        metricTransformations=[{"metricName": "NotFound", "metricNamespace": "Shop",
                                "metricValue": "1", "defaultValue": 0}])
    got = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
    assert [f["filterName"] for f in got] == ["latency", "notfound"]
    assert got[0]["metricTransformations"][0] == {
        "metricName": "Latency", "metricNamespace": "Shop", "metricValue": "$.latency",
        "unit": "Milliseconds"}
    assert got[0]["logGroupName"] == group and got[0]["creationTime"] > 0
    assert [f["filterName"] for f in logs.describe_metric_filters(
        metricName="NotFound", metricNamespace="Shop")["metricFilters"]] == ["notfound"]
    assert [f["filterName"] for f in logs.describe_metric_filters(
        logGroupName=group, filterNamePrefix="lat")["metricFilters"]] == ["latency"]
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert groups[0]["metricFilterCount"] == 2

    with pytest.raises(ClientError) as exc:
        logs.put_metric_filter(logGroupName=group, filterName="bad", filterPattern="{ $.a = ",
                               metricTransformations=[{"metricName": "m", "metricNamespace": "n",
                                                       "metricValue": "1"}])
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.put_metric_filter(logGroupName="/no/such/" + uuid.uuid4().hex, filterName="x",
                               filterPattern="", metricTransformations=[
                                   {"metricName": "m", "metricNamespace": "n", "metricValue": "1"}])
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert len(logs.describe_metric_filters(logGroupName=group)["metricFilters"]) == 2

    logs.delete_metric_filter(logGroupName=group, filterName="latency")
    with pytest.raises(ClientError) as exc:
        logs.delete_metric_filter(logGroupName=group, filterName="latency")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert [f["filterName"] for f in logs.describe_metric_filters(logGroupName=group)["metricFilters"]] == ["notfound"]

    matches = logs.test_metric_filter(
        filterPattern='{ $.level = "ERROR" && $.latency > 10 }',
        logEventMessages=['{"level": "INFO", "latency": 5}', '{"level": "ERROR", "latency": 20}', "text"],
    )["matches"]
    assert matches == [{"eventNumber": 2, "eventMessage": '{"level": "ERROR", "latency": 20}',
                        "extractedValues": {"$.level": "ERROR", "$.latency": "20"}}]
    matches = logs.test_metric_filter(filterPattern="[ip, ..., code = 404, size]",
                                      logEventMessages=["1.2.3.4 x y 404 10", "1.2.3.4 x 200 1"])["matches"]
    assert [m["eventNumber"] for m in matches] == [1]
    assert matches[0]["extractedValues"] == {"$ip": "1.2.3.4", "$code": "404", "$size": "10"}


EMF_AND_JSON = """
import json, time

def handler(event, context):
    print(json.dumps({"level": "INFO", "latency": event["latency"]}))
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": event["namespace"], "Dimensions": [["Service"]],
            "Metrics": [{"Name": "Orders", "Unit": "Count"}]}]},
        "Service": "checkout", "Orders": 3}))
    return "ok"
"""


def test_metric_filters_and_embedded_metrics_become_cloudwatch_metrics(srv, lam, logs):
    import datetime
    cw = srv.client("cloudwatch")
    name = helpers.unique_name("emf")
    namespace = "Shop" + uuid.uuid4().hex[:8]
    helpers.create_function(lam, name, helpers.make_zip({"app.py": EMF_AND_JSON}))
    helpers.wait_active(lam, name)
    group = f"/aws/lambda/{name}"
    # The group exists once the function has logged; the filter then applies to what follows.
    helpers.invoke(lam, name, {"latency": 1, "namespace": namespace})
    deadline = time.time() + 10  # the log writer may still be flushing the first events
    while not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        assert time.time() < deadline, f"{group} never appeared"
        time.sleep(0.1)
    logs.put_metric_filter(
        logGroupName=group, filterName="latency", filterPattern='{ $.level = "INFO" }',
        metricTransformations=[{"metricName": "Latency", "metricNamespace": namespace,
                                "metricValue": "$.latency", "unit": "Milliseconds"}])
    for latency in (40, 60):
        helpers.invoke(lam, name, {"latency": latency, "namespace": namespace})
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
    start = end - datetime.timedelta(minutes=10)

    def stats(metric, dims, unit):
        points = cw.get_metric_statistics(
            Namespace=namespace, MetricName=metric, Dimensions=dims, StartTime=start,
            EndTime=end, Period=600, Statistics=["Sum", "SampleCount"], Unit=unit)["Datapoints"]
        return (sum(p["Sum"] for p in points), sum(p["SampleCount"] for p in points))

    deadline = time.time() + 10
    while stats("Latency", [], "Milliseconds") != (100.0, 2.0) and time.time() < deadline:
        time.sleep(0.2)
    # Only the invocations after the filter was put count, as on AWS.
    assert stats("Latency", [], "Milliseconds") == (100.0, 2.0)
    # The EMF lines of all three invocations: 3 orders each, by the declared dimension.
    assert stats("Orders", [{"Name": "Service", "Value": "checkout"}], "Count") == (9.0, 3.0)
    listed = cw.list_metrics(Namespace=namespace)["Metrics"]
    assert {m["MetricName"] for m in listed} == {"Latency", "Orders"}
