"""CloudWatch metrics and alarms, as boto3 (smithy-rpc-v2-cbor), the aws CLI and a raw AWS JSON
1.0 client use them: the AWS/Lambda metrics the platform meters (by no dimension, FunctionName,
Resource and ExecutedVersion), custom metrics from PutMetricData, metric math, and alarms the
platform evaluates (every 500 ms here: STRATUS_ALARM_EVALUATION_MS) whose actions publish
CloudWatch's notification to an SNS topic, received here through an SQS subscription."""

import datetime
import json
import re
import subprocess

import pytest
from botocore.exceptions import ClientError

from helpers import (
    ACCESS_KEY,
    SECRET_KEY,
    aws_cli_env,
    find_aws_cli,
    http_request,
    invoke,
    make_client,
    make_zip,
    sigv4_headers,
    unique_name,
    wait_until,
)

FAILING = (
    "def handler(event, context):\n"
    "    if event.get('fail'):\n"
    "        raise RuntimeError('asked to fail')\n"
    "    return {'ok': True}\n"
)

UTC = datetime.timezone.utc


def now():
    return datetime.datetime.now(UTC)


@pytest.fixture(scope="module")
def platform(module_server_factory):
    return module_server_factory(env={"STRATUS_ALARM_EVALUATION_MS": "500"})


@pytest.fixture(scope="module")
def cw(platform):
    return make_client(platform.url, "cloudwatch")


@pytest.fixture(scope="module")
def lam(platform):
    return make_client(platform.url, "lambda")


def deploy(lam, code=FAILING):
    name = unique_name("cw")
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Code={"ZipFile": make_zip({"app.py": code})},
    )
    wait_until(lambda: lam.get_function(FunctionName=name)["Configuration"]["State"] == "Active",
               30, message="function active")
    return name


@pytest.fixture(scope="module")
def invoked(lam):
    """A function invoked 4 times through alias `live` (version 1; one of them failing) and 3
    times unqualified ($LATEST; one failing): (name, total invocations)."""
    name = deploy(lam)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for event in [{}, {}, {}, {"fail": True}]:
        invoke(lam, name, event, Qualifier="live")
    for event in [{}, {}, {"fail": True}]:
        invoke(lam, name, event)
    return name


def window():
    return {"StartTime": now() - datetime.timedelta(minutes=10),
            "EndTime": now() + datetime.timedelta(minutes=1)}


def stat(cw, metric, dims, statistic="Sum", **kw):
    args = {"Namespace": "AWS/Lambda", "MetricName": metric, "Period": 60,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()], **window(), **kw}
    if statistic.startswith("p"):
        args["ExtendedStatistics"] = [statistic]
    else:
        args["Statistics"] = [statistic]
    points = cw.get_metric_statistics(**args)["Datapoints"]
    if statistic.startswith("p"):
        return [p["ExtendedStatistics"][statistic] for p in points], points
    return [p[statistic] for p in points], points


def test_lambda_metrics_by_each_dimension(cw, invoked):
    name = invoked
    values, points = stat(cw, "Invocations", {"FunctionName": name})
    assert sum(values) == 7
    assert all(p["Unit"] == "Count" for p in points)
    assert all(p["Timestamp"].second == 0 for p in points), "periods start on the minute"
    assert sum(stat(cw, "Errors", {"FunctionName": name})[0]) == 2
    alias = {"FunctionName": name, "Resource": f"{name}:live"}
    assert sum(stat(cw, "Invocations", alias)[0]) == 4
    assert sum(stat(cw, "Errors", alias)[0]) == 1
    executed = {**alias, "ExecutedVersion": "1"}
    assert sum(stat(cw, "Invocations", executed)[0]) == 4
    assert sum(stat(cw, "Invocations", {})[0]) >= 7, "account-wide"
    assert sum(stat(cw, "Errors", {"FunctionName": name}, "SampleCount")[0]) == 7
    durations, points = stat(cw, "Duration", {"FunctionName": name}, "p99")
    assert durations and all(d > 0 for d in durations)
    assert all(p["Unit"] == "Milliseconds" for p in points)
    maximum = max(stat(cw, "Duration", {"FunctionName": name}, "Maximum")[0])
    assert max(durations) <= maximum
    peak = stat(cw, "ConcurrentExecutions", {"FunctionName": name}, "Maximum")[0]
    assert peak and max(peak) >= 1
    assert stat(cw, "Invocations", {"FunctionName": "no-such-function"})[0] == []


def test_get_metric_data_with_math(cw, invoked):
    dims = [{"Name": "FunctionName", "Value": invoked}]

    def query(qid, metric, st):
        return {"Id": qid, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims},
            "Period": 600, "Stat": st}}
    got = cw.get_metric_data(
        MetricDataQueries=[
            query("invocations", "Invocations", "Sum"),
            query("errors", "Errors", "Sum"),
            {"Id": "rate", "Expression": "100 * errors / invocations", "Label": "error rate"},
            {**query("p90", "Duration", "p90"), "ReturnData": True},
        ],
        StartTime=now() - datetime.timedelta(minutes=20), EndTime=now() + datetime.timedelta(minutes=1),
    )["MetricDataResults"]
    by_id = {r["Id"]: r for r in got}
    assert set(by_id) == {"rate", "p90"}, "ReturnData false hides a query"
    rate = by_id["rate"]
    assert rate["Label"] == "error rate" and rate["StatusCode"] == "Complete"
    assert len(rate["Values"]) in (1, 2)
    if len(rate["Values"]) == 1:
        assert rate["Values"][0] == pytest.approx(100 * 2 / 7)
    assert by_id["p90"]["Label"] == "Duration" and by_id["p90"]["Values"][0] > 0
    with pytest.raises(ClientError) as e:
        cw.get_metric_data(MetricDataQueries=[{"Id": "x", "Expression": "SUM(METRICS())"}], **window())
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_list_metrics(cw, invoked):
    got = cw.list_metrics(Namespace="AWS/Lambda",
                          Dimensions=[{"Name": "FunctionName", "Value": invoked}])["Metrics"]
    names = {m["MetricName"] for m in got}
    assert {"Invocations", "Errors", "Duration", "ConcurrentExecutions"} <= names
    assert "Throttles" not in names, "nothing was throttled"
    sets = {tuple(sorted(d["Name"] for d in m["Dimensions"])) for m in got}
    assert sets == {("FunctionName",), ("FunctionName", "Resource"),
                    ("ExecutedVersion", "FunctionName", "Resource")}
    one = cw.list_metrics(Namespace="AWS/Lambda", MetricName="Errors",
                          Dimensions=[{"Name": "Resource", "Value": f"{invoked}:live"}])["Metrics"]
    assert len(one) == 2 and all(m["MetricName"] == "Errors" for m in one)


def test_put_metric_data_round_trip(cw):
    ns = unique_name("App")
    dims = [{"Name": "Service", "Value": "checkout"}]
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Dimensions": dims, "Value": 10.0, "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Values": [20.0, 30.0], "Counts": [2.0, 1.0],
         "Unit": "Milliseconds"},
        {"MetricName": "Orders", "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1,
                                                    "Maximum": 4}},
    ])
    got = cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=dims, Period=60,
                                   Statistics=["SampleCount", "Sum", "Average", "Maximum"], **window())
    total = {k: sum(p[k] for p in got["Datapoints"]) for k in ("SampleCount", "Sum")}
    assert total == {"SampleCount": 4.0, "Sum": 80.0}
    assert got["Label"] == "Latency"
    assert {p["Unit"] for p in got["Datapoints"]} == {"Milliseconds"}
    pct = cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=dims,
                                   Period=3600, ExtendedStatistics=["p50", "p99.9"],
                                   StartTime=now() - datetime.timedelta(minutes=30),
                                   EndTime=now() + datetime.timedelta(minutes=30))["Datapoints"]
    if len(pct) == 1:
        assert pct[0]["ExtendedStatistics"] == {"p50": 20.0, "p99.9": 30.0}
    none = cw.get_metric_statistics(Namespace=ns, MetricName="Latency", Dimensions=dims, Period=60,
                                    Statistics=["Sum"], Unit="Seconds", **window())
    assert none["Datapoints"] == [], "another unit"
    orders = cw.get_metric_statistics(Namespace=ns, MetricName="Orders", Period=60,
                                      Statistics=["Average"], **window())
    assert [p["Average"] for p in orders["Datapoints"]] == [2.5]
    listed = cw.list_metrics(Namespace=ns)["Metrics"]
    assert sorted((m["MetricName"], len(m["Dimensions"])) for m in listed) == [("Latency", 1), ("Orders", 0)]


def code_of(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_validation_errors(cw, platform):
    base = {"Namespace": "AWS/Lambda", "MetricName": "Invocations", "Period": 60}
    code, msg, status = code_of(cw.get_metric_statistics, **base, Statistics=["Sum"],
                                StartTime=now(), EndTime=now() - datetime.timedelta(minutes=5))
    assert (code, status) == ("InvalidParameterValue", 400)
    assert msg == "The parameter StartTime must be less than the parameter EndTime."
    code, msg, _ = code_of(cw.get_metric_statistics, **base, Statistics=["Sum"],
                           ExtendedStatistics=["p99"], **window())
    assert code == "InvalidParameterCombination"
    end = now().replace(second=0, microsecond=0)
    code, msg, _ = code_of(cw.get_metric_statistics, **{**base, "Period": 1}, Statistics=["Sum"],
                           StartTime=end - datetime.timedelta(hours=1), EndTime=end)
    assert code == "InvalidParameterCombination"
    assert msg.startswith("You have requested up to 3600 datapoints, which exceeds the limit of 1,440.")
    code, _, _ = code_of(cw.get_metric_statistics, **{**base, "Period": 45}, Statistics=["Sum"], **window())
    assert code == "InvalidParameterValue"
    code, _, _ = code_of(cw.get_metric_statistics, **base, ExtendedStatistics=["p101"], **window())
    assert code == "InvalidParameterValue"
    loose = make_client(platform.url, "cloudwatch", parameter_validation=False)
    code, msg, _ = code_of(loose.get_metric_statistics, Namespace="AWS/Lambda", Period=60,
                           Statistics=["Sum"], **window())
    assert (code, msg) == ("MissingParameter", "The parameter MetricName is required.")
    code, _, _ = code_of(cw.put_metric_data, Namespace="AWS/Lambda",
                         MetricData=[{"MetricName": "Invocations", "Value": 1.0}])
    assert code == "InvalidParameterValue"
    code, _, _ = code_of(cw.put_metric_data, Namespace="App", MetricData=[
        {"MetricName": "m", "Value": 1.0, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}])
    assert code == "InvalidParameterCombination"
    code, _, _ = code_of(cw.put_metric_data, Namespace="App", MetricData=[
        {"MetricName": "m", "Value": 1.0, "Timestamp": now() - datetime.timedelta(days=20)}])
    assert code == "InvalidParameterValue"


def alarm_args(name, fn, topic=None, **kw):
    args = {
        "AlarmName": name, "Namespace": "AWS/Lambda", "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": fn}], "Statistic": "Sum",
        "Period": 60, "EvaluationPeriods": 2, "DatapointsToAlarm": 1, "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    if topic:
        args.update(AlarmActions=[topic], OKActions=[topic])
    args.update(kw)
    return args


def state_of(cw, name):
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_alarm_on_errors_goes_ok_then_alarm_and_notifies(platform, cw, lam):
    sns = make_client(platform.url, "sns")
    sqs = make_client(platform.url, "sqs")
    topic = sns.create_topic(Name=unique_name("alarms"))["TopicArn"]
    queue = sqs.create_queue(QueueName=unique_name("alarms"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    fn = deploy(lam)
    name = unique_name("errors-alarm")
    # 10-second periods: alarms judge complete periods only, so a datapoint counts once its
    # period has ended.
    cw.put_metric_alarm(**alarm_args(name, fn, topic, AlarmDescription="errors of " + fn, Period=10))
    alarm = state_of(cw, name)
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"
    assert alarm["ActionsEnabled"] is True and alarm["TreatMissingData"] == "missing"
    invoke(lam, fn, {})
    wait_until(lambda: state_of(cw, name)["StateValue"] == "OK", 30, message="alarm OK")
    invoke(lam, fn, {"fail": True})
    alarm = wait_until(lambda: (a := state_of(cw, name))["StateValue"] == "ALARM" and a, 30,
                       message="alarm ALARM")
    assert re.fullmatch(
        r"Threshold Crossed: 1 out of the last 2 datapoints \[1\.0 \(\d\d/\d\d/\d\d \d\d:\d\d:\d0\)\] "
        r"was greater than the threshold \(0\.0\) \(minimum 1 datapoint for OK -> ALARM transition\)\.",
        alarm["StateReason"]), alarm["StateReason"]
    data = json.loads(alarm["StateReasonData"])
    assert data["version"] == "1.0" and data["statistic"] == "Sum" and data["period"] == 10
    assert 1.0 in data["recentDatapoints"] and data["threshold"] == 0.0

    def notifications():
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in msgs:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in msgs]
    seen = []
    wait_until(lambda: seen.extend(notifications()) or any(
        json.loads(n["Message"])["NewStateValue"] == "ALARM" for n in seen), 30, message="ALARM notification")
    envelope = next(n for n in seen if json.loads(n["Message"])["NewStateValue"] == "ALARM")
    assert envelope["Subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    msg = json.loads(envelope["Message"])
    assert msg["AlarmName"] == name and msg["OldStateValue"] == "OK"
    assert msg["AlarmDescription"] == "errors of " + fn
    assert msg["NewStateReason"] == alarm["StateReason"]
    assert msg["AWSAccountId"] == "000000000000" and msg["Region"] == "US East (N. Virginia)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", msg["StateChangeTime"])
    assert msg["AlarmActions"] == [topic]
    trigger = msg["Trigger"]
    assert trigger["MetricName"] == "Errors" and trigger["Statistic"] == "SUM"
    assert trigger["StatisticType"] == "Statistic" and trigger["Threshold"] == 0.0
    assert trigger["Dimensions"] == [{"value": fn, "name": "FunctionName"}]
    history = cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    kinds = [h["HistoryItemType"] for h in history]
    assert "ConfigurationUpdate" in kinds and "Action" in kinds
    updates = [h["HistorySummary"] for h in history if h["HistoryItemType"] == "StateUpdate"]
    assert updates[:2] == ["Alarm updated from OK to ALARM", "Alarm updated from INSUFFICIENT_DATA to OK"]
    actions = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert actions and actions[0]["HistorySummary"] == f"Successfully executed action {topic}"
    cw.delete_alarms(AlarmNames=[name])


def rate_alarm(name, fn, **kw):
    """An alarm on the error rate of `fn` in percent, `100 * errors / invocations > 20`."""
    def metric(qid, metric):
        return {"Id": qid, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
                       "Dimensions": [{"Name": "FunctionName", "Value": fn}]},
            "Period": 10, "Stat": "Sum"}}
    args = {
        "AlarmName": name, "EvaluationPeriods": 1, "Threshold": 20.0,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "Metrics": [
            {"Id": "rate", "Expression": "100 * errors / invocations", "Label": "error rate",
             "ReturnData": True},
            metric("errors", "Errors"),
            metric("invocations", "Invocations"),
        ],
    }
    args.update(kw)
    return args


def test_metric_math_alarm_on_the_error_rate(cw, lam):
    fn = deploy(lam)
    name = unique_name("rate-alarm")
    cw.put_metric_alarm(**rate_alarm(name, fn))
    alarm = state_of(cw, name)
    assert "MetricName" not in alarm and "Period" not in alarm
    assert [m["Id"] for m in alarm["Metrics"]] == ["rate", "errors", "invocations"]
    assert alarm["Metrics"][0]["ReturnData"] is True and alarm["Metrics"][1]["ReturnData"] is False
    assert alarm["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "FunctionName", "Value": fn}]
    # Half the invocations fail: 50 % > 20 % (at least 33 % in any period they fall in).
    for event in [{"fail": True}, {}, {"fail": True}, {}]:
        invoke(lam, fn, event)
    alarm = wait_until(lambda: (a := state_of(cw, name))["StateValue"] == "ALARM" and a, 40,
                       message="rate alarm ALARM")
    assert re.fullmatch(
        r"Threshold Crossed: 1 out of the last 1 datapoints \[[\d.]+ \(.*\)\] was greater than the "
        r"threshold \(20\.0\) \(minimum 1 datapoint for .* -> ALARM transition\)\.",
        alarm["StateReason"]), alarm["StateReason"]
    data = json.loads(alarm["StateReasonData"])
    assert data["period"] == 10 and "statistic" not in data and data["recentDatapoints"][0] > 20
    # The failures stop: a period of successes (or of nothing, notBreaching) is OK.
    def calm():
        invoke(lam, fn, {})
        return state_of(cw, name)["StateValue"] == "OK"
    wait_until(calm, 40, interval=0.5, message="rate alarm OK")
    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert history[0]["HistorySummary"] == "Alarm updated from ALARM to OK"
    cw.delete_alarms(AlarmNames=[name])


def test_metric_math_alarm_validation(cw):
    fn = unique_name("quiet")
    name = unique_name("bad-math")

    def refused(**changes):
        args = rate_alarm(name, fn)
        for k, v in changes.items():
            args[k] = v
        code, msg, status = code_of(cw.put_metric_alarm, **args)
        assert status == 400
        return code, msg
    assert refused(MetricName="Errors", Namespace="AWS/Lambda") == (
        "ValidationError", "MetricName should not be set if list of Metrics is set.")
    metrics = rate_alarm(name, fn)["Metrics"]
    two = [dict(metrics[0]), {**metrics[1], "ReturnData": True}, metrics[2]]
    assert refused(Metrics=two) == ("ValidationError", "Exactly one element of the metrics list should return data.")
    none = [{**metrics[0], "ReturnData": False}, metrics[1], metrics[2]]
    assert refused(Metrics=none)[0] == "ValidationError"
    unknown = [{**metrics[0], "Expression": "errors / calls"}, metrics[1], metrics[2]]
    code, msg = refused(Metrics=unknown)
    assert code == "ValidationError" and "calls" in msg
    both = [metrics[0], {**metrics[1], "Expression": "1"}, metrics[2]]
    assert refused(Metrics=both)[0] == "InvalidParameterCombination"
    assert cw.describe_alarms(AlarmNames=[name])["MetricAlarms"] == [], "nothing was stored"


def test_alarm_operations(platform, cw, lam):
    fn = unique_name("quiet")
    names = [unique_name("ops-a"), unique_name("ops-b")]
    for n in names:
        cw.put_metric_alarm(**alarm_args(n, fn, ActionsEnabled=False, TreatMissingData="ignore"))
    cw.set_alarm_state(AlarmName=names[0], StateValue="ALARM", StateReason="testing",
                       StateReasonData=json.dumps({"why": "test"}))
    first = state_of(cw, names[0])
    assert (first["StateValue"], first["StateReason"]) == ("ALARM", "testing")
    assert json.loads(first["StateReasonData"]) == {"why": "test"}
    in_alarm = cw.describe_alarms(AlarmNamePrefix="ops-", StateValue="ALARM")["MetricAlarms"]
    assert names[0] in [a["AlarmName"] for a in in_alarm] and names[1] not in [a["AlarmName"] for a in in_alarm]
    page = cw.describe_alarms(AlarmNames=names, MaxRecords=1)
    assert len(page["MetricAlarms"]) == 1 and page["NextToken"]
    rest = cw.describe_alarms(AlarmNames=names, MaxRecords=1, NextToken=page["NextToken"])
    assert [a["AlarmName"] for a in page["MetricAlarms"] + rest["MetricAlarms"]] == sorted(names)
    assert "NextToken" not in rest
    cw.enable_alarm_actions(AlarmNames=[names[1]])
    assert state_of(cw, names[1])["ActionsEnabled"] is True
    cw.disable_alarm_actions(AlarmNames=[names[1]])
    assert state_of(cw, names[1])["ActionsEnabled"] is False
    for_metric = cw.describe_alarms_for_metric(
        Namespace="AWS/Lambda", MetricName="Errors", Dimensions=[{"Name": "FunctionName", "Value": fn}])
    assert sorted(a["AlarmName"] for a in for_metric["MetricAlarms"]) == sorted(names)
    # An update keeps the state.
    cw.put_metric_alarm(**alarm_args(names[0], fn, Threshold=5.0, ActionsEnabled=False,
                                     TreatMissingData="ignore"))
    updated = state_of(cw, names[0])
    assert updated["Threshold"] == 5.0 and updated["StateValue"] == "ALARM"
    code, _, status = code_of(cw.set_alarm_state, AlarmName="no-such-alarm", StateValue="OK", StateReason="x")
    assert (code, status) == ("ResourceNotFound", 404)
    code, _, _ = code_of(cw.set_alarm_state, AlarmName=names[0], StateValue="OK", StateReason="x",
                         StateReasonData="{not json")
    assert code == "InvalidFormat"
    code, _, _ = code_of(cw.put_metric_alarm, **alarm_args(unique_name("bad"), fn, Period=45))
    assert code == "InvalidParameterValue"
    code, _, _ = code_of(cw.put_metric_alarm, **alarm_args(unique_name("bad"), fn, DatapointsToAlarm=3))
    assert code == "InvalidParameterValue"
    code, _, _ = code_of(cw.delete_alarms, AlarmNames=[names[0], "no-such-alarm"])
    assert code == "ResourceNotFound"
    assert len(cw.describe_alarms(AlarmNames=names)["MetricAlarms"]) == 2, "nothing deleted"
    cw.delete_alarms(AlarmNames=names)
    assert cw.describe_alarms(AlarmNames=names)["MetricAlarms"] == []


def test_json_protocol_and_its_errors(platform, invoked):
    def call(op, body):
        raw = json.dumps(body).encode()
        headers = sigv4_headers("POST", platform.url + "/", raw, service="monitoring")
        headers["x-amz-target"] = f"GraniteServiceVersion20100801.{op}"
        return http_request("POST", platform.url + "/", headers, raw)
    start = (now() - datetime.timedelta(minutes=10)).timestamp()
    status, headers, body = call("GetMetricStatistics", {
        "Namespace": "AWS/Lambda", "MetricName": "Invocations", "Period": 60,
        "Dimensions": [{"Name": "FunctionName", "Value": invoked}], "Statistics": ["Sum"],
        "StartTime": start, "EndTime": start + 660})
    assert status == 200 and headers["content-type"] == "application/x-amz-json-1.0"
    points = json.loads(body)["Datapoints"]
    assert sum(p["Sum"] for p in points) == 7
    assert all(isinstance(p["Timestamp"], (int, float)) for p in points), "epoch seconds"
    status, headers, body = call("GetMetricStatistics", {"Namespace": "AWS/Lambda"})
    assert status == 400
    assert json.loads(body)["__type"] == "com.amazonaws.cloudwatch#MissingRequiredParameterException"
    assert headers["x-amzn-query-error"] == "MissingParameter;Sender"
    status, _, body = call("NoSuchOperation", {})
    assert status == 400 and "UnknownOperation" in json.loads(body)["__type"]


def test_aws_cli(platform, invoked, tmp_path):
    cli = find_aws_cli()
    if cli is None:
        pytest.skip("the aws CLI is not installed")
    env = aws_cli_env(tmp_path)

    def aws(*args):
        out = subprocess.run([cli, "--endpoint-url", platform.url, "cloudwatch", *args, "--output", "json"],
                             env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None
    start = (now() - datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now() + datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    got = aws("get-metric-statistics", "--namespace", "AWS/Lambda", "--metric-name", "Errors",
              "--dimensions", f"Name=FunctionName,Value={invoked}", "--statistics", "Sum",
              "--period", "60", "--start-time", start, "--end-time", end)
    assert sum(p["Sum"] for p in got["Datapoints"]) == 2
    alarm = unique_name("cli")
    aws("put-metric-alarm", "--alarm-name", alarm, "--namespace", "AWS/Lambda",
        "--metric-name", "Errors", "--statistic", "Sum", "--period", "60",
        "--evaluation-periods", "1", "--threshold", "1", "--comparison-operator",
        "GreaterThanOrEqualToThreshold", "--dimensions", f"Name=FunctionName,Value={invoked}")
    described = aws("describe-alarms", "--alarm-names", alarm)["MetricAlarms"]
    assert [a["AlarmName"] for a in described] == [alarm]
    aws("delete-alarms", "--alarm-names", alarm)


DEBIAN_AWS = "/usr/bin/aws"


def query_call(platform, params):
    """A raw Query-protocol request (a form POST signed by botocore's signer, as an SDK signs
    it): (status, headers, body text)."""
    import urllib.parse
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    raw = urllib.parse.urlencode({**params, "Version": "2010-08-01"}).encode()
    req = AWSRequest("POST", platform.url + "/", data=raw,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "monitoring", "us-east-1").add_auth(req)
    status, headers, body = http_request("POST", platform.url + "/", dict(req.headers.items()), raw)
    return status, headers, body.decode()


def test_query_protocol_answers_in_xml(platform, invoked):
    start = (now() - datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now() + datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, headers, body = query_call(platform, {
        "Action": "GetMetricStatistics", "Namespace": "AWS/Lambda", "MetricName": "Invocations",
        "Dimensions.member.1.Name": "FunctionName", "Dimensions.member.1.Value": invoked,
        "Statistics.member.1": "Sum", "Period": "60", "StartTime": start, "EndTime": end})
    assert status == 200, body
    assert headers["content-type"] == "text/xml"
    assert body.startswith('<GetMetricStatisticsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">')
    sums = [float(x) for x in re.findall(r"<Sum>([^<]+)</Sum>", body)]
    assert sum(sums) == 7
    assert re.search(r"<Timestamp>\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z</Timestamp>", body)
    assert re.search(r"<ResponseMetadata><RequestId>[^<]+</RequestId></ResponseMetadata>", body)
    status, _, body = query_call(platform, {"Action": "GetMetricStatistics", "Namespace": "AWS/Lambda"})
    assert status == 400
    assert "<Type>Sender</Type><Code>MissingParameter</Code>" in body
    assert body.startswith('<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">')
    status, _, body = query_call(platform, {"Action": "NoSuchThing"})
    assert status == 400 and "<Code>InvalidAction</Code>" in body
    status, _, body = query_call(platform, {"Action": "DescribeAlarms", "MaxRecords": "many"})
    assert status == 400 and "<Code>InvalidParameterValue</Code>" in body


def test_query_protocol_through_the_debian_aws_cli(platform, invoked, tmp_path):
    """Debian's aws CLI v2 carries a model whose only protocol is Query."""
    import os
    if not os.path.exists(DEBIAN_AWS):
        pytest.skip("Debian's aws CLI is not installed")
    env = aws_cli_env(tmp_path)

    def aws(*args, ok=True):
        out = subprocess.run([DEBIAN_AWS, "--endpoint-url", platform.url, "cloudwatch", *args,
                              "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
        if not ok:
            assert out.returncode != 0
            return out.stderr
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None
    probe = subprocess.run([DEBIAN_AWS, "--endpoint-url", platform.url, "cloudwatch", "list-metrics",
                            "--namespace", "AWS/Lambda", "--debug"], env=env, capture_output=True,
                           text=True, timeout=60)
    if "Action': 'ListMetrics'" not in probe.stderr:
        pytest.skip("this aws CLI does not speak the Query protocol")
    start = (now() - datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now() + datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    got = aws("get-metric-statistics", "--namespace", "AWS/Lambda", "--metric-name", "Errors",
              "--dimensions", f"Name=FunctionName,Value={invoked}", "--statistics", "Sum",
              "--period", "60", "--start-time", start, "--end-time", end)
    assert sum(p["Sum"] for p in got["Datapoints"]) == 2
    assert all(p["Timestamp"].endswith(("Z", "+00:00")) for p in got["Datapoints"])
    dims = [{"Name": "FunctionName", "Value": invoked}]
    queries = [
        {"Id": "errors", "ReturnData": False, "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": dims}, "Period": 600, "Stat": "Sum"}},
        {"Id": "invocations", "ReturnData": False, "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "Invocations", "Dimensions": dims}, "Period": 600, "Stat": "Sum"}},
        {"Id": "rate", "Expression": "100 * errors / invocations"},
    ]
    data = aws("get-metric-data", "--metric-data-queries", json.dumps(queries),
               "--start-time", start, "--end-time", end)["MetricDataResults"]
    assert [r["Id"] for r in data] == ["rate"] and data[0]["StatusCode"] == "Complete"
    assert data[0]["Values"] and all(0 < v <= 100 for v in data[0]["Values"])
    listed = aws("list-metrics", "--namespace", "AWS/Lambda", "--dimensions", f"Name=FunctionName,Value={invoked}")
    assert {"Invocations", "Errors"} <= {m["MetricName"] for m in listed["Metrics"]}
    alarm = unique_name("query-cli")
    metrics = rate_alarm(alarm, invoked)["Metrics"]
    aws("put-metric-alarm", "--alarm-name", alarm, "--evaluation-periods", "1", "--threshold", "20",
        "--comparison-operator", "GreaterThanThreshold", "--metrics", json.dumps(metrics),
        "--no-actions-enabled")
    described = aws("describe-alarms", "--alarm-names", alarm)["MetricAlarms"]
    assert [a["AlarmName"] for a in described] == [alarm]
    assert described[0]["ActionsEnabled"] is False and described[0]["Threshold"] == 20.0
    assert [m["Id"] for m in described[0]["Metrics"]] == ["rate", "errors", "invocations"]
    # The evaluator may move it on at once (no data is notBreaching): the history keeps it.
    aws("set-alarm-state", "--alarm-name", alarm, "--state-value", "ALARM", "--state-reason", "testing")
    history = aws("describe-alarm-history", "--alarm-name", alarm)["AlarmHistoryItems"]
    assert {"ConfigurationUpdate", "StateUpdate"} <= {h["HistoryItemType"] for h in history}
    assert any(h["HistorySummary"].endswith("to ALARM") and "testing" in h["HistoryData"]
               for h in history)
    assert all(h["Timestamp"].endswith(("Z", "+00:00")) for h in history)
    ns = unique_name("QueryApp")
    aws("put-metric-data", "--namespace", ns, "--metric-name", "Orders", "--value", "3", "--unit", "Count")
    got = aws("get-metric-statistics", "--namespace", ns, "--metric-name", "Orders", "--statistics", "Sum",
              "SampleCount", "--extended-statistics", "p50", "--period", "60", "--start-time", start,
              "--end-time", end, ok=False)
    assert "InvalidParameterCombination" in got
    got = aws("get-metric-statistics", "--namespace", ns, "--metric-name", "Orders", "--extended-statistics",
              "p50", "--period", "60", "--start-time", start, "--end-time", end)
    assert [p["ExtendedStatistics"]["p50"] for p in got["Datapoints"]] == [3.0]
    err = aws("set-alarm-state", "--alarm-name", "no-such-alarm", "--state-value", "OK",
              "--state-reason", "x", ok=False)
    assert "(ResourceNotFound)" in err
    aws("delete-alarms", "--alarm-names", alarm)
    assert aws("describe-alarms", "--alarm-names", alarm)["MetricAlarms"] == []


def test_async_invocation_metrics(platform, cw, lam):
    """AsyncEventsReceived, AsyncEventAge, AsyncEventsDropped, and the failures to deliver a
    dropped event to its dead-letter queue and its OnFailure destination (queues that do not
    exist)."""
    fn = deploy(lam)
    lam.put_function_event_invoke_config(
        FunctionName=fn, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:" + unique_name("gone")}})
    lam.update_function_configuration(
        FunctionName=fn, DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:000000000000:" + unique_name("gone")})
    wait_until(lambda: lam.get_function(FunctionName=fn)["Configuration"]["LastUpdateStatus"] == "Successful",
               30, message="function updated")
    for event in [{}, {"fail": True}]:
        resp = lam.invoke(FunctionName=fn, InvocationType="Event", Payload=json.dumps(event).encode())
        assert resp["StatusCode"] == 202
    dims = {"FunctionName": fn}

    def total(metric, statistic="Sum"):
        return sum(stat(cw, metric, dims, statistic)[0])
    wait_until(lambda: total("AsyncEventsDropped") == 1, 30, message="AsyncEventsDropped")
    wait_until(lambda: total("DeadLetterErrors") == 1 and total("DestinationDeliveryFailures") == 1,
               30, message="delivery failures")
    assert total("AsyncEventsReceived") == 2
    ages, points = stat(cw, "AsyncEventAge", dims, "SampleCount")
    assert sum(ages) == 2 and all(p["Unit"] == "Milliseconds" for p in points)
    assert min(stat(cw, "AsyncEventAge", dims, "Minimum")[0]) >= 0
    assert sum(stat(cw, "AsyncEventsReceived", {})[0]) >= 2, "account-wide"
    listed = cw.list_metrics(Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": fn}])["Metrics"]
    names = {m["MetricName"] for m in listed}
    assert {"AsyncEventsReceived", "AsyncEventAge", "AsyncEventsDropped", "DeadLetterErrors",
            "DestinationDeliveryFailures", "Invocations"} <= names
