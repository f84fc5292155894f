"""SnapStart (decision 0039): a published version with `SnapStart.ApplyOn: PublishedVersions`
runs its init once ahead (its before-snapshot hooks included), parks the environment before
restore, and each cold start restores one: after-restore hooks, then the invocation. The
settings are validated as AWS validates them, the version goes Pending then Active (or
Failed), and every environment is unique: its own randomness, ids, /tmp and sandbox.
"""

import json
import threading

import pytest
from botocore.exceptions import ClientError, WaiterError

from helpers import INVOKE_CONFIG, create_function, invoke, make_zip, unique_name, wait_active

SNAP = {"SnapStart": {"ApplyOn": "PublishedVersions"}}

# Records when its hooks ran, and what it drew at init, after the restore and per invocation.
HOOKS = r'''
import os, random, socket, time, uuid

from snapshot_restore_py import register_after_restore, register_before_snapshot

EVENTS = []
INIT_ID = uuid.uuid4().hex
INIT_RANDOM = random.random()
INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
RESTORED = {}
time.sleep(float(os.environ.get("INIT_SLEEP", "0")))


@register_before_snapshot
def before_a():
    EVENTS.append("before_a")


def before_b(tag, *, n):
    EVENTS.append("before_b:%s:%s" % (tag, n))


register_before_snapshot(before_b, "x", n=2)


@register_after_restore
def after_a():
    EVENTS.append("after_a")
    RESTORED["uuid"] = uuid.uuid4().hex
    RESTORED["random"] = random.random()
    if os.environ.get("FAIL_RESTORE"):
        raise RuntimeError("restore hook broke")


def after_b(tag, n=0):
    EVENTS.append("after_b:%s:%s" % (tag, n))


register_after_restore(after_b, "y", n=3)


def handler(event, context):
    EVENTS.append("handler")
    if event.get("tmp"):
        with open("/tmp/mark-" + event["tmp"], "w") as f:
            f.write("x")
    # Holds this environment busy, so a concurrent invocation needs another.
    time.sleep(event.get("hold", 0))
    with open("/proc/self/cgroup") as f:
        cgroup = f.read().strip()
    return {
        "events": list(EVENTS),
        "init_random": INIT_RANDOM,
        "init_type": INIT_TYPE,
        "env_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "restored": RESTORED,
        "uuid": uuid.uuid4().hex,
        "tmp": sorted(os.listdir("/tmp")),
        "cgroup": cgroup,
        "init_id": INIT_ID,
        "stream_var": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "group_var": os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME"),
        "hostname": socket.gethostname(),
    }
'''


CREATED = []


@pytest.fixture(scope="module")
def client(server):
    c = server.client(**INVOKE_CONFIG)
    yield c
    # Each SnapStart version keeps a parked environment until its function is deleted.
    for name in CREATED:
        try:
            c.delete_function(FunctionName=name)
        except ClientError:
            pass


def deploy(client, env=None, source=HOOKS, **extra):
    name = unique_name("snap")
    CREATED.append(name)
    variables = {"Environment": {"Variables": env}} if env else {}
    create_function(client, name, make_zip({"app.py": source}), Handler="app.handler",
                    Timeout=30, **SNAP, **variables, **extra)
    wait_active(client, name)
    return name


def publish_active(client, name):
    version = client.publish_version(FunctionName=name)["Version"]
    client.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    return version


def error_code(exc):
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


# --- The API ---------------------------------------------------------------------------------


def test_a_published_version_goes_pending_then_active_with_snapstart_on(client):
    name = deploy(client, env={"INIT_SLEEP": "1.5"})
    latest = client.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    assert latest["State"] == "Active"
    published = client.publish_version(FunctionName=name)
    version = published["Version"]
    assert published["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    # Its init takes 1.5 s: the version is still being prepared.
    assert published["State"] == "Pending" and published["StateReasonCode"] == "Creating"
    with pytest.raises(ClientError) as e:
        client.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert error_code(e) == (
        "SnapStartNotReadyException",
        "Lambda is initializing your function. It will be ready to invoke once your function "
        "state becomes ACTIVE.",
    )
    client.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    got = client.get_function(FunctionName=name, Qualifier=version)["Configuration"]
    assert got["State"] == "Active" and "StateReasonCode" not in got
    assert got["SnapStart"]["OptimizationStatus"] == "On"
    client.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)


def test_snapstart_is_refused_where_aws_refuses_it(client):
    for runtime in ("nodejs20.x", "provided.al2023"):
        with pytest.raises(ClientError) as e:
            create_function(client, unique_name("snap"), make_zip(), Runtime=runtime,
                            Handler="app.handler", **SNAP)
        assert error_code(e) == (
            "InvalidParameterValueException",
            f"{runtime} is not supported for SnapStart enabled functions.",
        )
    with pytest.raises(ClientError) as e:
        create_function(client, unique_name("snap"), make_zip(),
                        SnapStart={"ApplyOn": "Sometimes"})
    code, message = error_code(e)
    assert code == "ValidationException"
    assert "Member must satisfy enum value set: [PublishedVersions, None]" in message, message
    with pytest.raises(ClientError) as e:
        create_function(client, unique_name("snap"), make_zip(),
                        EphemeralStorage={"Size": 1024}, **SNAP)
    assert error_code(e)[0] == "InvalidParameterValueException"


def test_turning_snapstart_off_leaves_later_versions_off(client):
    name = deploy(client)
    first = publish_active(client, name)
    client.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "None"},
                                         Description="off")
    client.get_waiter("function_updated_v2").wait(FunctionName=name)
    second = client.publish_version(FunctionName=name)
    assert second["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert second["State"] == "Active"
    on = client.get_function_configuration(FunctionName=name, Qualifier=first)
    assert on["SnapStart"]["OptimizationStatus"] == "On"
    got = invoke(client, name, {}, Qualifier=second["Version"])
    assert got.function_error is None, got
    assert got.payload["init_type"] == "on-demand" and got.payload["events"] == ["handler"]


# --- Hooks and the restore -------------------------------------------------------------------


def test_hooks_run_before_the_snapshot_and_after_the_restore(client):
    name = deploy(client)
    version = publish_active(client, name)
    got = invoke(client, name, {}, Qualifier=version)
    assert got.function_error is None, got
    body = got.payload
    # Before-snapshot hooks in reverse order of registration, after-restore ones in order,
    # each once, all before the handler.
    assert body["events"] == ["before_b:x:2", "before_a", "after_a", "after_b:y:3", "handler"]
    assert body["init_type"] == "snap-start" and body["env_type"] == "snap-start"
    # As AWS documents for SnapStart functions.
    assert body["stream_var"] is None and body["group_var"] is None
    report = got.report()
    assert "init" not in report or report["init"] is None, got.log
    assert "Restore Duration: " in got.log and "Billed Restore Duration: " in got.log, got.log
    assert "RESTORE_REPORT Restore Duration: " in got.log, got.log
    again = invoke(client, name, {}, Qualifier=version)
    assert again.payload["events"] == body["events"] + ["handler"], "warm: no hook runs again"
    assert "Restore Duration" not in again.log


def test_latest_of_a_snapstart_function_runs_on_demand(client):
    name = deploy(client)
    got = invoke(client, name, {})
    assert got.function_error is None, got
    assert got.payload["init_type"] == "on-demand"
    assert got.payload["events"] == ["handler"]
    assert got.payload["stream_var"] and got.payload["group_var"]
    assert got.report().get("init"), got.log
    assert "Restore Duration" not in got.log


def test_each_restored_environment_is_unique(client, server):
    name = deploy(client)
    version = publish_active(client, name)
    results = {}
    started = threading.Event()

    def run(tag, hold):
        started.set()
        results[tag] = invoke(client, name, {"tmp": tag, "hold": hold}, Qualifier=version)

    # The first holds its environment for seconds: the second, sent meanwhile, needs its own.
    first = threading.Thread(target=run, args=("one", 4))
    first.start()
    started.wait()
    threading.Event().wait(0.5)
    run("two", 0)
    assert first.is_alive(), "the first invocation ended before the second was sent"
    first.join()
    one, two = results["one"].payload, results["two"].payload
    assert results["one"].function_error is None, results["one"]
    assert results["two"].function_error is None, results["two"]
    assert one["init_id"] != two["init_id"], "one environment served both"
    for got in (one, two):
        assert got["events"][-1] == "handler" and got["events"].count("after_a") == 1, got
    assert one["init_random"] != two["init_random"]
    assert one["restored"]["uuid"] != two["restored"]["uuid"]
    assert one["restored"]["random"] != two["restored"]["random"]
    assert one["uuid"] != two["uuid"]
    assert "mark-one" in one["tmp"] and "mark-one" not in two["tmp"], (one["tmp"], two["tmp"])
    assert "mark-two" in two["tmp"] and "mark-two" not in one["tmp"]
    if server.health()[1].get("isolation") == "namespaces":
        assert one["cgroup"] != two["cgroup"]


def test_a_failing_after_restore_hook_fails_the_invocation(client, server):
    name = deploy(client, env={"FAIL_RESTORE": "1"})
    version = publish_active(client, name)
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            client.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error_code(e) == (
            "SnapStartException",
            "The afterRestore() runtime hook encountered an error. For more information, check "
            "the Amazon CloudWatch logs.",
        )
    assert server.health()[0] == 200
    # $LATEST runs no hook, so it still works.
    assert invoke(client, name, {}).function_error is None


def test_a_failing_init_fails_the_version(client):
    name = deploy(client, env={"BREAK": "1"},
                  source="import os\nif os.environ.get('AWS_LAMBDA_INITIALIZATION_TYPE') == "
                         "'snap-start':\n    raise ValueError('no init here')\n"
                         "def handler(e, c):\n    return 1\n")
    version = client.publish_version(FunctionName=name)["Version"]
    with pytest.raises(WaiterError):
        client.get_waiter("published_version_active").wait(
            FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
    got = client.get_function_configuration(FunctionName=name, Qualifier=version)
    assert got["State"] == "Failed" and got["StateReasonCode"] == "FunctionError", got
    assert "ValueError" in got["StateReason"] and "no init here" in got["StateReason"], got
    with pytest.raises(ClientError) as e:
        client.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert error_code(e)[0] == "ResourceConflictException"


def test_the_runtime_api_refuses_a_restore_outside_snapstart(client):
    source = (
        "import os, urllib.request\n"
        "def handler(e, c):\n"
        "    url = 'http://%s/2018-06-01/runtime/restore/next' % os.environ['AWS_LAMBDA_RUNTIME_API']\n"
        "    try:\n"
        "        urllib.request.urlopen(url, timeout=5)\n"
        "        return {'status': 200}\n"
        "    except urllib.error.HTTPError as err:\n"
        "        return {'status': err.code, 'body': err.read().decode()}\n"
    )
    name = unique_name("snap")
    create_function(client, name, make_zip({"app.py": source}), Handler="app.handler")
    wait_active(client, name)
    got = invoke(client, name, {})
    assert got.payload["status"] == 403, got
    assert json.loads(got.payload["body"])["errorType"] == "InvalidStateTransition"


def test_health_reports_parked_environments(client, server):
    name = deploy(client)
    publish_active(client, name)
    report = server.health()[1]["snapstart"]
    assert report["parked"] >= 1 and report["versions"] >= 1, report
    client.delete_function(FunctionName=name)
    after = server.health()[1]["snapstart"]
    assert after["versions"] == report["versions"] - 1, (report, after)

