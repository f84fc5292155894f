"""What the caller gets when things go wrong: crashes, timeouts, payloads over the size limits,
payloads that are not JSON, missing functions, and initialisation failures."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from helpers import (
    assert_error,
    function_arn,
    function_processes,
    invoke,
    make_zip,
    unique_name,
    wait_until,
)

MAX_REQUEST = 6291456  # 6 MiB: AWS's limit on a synchronous request payload
MAX_RESPONSE = 6291556  # 6 MiB + 100 bytes: the limit on a synchronous response

# One function for the failure modes: the event says how to misbehave.
MISBEHAVE = r'''
import ctypes, json, os, signal, subprocess, sys, time, uuid

ENV_ID = uuid.uuid4().hex
CALLS = 0


def handler(event, context):
    global CALLS
    CALLS += 1
    how = event.get("how")
    if how == "exit":
        print("about to exit")
        os._exit(event.get("code", 1))
    if how == "sleep":
        print("going to sleep")
        time.sleep(event["seconds"])
    if how == "child":
        subprocess.Popen(["sleep", "300"])
        time.sleep(event["seconds"])
    if how == "flood":
        # A child that writes to the shared stdout as fast as it can, until killed.
        subprocess.Popen(["sh", "-c", "while :; do echo flood; done"])
        time.sleep(event["seconds"])
    if how == "segfault":
        ctypes.string_at(0)
    if how == "abort":
        os.abort()
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(1)
        return "still alive after SIGKILL"
    if how == "big":
        return "x" * event["size"]
    if how == "size":
        return len(json.dumps(event))
    return {"env": ENV_ID, "calls": CALLS, "event": event}
'''


def misbehaving(new_function, **overrides):
    return new_function(zip_bytes=make_zip({"app.py": MISBEHAVE}), **overrides)["FunctionName"]


def assert_exit_error(inv, how):
    assert inv.status == 200
    assert inv.function_error == "Unhandled", inv
    assert inv.payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {inv.request_id} Error: Runtime exited with error: {how}",
    }


# --- crashes ---------------------------------------------------------------


def test_process_exit_mid_invoke_then_next_invoke_works(invoke_client, new_function):
    name = misbehaving(new_function)
    before = invoke(invoke_client, name, {}).payload
    inv = invoke(invoke_client, name, {"how": "exit", "code": 1})
    assert_exit_error(inv, "exit status 1")
    assert "about to exit" in inv.log, inv.log
    after = invoke(invoke_client, name, {"n": 1})
    assert after.function_error is None, after
    # A fresh environment: new module state, and a cold start.
    assert after.payload["env"] != before["env"]
    assert after.payload["calls"] == 1
    assert after.report()["init"] is not None, after.log


def test_exit_with_status_zero_mid_invoke(invoke_client, new_function):
    inv = invoke(invoke_client, misbehaving(new_function), {"how": "exit", "code": 0})
    assert inv.function_error == "Unhandled"
    assert inv.payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {inv.request_id} Error: Runtime exited without providing a reason",
    }


@pytest.mark.parametrize(
    "how,signal_text",
    [
        ("segfault", "signal: segmentation fault"),
        ("abort", "signal: aborted"),
        ("sigkill", "signal: killed"),
    ],
)
def test_death_by_signal_is_exit_error_with_the_signal_name(
    invoke_client, new_function, how, signal_text
):
    # AWS words a signal death as Go does: "Runtime exited with error: signal: killed",
    # "... signal: segmentation fault (core dumped)", "... signal: aborted (core dumped)".
    name = misbehaving(new_function)
    inv = invoke(invoke_client, name, {"how": how})
    assert inv.function_error == "Unhandled", inv
    assert inv.payload["errorType"] == "Runtime.ExitError", inv.payload
    assert f"Runtime exited with error: {signal_text}" in inv.payload["errorMessage"], inv.payload
    assert invoke(invoke_client, name, {}).function_error is None


# --- timeouts --------------------------------------------------------------


def test_timeout_returns_promptly_with_sandbox_timedout(invoke_client, new_function):
    name = misbehaving(new_function, Timeout=1)
    before = invoke(invoke_client, name, {}).payload
    started = time.monotonic()
    inv = invoke(invoke_client, name, {"how": "sleep", "seconds": 5})
    elapsed = time.monotonic() - started
    assert elapsed < 3.5, f"a 1 s timeout took {elapsed:.2f} s to answer"
    assert inv.status == 200
    assert inv.function_error == "Unhandled"
    assert inv.payload == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {inv.request_id} Error: Task timed out after 1.00 seconds",
    }
    # The next invoke gets a fresh environment: globals reset, a cold start.
    after = invoke(invoke_client, name, {})
    assert after.function_error is None, after
    assert after.payload["env"] != before["env"]
    assert after.payload["calls"] == 1
    assert after.report()["init"] is not None, after.log


def test_timeout_of_a_function_flooding_its_output(invoke_client, new_function):
    name = misbehaving(new_function, Timeout=1)
    started = time.monotonic()
    inv = invoke(invoke_client, name, {"how": "flood", "seconds": 5})
    elapsed = time.monotonic() - started
    assert elapsed < 3.5, f"a 1 s timeout took {elapsed:.2f} s to answer"
    assert inv.payload["errorType"] == "Sandbox.Timedout", inv.payload
    lines = inv.log_lines
    assert "flood" in lines, inv.log[:500]
    notice = next(i for i, line in enumerate(lines) if line.endswith("Task timed out after 1.00 seconds"))
    assert "flood" not in lines[notice + 1:], "the notice follows the function's last words"
    # The platform is still answering, and the function starts afresh.
    after = invoke(invoke_client, name, {})
    assert after.function_error is None and after.payload["calls"] == 1, after


def test_timeout_log_tail(invoke_client, new_function):
    name = misbehaving(new_function, Timeout=1)
    inv = invoke(invoke_client, name, {"how": "sleep", "seconds": 5})
    lines = inv.log_lines
    assert lines[0] == f"START RequestId: {inv.request_id} Version: $LATEST", inv.log
    assert "going to sleep" in lines
    assert any(
        line.endswith(f"{inv.request_id} Task timed out after 1.00 seconds") for line in lines
    ), inv.log
    assert f"END RequestId: {inv.request_id}" in lines
    assert float(inv.report()["duration"]) >= 1000


def test_timeout_kills_the_whole_environment(server, invoke_client, new_function):
    name = misbehaving(new_function, Timeout=1)
    inv = invoke(invoke_client, name, {"how": "child", "seconds": 5})
    assert inv.payload["errorType"] == "Sandbox.Timedout", inv
    # The runtime and the child it started are gone.
    wait_until(
        lambda: not function_processes(server.data_dir, [name]),
        timeout=15,
        message=lambda: "the timed-out environment's end; still running: "
        + str(function_processes(server.data_dir, [name])),
    )


def test_timeout_applies_to_node_functions_too(invoke_client, new_function):
    source = "exports.handler = () => new Promise((r) => setTimeout(() => r('late'), 5000));\n"
    name = new_function(
        zip_bytes=make_zip({"index.js": source}), Runtime="nodejs20.x", Handler="index.handler",
        Timeout=1,
    )["FunctionName"]
    started = time.monotonic()
    inv = invoke(invoke_client, name, {})
    assert time.monotonic() - started < 3.5
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorType"] == "Sandbox.Timedout"
    assert inv.payload["errorMessage"].endswith("Task timed out after 1.00 seconds")


# --- payload sizes -----------------------------------------------------------


def test_request_over_6_mb_is_413(invoke_client, new_function):
    name = misbehaving(new_function)
    payload = json.dumps({"blob": "x" * MAX_REQUEST}).encode()
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=name, Payload=payload)
    assert_error(
        e.value,
        "RequestEntityTooLargeException",
        413,
        message=f"Request must be smaller than {MAX_REQUEST} bytes for the InvokeFunction operation",
    )


def test_request_just_under_6_mib_is_accepted(invoke_client, new_function):
    name = misbehaving(new_function)
    event = {"how": "size", "blob": "x" * (MAX_REQUEST - 1000)}
    inv = invoke(invoke_client, name, event, tail=False)
    assert inv.function_error is None, inv
    assert inv.payload == len(json.dumps(event))


def test_response_over_6_mb_is_response_size_too_large(invoke_client, new_function):
    name = misbehaving(new_function)
    inv = invoke(invoke_client, name, {"how": "big", "size": 7 * 1024 * 1024})
    assert inv.status == 200
    assert inv.function_error == "Unhandled"
    assert inv.payload == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).",
    }


@pytest.mark.parametrize("size_mb", [7, 20])
def test_invoke_after_response_too_large_works(invoke_client, new_function, size_mb):
    name = misbehaving(new_function)
    big = invoke(invoke_client, name, {"how": "big", "size": size_mb * 1024 * 1024})
    assert big.payload["errorType"] == "Function.ResponseSizeTooLarge", big
    after = invoke(invoke_client, name, {"n": 2})
    assert after.function_error is None, f"the invoke after an oversize response failed: {after}"
    assert after.payload["event"] == {"n": 2}


def test_response_just_under_6_mib_is_returned(invoke_client, new_function):
    name = misbehaving(new_function)
    size = MAX_REQUEST - 1000
    inv = invoke(invoke_client, name, {"how": "big", "size": size}, tail=False)
    assert inv.function_error is None, inv.raw[:200]
    assert len(inv.raw) == size + 2


# --- bad requests ------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"not json", b"{\"a\": 1", b"{'single': 'quotes'}"])
def test_non_json_payload_is_400(invoke_client, new_function, payload):
    name = misbehaving(new_function)
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=name, Payload=payload)
    assert_error(
        e.value,
        "InvalidRequestContentException",
        400,
        message_contains="Could not parse request body into json: Could not parse payload into json",
    )


@pytest.mark.parametrize("payload,event", [(b"42", 42), (b'"text"', "text"), (b"[1, 2]", [1, 2]),
                                           (b"null", None)])
def test_any_json_value_is_a_valid_event(invoke_client, new_function, payload, event):
    name = new_function(zip_bytes=make_zip())["FunctionName"]  # echoes its event
    inv = invoke(invoke_client, name, raw=payload)
    assert inv.function_error is None, inv
    assert inv.payload == event


def test_invoke_of_missing_function_is_404(invoke_client):
    name = unique_name()
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=name, Payload=b"{}")
    assert_error(
        e.value, "ResourceNotFoundException", 404,
        message=f"Function not found: {function_arn(name, '$LATEST')}",
    )


# --- initialisation failures -------------------------------------------------


def test_exception_at_import_returns_the_init_error(invoke_client, new_function):
    source = "import os\nraise RuntimeError('config missing: ' + os.environ['AWS_REGION'])\n"
    name = new_function(zip_bytes=make_zip({"app.py": source}))["FunctionName"]
    inv = invoke(invoke_client, name, {})
    assert inv.status == 200
    assert inv.function_error == "Unhandled"
    body = inv.payload
    assert body["errorType"] == "RuntimeError"
    assert body["errorMessage"] == "config missing: us-east-1"
    assert body["requestId"] == ""
    assert any("app.py" in frame for frame in body["stackTrace"]), body


def test_process_exit_at_import_is_exit_error(invoke_client, new_function):
    source = "import os\nprint('starting')\nos._exit(3)\n"
    name = new_function(zip_bytes=make_zip({"app.py": source}))["FunctionName"]
    inv = invoke(invoke_client, name, {})
    assert_exit_error(inv, "exit status 3")


def test_init_failure_log_tail_has_the_invocation_lines(invoke_client, new_function):
    # On AWS an on-demand init failure is retried inside the invocation, so the tail still
    # reads START ... the init error ... END, REPORT.
    source = "raise RuntimeError('init went wrong')\n"
    name = new_function(zip_bytes=make_zip({"app.py": source}))["FunctionName"]
    inv = invoke(invoke_client, name, {})
    assert "init went wrong" in inv.log, inv.log
    assert f"START RequestId: {inv.request_id} Version: $LATEST" in inv.log_lines, inv.log
    assert f"END RequestId: {inv.request_id}" in inv.log_lines, inv.log
    assert inv.report()["id"] == inv.request_id
