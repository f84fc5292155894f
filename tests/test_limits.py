"""Limits: MemorySize enforced through the environment's cgroup, /tmp's size, reserved
concurrency (0 and 1) and the account's concurrency limit, all throttling with AWS's 429."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from helpers import INVOKE_CONFIG, assert_error, create_function, invoke, make_zip, unique_name, wait_active

HOG = r'''
import errno, os, subprocess, sys, time, uuid

ENV_ID = uuid.uuid4().hex


def handler(event, context):
    if "alloc_mb" in event:
        # Filled with non-zero bytes so that every page is really used.
        block = b"\x01" * (event["alloc_mb"] * 1024 * 1024)
        return {"env": ENV_ID, "allocated": len(block)}
    if "child_alloc_mb" in event:
        code = "b = b'\\x01' * (%d * 1024 * 1024)" % event["child_alloc_mb"]
        child = subprocess.run([sys.executable, "-c", code])
        return {"env": ENV_ID, "child_returncode": child.returncode}
    if "tmp_mb" in event:
        chunk = b"\x01" * (1024 * 1024)
        written = 0
        try:
            with open("/tmp/fill", "wb") as f:
                for _ in range(event["tmp_mb"]):
                    f.write(chunk)
                    f.flush()
                    written += 1
            return {"env": ENV_ID, "written_mb": written}
        except OSError as e:
            return {"env": ENV_ID, "written_mb": written, "errno": e.errno}
        finally:
            if os.path.exists("/tmp/fill"):
                os.remove("/tmp/fill")
    time.sleep(event.get("sleep", 0))
    return {"env": ENV_ID}
'''


def hog(new_function, **overrides):
    # A long timeout: on a machine whose memory is slow to fault in (a freshly started VM),
    # filling hundreds of MB can take seconds, and these tests are about the memory limit
    # ending the environment, not about the default 3 s timeout racing it.
    overrides.setdefault("Timeout", 60)
    return new_function(zip_bytes=make_zip({"app.py": HOG}), **overrides)["FunctionName"]


def concurrently(n, fn):
    """Runs fn(i) for i in range(n) in n threads released together; returns the results."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def invoke_or_throttle(client, name, event):
    """The invocation's payload, or the ClientError it was refused with."""
    try:
        return invoke(client, name, event, tail=False)
    except ClientError as e:
        return e


# --- memory ------------------------------------------------------------------


# /tmp is a tmpfs whose pages the kernel charges to the environment's memory cgroup, so the
# cgroup's limit is MemorySize plus EphemeralStorage (see docs/security.md): allocations over
# MemorySize alone fit while /tmp is empty, and the tests below go past both.


@pytest.mark.usefixtures("require_memory_limits")
def test_allocating_over_memory_size_kills_the_environment(invoke_client, new_function):
    name = hog(new_function, MemorySize=128)
    before = invoke(invoke_client, name, {}).payload["env"]
    inv = invoke(invoke_client, name, {"alloc_mb": 1024})
    assert inv.status == 200
    assert inv.function_error == "Unhandled", inv
    assert inv.payload["errorType"] == "Runtime.ExitError", inv.payload
    assert inv.payload["errorMessage"] == (
        f"RequestId: {inv.request_id} Error: Runtime exited with error: signal: killed"
    )
    assert int(inv.report()["max_memory"]) >= 100, inv.log
    # The next invoke gets a fresh environment and works.
    after = invoke(invoke_client, name, {})
    assert after.function_error is None, after
    assert after.payload["env"] != before


@pytest.mark.usefixtures("require_memory_limits")
def test_processes_the_function_starts_count_against_memory_size(invoke_client, new_function):
    name = hog(new_function, MemorySize=128)
    # Within the limit, the child runs normally.
    ok = invoke(invoke_client, name, {"child_alloc_mb": 16})
    assert ok.function_error is None, ok
    assert ok.payload["child_returncode"] == 0, ok.payload
    # Over it, the kernel's OOM killer ends the child (the largest process in the group).
    inv = invoke(invoke_client, name, {"child_alloc_mb": 1024})
    assert inv.function_error is None, inv
    assert inv.payload["child_returncode"] == -9, inv.payload
    assert inv.payload["env"] == ok.payload["env"]


@pytest.mark.usefixtures("require_memory_limits")
def test_allocating_within_memory_size_works_and_is_reported(invoke_client, new_function):
    name = hog(new_function, MemorySize=256)
    inv = invoke(invoke_client, name, {"alloc_mb": 96})
    assert inv.function_error is None, inv
    assert inv.payload["allocated"] == 96 * 1024 * 1024
    report = inv.report()
    assert report["memory"] == "256"
    assert 96 <= int(report["max_memory"]) <= 256, inv.log


@pytest.mark.usefixtures("require_memory_limits")
def test_memory_limit_follows_memory_size(invoke_client, new_function):
    name = hog(new_function, MemorySize=640)
    inv = invoke(invoke_client, name, {"alloc_mb": 400})
    assert inv.function_error is None, inv


def test_tmp_does_not_count_against_memory_size(invoke_client, new_function):
    # On AWS /tmp is storage of its own (EphemeralStorage, 512 MB by default), not memory:
    # a 128 MB function can fill 300 MB of it.
    name = hog(new_function, MemorySize=128)
    inv = invoke(invoke_client, name, {"tmp_mb": 300})
    assert inv.function_error is None, f"writing 300 MB to /tmp at MemorySize=128 failed: {inv}"
    assert inv.payload["written_mb"] == 300
    assert "errno" not in inv.payload


def test_tmp_is_limited_to_ephemeral_storage(invoke_client, new_function):
    name = hog(new_function, MemorySize=2048, EphemeralStorage={"Size": 512})
    inv = invoke(invoke_client, name, {"tmp_mb": 600}, tail=False)
    assert inv.function_error is None, inv
    assert inv.payload.get("errno") == 28, inv.payload  # ENOSPC
    assert 400 <= inv.payload["written_mb"] <= 512, inv.payload


# --- reserved concurrency ------------------------------------------------------


def test_reserved_concurrency_zero_throttles_every_invoke(invoke_client, lambda_client, new_function):
    name = hog(new_function)
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=name, Payload=b"{}")
    assert_error(e.value, "TooManyRequestsException", 429, message="Rate Exceeded.")
    assert e.value.response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded", (
        e.value.response
    )
    # Removing the reservation lets invokes through again.
    lambda_client.delete_function_concurrency(FunctionName=name)
    assert invoke(invoke_client, name, {}).function_error is None


def test_reserved_concurrency_applies_to_published_versions(
    invoke_client, lambda_client, new_function
):
    name = hog(new_function)
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    # The reservation is the function's: it applies to every version.
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert_error(e.value, "TooManyRequestsException", 429)


def test_reserved_concurrency_one_admits_one_at_a_time(invoke_client, lambda_client, new_function):
    name = hog(new_function, Timeout=10)
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    results = concurrently(2, lambda i: invoke_or_throttle(invoke_client, name, {"sleep": 1.0}))
    throttled = [r for r in results if isinstance(r, ClientError)]
    ran = [r for r in results if not isinstance(r, ClientError)]
    assert len(throttled) == 1 and len(ran) == 1, results
    assert_error(throttled[0], "TooManyRequestsException", 429)
    assert throttled[0].response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert ran[0].function_error is None, ran[0]
    # The permit comes back when the invocation ends.
    assert invoke(invoke_client, name, {}).function_error is None


# --- account concurrency ---------------------------------------------------------


def test_account_concurrency_limit(server_factory):
    srv = server_factory(env={"STRATUS_ACCOUNT_CONCURRENCY": "2"})
    client = srv.client(**INVOKE_CONFIG)
    name = unique_name()
    create_function(client, name, make_zip({"app.py": HOG}), Timeout=10)
    wait_active(client, name)
    settings = client.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 2, settings

    started = time.monotonic()
    results = concurrently(3, lambda i: invoke_or_throttle(client, name, {"sleep": 1.0}))
    throttled = [r for r in results if isinstance(r, ClientError)]
    assert len(throttled) == 1, results
    assert_error(throttled[0], "TooManyRequestsException", 429)
    assert throttled[0].response.get("Reason") == "ConcurrentInvocationLimitExceeded", (
        throttled[0].response
    )
    assert all(r.function_error is None for r in results if not isinstance(r, ClientError))
    # Throttling answers at once rather than queueing behind the running invocations.
    assert time.monotonic() - started < 10
    # Capacity is back once they have finished.
    assert invoke(client, name, {}).function_error is None
