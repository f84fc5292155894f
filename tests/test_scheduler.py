"""EventBridge Scheduler: schedules and groups through boto3's scheduler client, a rate()
schedule firing on a scaled clock, a one-time at() schedule deleted after it ran, and AWS's
errors for bad input."""

import datetime
import json
import time
import uuid
import zoneinfo

import pytest
from botocore.exceptions import ClientError

from helpers import (
    ACCOUNT,
    REGION,
    ROLE,
    Records,
    create_function,
    make_s3_client,
    recorder_kwargs,
    recorder_zip,
    unique_bucket,
    unique_name,
    wait_active,
)

# One minute of a rate() schedule lasts a second on this module's server.
MINUTE_MS = 1000
OFF = {"Mode": "OFF"}


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(env={"STRATUS_SCHEDULE_MINUTE_MS": str(MINUTE_MS)})


@pytest.fixture(scope="module")
def scheduler(srv):
    return srv.client("scheduler")


@pytest.fixture(scope="module")
def recorder(srv):
    s3 = make_s3_client(srv.url)
    bucket = unique_bucket("schrec")
    s3.create_bucket(Bucket=bucket)
    lam = srv.client("lambda")
    name = unique_name("schrec")
    fn = create_function(lam, name, recorder_zip(), **recorder_kwargs(bucket))
    wait_active(lam, name)
    return fn["FunctionArn"], Records(s3, bucket)


def uid(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error(exc_info):
    r = exc_info.value.response
    return r["Error"]["Code"], r["Error"].get("Message", ""), r["ResponseMetadata"]["HTTPStatusCode"]


def marked(marker):
    return lambda r: isinstance(r["event"], dict) and r["event"].get("marker") == marker


def test_a_rate_schedule_fires_its_input(scheduler, recorder):
    fn_arn, records = recorder
    name, marker = uid("every"), uid("m")
    arn = scheduler.create_schedule(
        Name=name, ScheduleExpression="rate(1 minute)", FlexibleTimeWindow=OFF,
        Target={"Arn": fn_arn, "RoleArn": ROLE, "Input": json.dumps({"marker": marker})},
    )["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"
    got = records.wait_for(2, 8, where=marked(marker))
    assert got[0]["event"] == {"marker": marker}
    got = scheduler.get_schedule(Name=name)
    assert (got["Name"], got["GroupName"], got["State"]) == (name, "default", "ENABLED")
    assert got["Target"]["Arn"] == fn_arn and got["FlexibleTimeWindow"] == OFF
    scheduler.update_schedule(
        Name=name, ScheduleExpression="rate(1 minute)", FlexibleTimeWindow=OFF, State="DISABLED",
        Target={"Arn": fn_arn, "RoleArn": ROLE, "Input": json.dumps({"marker": marker})},
    )
    assert scheduler.get_schedule(Name=name)["State"] == "DISABLED"
    seen = len([r for r in records.all() if marked(marker)(r)])
    records.assert_stays(seen + 1, 2, where=marked(marker))
    scheduler.delete_schedule(Name=name)
    with pytest.raises(ClientError) as e:
        scheduler.get_schedule(Name=name)
    assert error(e)[0] == "ResourceNotFoundException"


def test_a_one_time_schedule_runs_once_and_is_deleted(scheduler, recorder):
    fn_arn, records = recorder
    name, marker = uid("once"), uid("m")
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    scheduler.create_schedule(
        Name=name, ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC", FlexibleTimeWindow=OFF, ActionAfterCompletion="DELETE",
        Target={"Arn": fn_arn, "RoleArn": ROLE, "Input": json.dumps({"marker": marker})},
    )
    assert scheduler.get_schedule(Name=name)["ActionAfterCompletion"] == "DELETE"
    records.wait_for(1, 10, where=marked(marker))
    with pytest.raises(ClientError) as e:
        scheduler.get_schedule(Name=name)
    assert error(e)[0] == "ResourceNotFoundException"
    records.assert_stays(1, 1.5, where=marked(marker))


def test_at_is_wall_clock_time_in_the_schedules_time_zone(scheduler, recorder):
    fn_arn, records = recorder
    name, marker = uid("tz"), uid("m")
    # Two seconds from now, written as New York's wall-clock time (four or five hours behind
    # UTC): read as UTC it would lie hours in the past or future, and never fire now.
    utc = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    local = utc.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    scheduler.create_schedule(
        Name=name, ScheduleExpression=f"at({local:%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="America/New_York", FlexibleTimeWindow=OFF,
        Target={"Arn": fn_arn, "RoleArn": ROLE, "Input": json.dumps({"marker": marker})},
    )
    records.wait_for(1, 10, where=marked(marker))
    assert scheduler.get_schedule(Name=name)["ScheduleExpressionTimezone"] == "America/New_York"


def test_groups_and_listing(scheduler, recorder):
    fn_arn, _ = recorder
    group = uid("grp")
    arn = scheduler.create_schedule_group(Name=group)["ScheduleGroupArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{group}"
    with pytest.raises(ClientError) as e:
        scheduler.create_schedule_group(Name=group)
    assert error(e)[0] == "ConflictException"
    assert scheduler.get_schedule_group(Name="default")["State"] == "ACTIVE"
    target = {"Arn": fn_arn, "RoleArn": ROLE}
    for n in ("a", "b", "c"):
        scheduler.create_schedule(Name=n, GroupName=group, ScheduleExpression="cron(0 3 * * ? *)",
                                  FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
                                  Target=target)
    with pytest.raises(ClientError) as e:
        scheduler.create_schedule(Name="a", GroupName=group, ScheduleExpression="rate(5 minutes)",
                                  FlexibleTimeWindow=OFF, Target=target)
    assert error(e)[0] == "ConflictException"
    page = scheduler.list_schedules(GroupName=group, MaxResults=2)
    assert [s["Name"] for s in page["Schedules"]] == ["a", "b"]
    rest = scheduler.list_schedules(GroupName=group, NextToken=page["NextToken"])
    assert [s["Name"] for s in rest["Schedules"]] == ["c"]
    assert scheduler.get_schedule(Name="b", GroupName=group)["GroupName"] == group
    scheduler.delete_schedule_group(Name=group)
    with pytest.raises(ClientError) as e:
        scheduler.get_schedule(Name="b", GroupName=group)
    assert error(e)[0] == "ResourceNotFoundException"


@pytest.mark.parametrize("overrides,fragment", [
    ({"ScheduleExpression": "cron(0 3 * * * *)"}, "Invalid Schedule Expression"),
    ({"ScheduleExpression": "rate(1 minutes)"}, "Invalid Schedule Expression"),
    ({"ScheduleExpression": "at(2030-02-30T00:00:00)"}, "Invalid Schedule Expression"),
    ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}}, "MaximumWindowInMinutes"),
    ({"ScheduleExpressionTimezone": "Mars/Olympus"}, "time zone"),
])
def test_bad_schedules_are_refused(scheduler, recorder, overrides, fragment):
    fn_arn, _ = recorder
    kwargs = {"Name": uid("bad"), "ScheduleExpression": "rate(5 minutes)",
              "FlexibleTimeWindow": OFF, "Target": {"Arn": fn_arn, "RoleArn": ROLE}}
    kwargs.update(overrides)
    with pytest.raises(ClientError) as e:
        scheduler.create_schedule(**kwargs)
    code, message, status = error(e)
    assert (code, status) == ("ValidationException", 400)
    assert fragment in message
    with pytest.raises(ClientError) as e:
        scheduler.get_schedule(Name=kwargs["Name"])
    assert error(e)[:3:2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        scheduler.create_schedule(**{**kwargs, "GroupName": "no-such-group",
                                     "ScheduleExpression": "rate(5 minutes)",
                                     "FlexibleTimeWindow": OFF,
                                     "ScheduleExpressionTimezone": "UTC"})
    assert error(e)[0] == "ResourceNotFoundException"


def test_a_schedule_missed_while_down_fires_once_on_start(server_factory):
    """An at() schedule whose time passes while the server is down fires once when it is back
    (and is then deleted, as asked)."""
    first = server_factory()
    s3 = make_s3_client(first.url)
    bucket = unique_bucket("missed")
    s3.create_bucket(Bucket=bucket)
    lam = first.client("lambda")
    name = unique_name("missed")
    fn = create_function(lam, name, recorder_zip(), **recorder_kwargs(bucket))
    wait_active(lam, name)
    marker = uid("m")
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
    first.client("scheduler").create_schedule(
        Name="missed", ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
        FlexibleTimeWindow=OFF, ActionAfterCompletion="DELETE",
        Target={"Arn": fn["FunctionArn"], "RoleArn": ROLE, "Input": json.dumps({"marker": marker})},
    )
    first.kill()
    while datetime.datetime.now(datetime.timezone.utc) < when + datetime.timedelta(seconds=1):
        time.sleep(0.2)
    again = server_factory(data_dir=first.data_dir)
    records = Records(make_s3_client(again.url), bucket)
    records.wait_for(1, 15, where=marked(marker))
    records.assert_stays(1, 1.5, where=marked(marker))
    with pytest.raises(ClientError) as e:
        again.client("scheduler").get_schedule(Name="missed")
    assert error(e)[0] == "ResourceNotFoundException"
