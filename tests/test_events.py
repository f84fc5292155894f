"""EventBridge: buses, rules, targets, PutEvents delivered to functions and topics, the
event-pattern language through TestEventPattern, scheduled rules, AWS's errors, and rules
surviving a restart; through boto3's events client and the aws CLI."""

import json
import subprocess
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from helpers import (
    ACCOUNT,
    REGION,
    Records,
    aws_cli_env,
    create_function,
    find_aws_cli,
    make_s3_client,
    recorder_kwargs,
    recorder_zip,
    unique_bucket,
    unique_name,
    wait_active,
)

DELIVERY_S = 30
# One minute of a rate() schedule lasts a second on this module's server.
MINUTE_MS = 1000


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env={"STRATUS_SCHEDULE_MINUTE_MS": str(MINUTE_MS)})


@pytest.fixture(scope="module")
def events(srv):
    return srv.client("events")


@pytest.fixture(scope="module")
def recorder(srv):
    """A recorder function on the module's server, invocable by EventBridge and SNS:
    (function ARN, Records)."""
    s3 = make_s3_client(srv.url)
    bucket = unique_bucket("evrec")
    s3.create_bucket(Bucket=bucket)
    lam = srv.client("lambda")
    name = unique_name("evrec")
    fn = create_function(lam, name, recorder_zip(), **recorder_kwargs(bucket))
    wait_active(lam, name)
    for sid, principal in (("events", "events.amazonaws.com"), ("sns", "sns.amazonaws.com")):
        lam.add_permission(FunctionName=name, StatementId=sid, Action="lambda:InvokeFunction",
                           Principal=principal)
    return fn["FunctionArn"], Records(s3, bucket)


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error(exc_info):
    r = exc_info.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


def rule_with_target(events, fn_arn, pattern, **target):
    name = uid("rule")
    arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    out = events.put_targets(Rule=name, Targets=[{"Id": "t1", "Arn": fn_arn, **target}])
    assert out["FailedEntryCount"] == 0 and out["FailedEntries"] == []
    return name, arn


def by_source(source):
    return lambda r: isinstance(r["event"], dict) and r["event"].get("source") == source


# --- PutEvents to targets ----------------------------------------------------


def test_put_events_delivers_the_exact_envelope_to_a_function(events, recorder):
    fn_arn, records = recorder
    source = uid("shop")
    _, rule_arn = rule_with_target(events, fn_arn, {"source": [source],
                                                    "detail": {"total": [{"numeric": [">", 100]}]}})
    out = events.put_events(Entries=[
        {"Source": source, "DetailType": "Order Placed", "Detail": json.dumps({"total": 250}),
         "Resources": ["arn:aws:s3:::b"]},
        {"Source": source, "DetailType": "Order Placed", "Detail": json.dumps({"total": 5})},
    ])
    assert out["FailedEntryCount"] == 0
    ids = [e["EventId"] for e in out["Entries"]]
    got = records.wait_for(1, DELIVERY_S, where=by_source(source))
    ev = got[0]["event"]
    assert set(ev) == {"version", "id", "detail-type", "source", "account", "time", "region",
                       "resources", "detail"}
    assert ev["version"] == "0"
    assert ev["id"] == ids[0]
    assert (ev["detail-type"], ev["account"], ev["region"]) == ("Order Placed", ACCOUNT, REGION)
    assert ev["resources"] == ["arn:aws:s3:::b"] and ev["detail"] == {"total": 250}
    assert len(ev["time"]) == 20 and ev["time"].endswith("Z")
    # The second entry matched no rule.
    records.assert_stays(1, 1.5, where=by_source(source))
    assert rule_arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/" + rule_arn.rsplit("/", 1)[1]


def test_input_transformer_input_and_input_path(events, recorder):
    fn_arn, records = recorder
    source = uid("xf")
    marker = uid("m")
    name = uid("rule")
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=name, Targets=[
        {"Id": "tpl", "Arn": fn_arn, "InputTransformer": {
            "InputPathsMap": {"state": "$.detail.state", "n": "$.detail.n"},
            "InputTemplate": '{"marker": "' + marker + '", "text": "state is <state>", '
                             '"state": <state>, "n": <n>, "rule": "<aws.events.rule-name>"}'}},
        {"Id": "const", "Arn": fn_arn, "Input": json.dumps({"marker": marker, "constant": True})},
        {"Id": "path", "Arn": fn_arn, "InputPath": "$.detail"},
    ])
    events.put_events(Entries=[{"Source": source, "DetailType": "t",
                                "Detail": json.dumps({"state": "RUNNING", "n": 3, "marker": marker})}])
    got = records.wait_for(3, DELIVERY_S, where=lambda r: isinstance(r["event"], dict)
                           and r["event"].get("marker") == marker)
    payloads = sorted((r["event"] for r in got), key=lambda e: sorted(e))
    assert {"marker": marker, "text": "state is RUNNING", "state": "RUNNING", "n": 3,
            "rule": name} in payloads
    assert {"marker": marker, "constant": True} in payloads
    assert {"state": "RUNNING", "n": 3, "marker": marker} in payloads


def test_sns_target_publishes_the_event(events, srv, recorder):
    fn_arn, records = recorder
    sns = srv.client("sns")
    topic = sns.create_topic(Name=uid("evtopic"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn_arn)
    source = uid("tosns")
    name = uid("rule")
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=name, Targets=[{"Id": "topic", "Arn": topic}])
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{\"k\": 1}"}])

    def from_topic(r):
        try:
            return json.loads(r["event"]["Records"][0]["Sns"]["Message"])["source"] == source
        except (KeyError, IndexError, TypeError, ValueError):
            return False
    got = records.wait_for(1, DELIVERY_S, where=from_topic)
    sns_record = got[0]["event"]["Records"][0]["Sns"]
    assert sns_record["TopicArn"] == topic
    assert json.loads(sns_record["Message"])["detail"] == {"k": 1}


def test_sqs_target_gets_the_event_as_its_body(events, srv):
    sqs = srv.client("sqs")
    url = sqs.create_queue(QueueName=uid("evq"))["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source, name = uid("tosqs"), uid("rule")
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=name, Targets=[
        {"Id": "whole", "Arn": queue},
        {"Id": "part", "Arn": queue, "InputPath": "$.detail"}])
    events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{\"k\": 7}"}])
    bodies = []
    deadline = time.monotonic() + DELIVERY_S
    while len(bodies) < 2 and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies += [json.loads(m["Body"]) for m in got.get("Messages", [])]
    whole = [b for b in bodies if "detail-type" in b]
    assert len(bodies) == 2 and len(whole) == 1
    assert whole[0]["source"] == source and whole[0]["detail"] == {"k": 7}
    assert {"k": 7} in bodies


def test_disabled_rules_and_custom_buses(events, recorder):
    fn_arn, records = recorder
    bus = uid("bus")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    assert bus_arn == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}"
    source = uid("cb")
    name = uid("rule")
    arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": [source]}),
                          State="DISABLED")["RuleArn"]
    assert arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{bus}/{name}"
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "f", "Arn": fn_arn}])
    entry = {"Source": source, "DetailType": "t", "Detail": "{}", "EventBusName": bus}
    events.put_events(Entries=[entry])
    # Sent to the default bus, or while disabled: not delivered.
    events.put_events(Entries=[{**entry, "EventBusName": "default"}])
    records.assert_stays(0, 1.5, where=by_source(source))
    events.enable_rule(Name=name, EventBusName=bus)
    assert events.describe_rule(Name=name, EventBusName=bus)["State"] == "ENABLED"
    events.put_events(Entries=[{**entry, "EventBusName": bus_arn}])
    records.wait_for(1, DELIVERY_S, where=by_source(source))
    assert events.list_rule_names_by_target(TargetArn=fn_arn, EventBusName=bus)["RuleNames"] == [name]


def test_a_function_without_permission_gets_nothing(events, srv, recorder):
    _, records = recorder
    lam = srv.client("lambda")
    name = unique_name("noperm")
    fn = create_function(lam, name, recorder_zip(), **recorder_kwargs(records.bucket))
    wait_active(lam, name)
    source = uid("noperm")
    rule_with_target(events, fn["FunctionArn"], {"source": [source]})
    out = events.put_events(Entries=[{"Source": source, "DetailType": "t", "Detail": "{}"}])
    assert out["FailedEntryCount"] == 0
    records.assert_stays(0, 2, where=by_source(source))


# --- the pattern language through TestEventPattern --------------------------

EVENT = {
    "id": "1", "account": ACCOUNT, "source": "aws.ec2", "time": "2026-12-06T05:00:00Z",
    "region": REGION, "detail-type": "EC2 Instance State-change Notification",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1"],
    "detail": {"state": "terminated", "c-count": 5, "ip": "10.0.0.7", "file": "a.PNG",
               "tags": ["x", "y"], "empty": None},
}


@pytest.mark.parametrize("pattern,expected", [
    ({"source": ["aws.ec2"]}, True),
    ({"source": ["aws.s3"]}, False),
    ({"detail": {"state": ["running", "terminated"]}}, True),
    ({"detail": {"c-count": [5.0]}}, True),
    ({"detail": {"c-count": ["5"]}}, False),
    ({"detail": {"empty": [None]}}, True),
    ({"detail": {"tags": ["y"]}}, True),
    ({"detail-type": [{"prefix": "EC2"}]}, True),
    ({"detail-type": [{"prefix": {"equals-ignore-case": "ec2 instance"}}]}, True),
    ({"detail": {"file": [{"suffix": ".png"}]}}, False),
    ({"detail": {"file": [{"suffix": {"equals-ignore-case": ".png"}}]}}, True),
    ({"detail": {"state": [{"anything-but": "terminated"}]}}, False),
    ({"detail": {"state": [{"anything-but": ["running", "stopped"]}]}}, True),
    ({"detail": {"state": [{"anything-but": {"prefix": "term"}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"suffix": "ed"}}]}}, False),
    ({"detail": {"file": [{"anything-but": {"wildcard": "*.txt"}}]}}, True),
    ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ({"detail": {"c-count": [{"numeric": ["<", 5]}]}}, False),
    ({"detail": {"state": [{"exists": True}]}}, True),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ({"detail": {"ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    ({"detail": {"state": [{"equals-ignore-case": "TERMINATED"}]}}, True),
    ({"resources": [{"wildcard": "arn:aws:ec2:*:instance/*"}]}, True),
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"c-count": [5]}}]}, True),
    ({"$or": [{"source": ["aws.s3"]}, {"detail": {"c-count": [6]}}]}, False),
])
def test_event_patterns(events, pattern, expected):
    out = events.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(EVENT))
    assert out["Result"] is expected


@pytest.mark.parametrize("pattern,reason", [
    ('{"source": "aws.ec2"}', '"source" must be an object or an array'),
    ('{"source": [{"bogus": 1}]}', "Unrecognized match type bogus"),
    ('{"a": [{"numeric": [">", "x"]}]}', "Value of > must be numeric"),
    ('{"a": [{"exists": "yes"}]}', "exists match pattern must be either true or false."),
    ('{"a": [{"wildcard": "a**"}]}', "Consecutive wildcard characters at pos 2"),
    ('{"a": []}', "Empty arrays are not allowed"),
])
def test_bad_patterns_are_refused_with_aws_reasons(events, pattern, reason):
    for call in (lambda: events.test_event_pattern(EventPattern=pattern, Event=json.dumps(EVENT)),
                 lambda: events.put_rule(Name=uid("bad"), EventPattern=pattern)):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == ("InvalidEventPatternException",
                            f"Event pattern is not valid. Reason: {reason}", 400)


def test_test_event_pattern_needs_a_whole_event(events):
    with pytest.raises(ClientError) as e:
        events.test_event_pattern(EventPattern='{"source": ["x"]}', Event='{"source": "x"}')
    code, message, status = error(e)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("Parameter Event is not valid.")


# --- bad input ---------------------------------------------------------------


def test_unknown_rules_buses_and_rules_with_targets(events, recorder):
    fn_arn, _ = recorder
    with pytest.raises(ClientError) as e:
        events.describe_rule(Name="no-such-rule")
    assert error(e) == ("ResourceNotFoundException",
                        "Rule no-such-rule does not exist on EventBus default.", 400)
    with pytest.raises(ClientError) as e:
        events.put_targets(Rule="no-such-rule", Targets=[{"Id": "a", "Arn": fn_arn}])
    assert error(e)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        events.describe_event_bus(Name="no-such-bus")
    assert error(e) == ("ResourceNotFoundException", "Event bus no-such-bus does not exist.", 400)
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=uid("r"), EventBusName="no-such-bus", EventPattern='{"a": ["b"]}')
    assert error(e)[:2] == ("ResourceNotFoundException", "Event bus no-such-bus does not exist.")
    name, _ = rule_with_target(events, fn_arn, {"source": ["nothing"]})
    with pytest.raises(ClientError) as e:
        events.delete_rule(Name=name)
    assert error(e) == ("ValidationException", "Rule can't be deleted since it has targets.", 400)
    removed = events.remove_targets(Rule=name, Ids=["t1", "ghost"])
    assert removed["FailedEntryCount"] == 1 and removed["FailedEntries"][0]["TargetId"] == "ghost"
    events.delete_rule(Name=name)
    with pytest.raises(ClientError):
        events.describe_rule(Name=name)


def test_put_rule_needs_a_pattern_or_schedule_and_a_valid_schedule(events):
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=uid("r"))
    assert error(e) == ("ValidationException",
                        "Parameter(s) EventPattern or ScheduleExpression must be specified.", 400)
    for bad in ["cron(0 3 * * * *)", "cron(0 3 * * ?)", "cron(61 3 * * ? *)", "rate(1 minutes)",
                "rate(0 minutes)", "rate(5 minute)", "every day", "cron(0 3 ? * 9 *)"]:
        with pytest.raises(ClientError) as e:
            events.put_rule(Name=uid("r"), ScheduleExpression=bad)
        assert error(e) == ("ValidationException", "Parameter ScheduleExpression is not valid.", 400), bad
    bus = uid("bus")
    events.create_event_bus(Name=bus)
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=uid("r"), EventBusName=bus, ScheduleExpression="rate(5 minutes)")
    assert error(e)[0] == "ValidationException"


def test_put_events_entries_are_checked_one_by_one(events):
    out = events.put_events(Entries=[
        {"Source": "ok.src", "DetailType": "t", "Detail": "{}"},
        {"DetailType": "t", "Detail": "{}"},
        {"Source": "s", "Detail": "{}"},
        {"Source": "s", "DetailType": "t"},
        {"Source": "s", "DetailType": "t", "Detail": "[1, 2]"},
        {"Source": "s", "DetailType": "t", "Detail": "{}", "EventBusName": "no-such-bus"},
    ])
    assert out["FailedEntryCount"] == 5
    entries = out["Entries"]
    assert "EventId" in entries[0]
    assert entries[1] == {"ErrorCode": "InvalidArgument",
                          "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument."}
    assert entries[2]["ErrorMessage"] == \
        "Parameter DetailType is not valid. Reason: DetailType is a required argument."
    assert entries[3]["ErrorMessage"] == "Parameter Detail is not valid. Reason: Detail is a required argument."
    assert entries[4] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert entries[5]["ErrorCode"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        events.put_events(Entries=[{"Source": "s", "DetailType": "t", "Detail": "{}"}] * 11)
    assert error(e)[0] == "ValidationException"
    big = json.dumps({"x": "y" * (256 * 1024)})
    with pytest.raises(ClientError) as e:
        events.put_events(Entries=[{"Source": "s", "DetailType": "t", "Detail": big}])
    assert error(e)[0] == "ValidationException"


# --- buses, listings, tags ---------------------------------------------------


def test_buses_rules_listing_and_tags(events):
    assert events.describe_event_bus()["Name"] == "default"
    with pytest.raises(ClientError) as e:
        events.delete_event_bus(Name="default")
    assert error(e)[0] == "ValidationException"
    bus = uid("lbus")
    events.create_event_bus(Name=bus, Tags=[{"Key": "team", "Value": "a"}])
    with pytest.raises(ClientError) as e:
        events.create_event_bus(Name=bus)
    assert error(e) == ("ResourceAlreadyExistsException", f"Event bus {bus} already exists.", 400)
    names = [f"r{i:02d}" for i in range(5)]
    for n in names:
        events.put_rule(Name=n, EventBusName=bus, EventPattern='{"source": ["x"]}', Description=n)
    page = events.list_rules(EventBusName=bus, Limit=2)
    assert [r["Name"] for r in page["Rules"]] == names[:2]
    rest = events.list_rules(EventBusName=bus, NextToken=page["NextToken"])
    assert [r["Name"] for r in rest["Rules"]] == names[2:] and "NextToken" not in rest
    assert [r["Name"] for r in events.list_rules(EventBusName=bus, NamePrefix="r03")["Rules"]] == ["r03"]
    bus_arn = events.describe_event_bus(Name=bus)["Arn"]
    assert events.list_tags_for_resource(ResourceARN=bus_arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    rule_arn = events.describe_rule(Name="r01", EventBusName=bus)["Arn"]
    events.tag_resource(ResourceARN=rule_arn, Tags=[{"Key": "k", "Value": "v"}])
    assert events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    events.untag_resource(ResourceARN=rule_arn, TagKeys=["k"])
    assert events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"] == []
    assert bus in [b["Name"] for b in events.list_event_buses(NamePrefix="lbus")["EventBuses"]]
    events.delete_event_bus(Name=bus)
    with pytest.raises(ClientError):
        events.describe_event_bus(Name=bus)


# --- schedules -----------------------------------------------------------------


def test_a_rate_rule_fires_scheduled_events(events, recorder):
    fn_arn, records = recorder
    name = uid("tick")
    arn = events.put_rule(Name=name, ScheduleExpression="rate(1 minute)")["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "f", "Arn": fn_arn}])

    def scheduled(r):
        ev = r["event"]
        return isinstance(ev, dict) and ev.get("resources") == [arn]
    got = records.wait_for(2, 8, where=scheduled)
    ev = got[0]["event"]
    assert (ev["detail-type"], ev["source"], ev["detail"]) == ("Scheduled Event", "aws.events", {})
    assert (ev["version"], ev["account"], ev["region"]) == ("0", ACCOUNT, REGION)
    events.disable_rule(Name=name)
    seen = len(records.wait_for(2, 1, where=scheduled))
    records.assert_stays(seen + 1, 2, where=scheduled)
    assert events.describe_rule(Name=name)["ScheduleExpression"] == "rate(1 minute)"


def test_the_aws_cli_creates_a_nightly_rule(srv, tmp_path):
    cli = find_aws_cli()
    if cli is None:
        pytest.skip("the aws CLI is not installed")
    name = uid("nightly")
    out = subprocess.run(
        [cli, "--endpoint-url", srv.url, "events", "put-rule", "--name", name,
         "--schedule-expression", "cron(0 3 * * ? *)", "--output", "json"],
        env=aws_cli_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["RuleArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
    bad = subprocess.run(
        [cli, "--endpoint-url", srv.url, "events", "put-rule", "--name", name,
         "--schedule-expression", "cron(0 3 * * *)"],
        env=aws_cli_env(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode != 0
    assert "Parameter ScheduleExpression is not valid." in bad.stderr


def test_rules_and_targets_survive_a_restart(server_factory):
    first = server_factory()
    ev = first.client("events")
    bus = uid("dur")
    ev.create_event_bus(Name=bus)
    ev.put_rule(Name="kept", EventBusName=bus, EventPattern='{"source": ["a"]}', Description="d")
    ev.put_rule(Name="nightly", ScheduleExpression="cron(0 3 * * ? *)")
    target = {"Id": "t", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f",
              "InputPath": "$.detail"}
    ev.put_targets(Rule="kept", EventBusName=bus, Targets=[target])
    first.kill()
    again = server_factory(data_dir=first.data_dir)
    ev = again.client("events")
    rule = ev.describe_rule(Name="kept", EventBusName=bus)
    assert (rule["EventPattern"], rule["Description"], rule["State"]) == ('{"source": ["a"]}', "d", "ENABLED")
    assert ev.list_targets_by_rule(Rule="kept", EventBusName=bus)["Targets"] == [target]
    assert ev.describe_rule(Name="nightly")["ScheduleExpression"] == "cron(0 3 * * ? *)"
