"""Log events when state is in PostgreSQL: two servers on one database show one view of the
logs (an invocation's lines written by one node's background writer, PutLogEvents and
deletions through either). Runs only with STRATUS_TEST_DATABASE set."""

import os
import time

import pytest
from botocore.exceptions import ClientError

import helpers

pytestmark = pytest.mark.skipif(
    not os.environ.get("STRATUS_TEST_DATABASE"),
    reason="log events are in the database only when state is in PostgreSQL",
)

SOURCE = (
    "def handler(event, context):\n"
    "    print('shared line', event['tag'])\n"
    "    return {'ok': True}\n"
)


@pytest.fixture(scope="module")
def nodes(module_server_factory):
    a = module_server_factory()
    b = module_server_factory(env={"STRATUS_DATABASE": a.env["STRATUS_DATABASE"]})
    return a, b


def wait_for(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_an_invocations_lines_reach_the_other_node(nodes):
    a, b = nodes
    lam = a.client()
    name = helpers.unique_name("shared-logs")
    helpers.create_function(lam, name, helpers.make_zip({"app.py": SOURCE}))
    helpers.wait_active(lam, name)
    helpers.invoke(lam, name, {"tag": "from-a"})
    group = f"/aws/lambda/{name}"
    # B cannot flush A's queue: A's writer stores the lines within its window (until then
    # the group does not exist on B's side either).
    def lines_on_b():
        try:
            events = b.client("logs").filter_log_events(logGroupName=group)["events"]
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException"
            return []
        return [e for e in events if "shared line from-a" in e["message"]]

    seen = wait_for(lines_on_b)
    assert len(seen) == 1
    on_a = a.client("logs").filter_log_events(logGroupName=group)["events"]
    on_b = b.client("logs").filter_log_events(logGroupName=group)["events"]
    assert [e["eventId"] for e in on_a] == [e["eventId"] for e in on_b]
    assert [e["message"] for e in on_a] == [e["message"] for e in on_b]


def test_writes_and_deletes_through_either_node(nodes):
    a, b = nodes
    la, lb = a.client("logs"), b.client("logs")
    group = "/shared/" + helpers.unique_name("g")
    la.create_log_group(logGroupName=group)
    with pytest.raises(ClientError) as e:
        lb.create_log_group(logGroupName=group)
    assert e.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    lb.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    lb.put_log_events(logGroupName=group, logStreamName="s",
                      logEvents=[{"timestamp": now, "message": "put on b"}])
    events = la.get_log_events(logGroupName=group, logStreamName="s",
                               startFromHead=True)["events"]
    assert [ev["message"] for ev in events] == ["put on b"]
    la.delete_log_group(logGroupName=group)
    with pytest.raises(ClientError) as e:
        lb.describe_log_streams(logGroupName=group)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
