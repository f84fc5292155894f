"""Scaling: concurrent invocations get environments of their own and run in parallel, every
invocation gets exactly its own answer under load, warm environments are reused, and idle ones
are reclaimed until no function process is left (scale to zero)."""

import os
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from helpers import (
    INVOKE_CONFIG,
    create_function,
    function_processes,
    invoke,
    make_zip,
    make_zip_with_modes,
    unique_name,
    wait_active,
    wait_until,
)

WORKER = '''
import os, time, uuid

ENV_ID = uuid.uuid4().hex


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"env": ENV_ID, "stream": context.log_stream_name, "echo": event.get("echo"),
            "request_id": context.aws_request_id}
'''


def worker(new_function, **overrides):
    return new_function(zip_bytes=make_zip({"app.py": WORKER}), Timeout=20, **overrides)[
        "FunctionName"
    ]


def test_simultaneous_invokes_run_in_parallel_environments(invoke_client, new_function):
    name = worker(new_function)
    barrier = threading.Barrier(10)

    def run(i):
        barrier.wait()
        return invoke(invoke_client, name, {"sleep": 1.5, "echo": i}, tail=False)

    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(run, range(10)))
    elapsed = time.monotonic() - started
    assert all(r.function_error is None for r in results), results
    assert [r.payload["echo"] for r in results] == list(range(10))
    assert elapsed < 6.0, f"10 simultaneous 1.5 s invocations took {elapsed:.1f} s"
    envs = {r.payload["env"] for r in results}
    streams = {r.payload["stream"] for r in results}
    assert len(envs) == 10, f"10 simultaneous invocations ran in {len(envs)} environments"
    assert len(streams) == 10, streams


def test_many_invokes_from_many_threads_each_get_their_own_answer(invoke_client, new_function):
    name = worker(new_function)
    tokens = [f"{i}-{uuid.uuid4().hex}" for i in range(200)]

    def run(token):
        inv = invoke(invoke_client, name, {"echo": token}, tail=False)
        assert inv.function_error is None, inv
        return token, inv.request_id, inv.payload

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(run, tokens))
    assert len(results) == 200
    for token, request_id, payload in results:
        assert payload["echo"] == token, f"invocation of {token} answered {payload['echo']}"
        assert payload["request_id"] == request_id
    request_ids = Counter(r[1] for r in results)
    assert len(request_ids) == 200, [rid for rid, n in request_ids.items() if n > 1]
    envs = {r[2]["env"] for r in results}
    # Never more environments than invocations in flight at once.
    assert 1 <= len(envs) <= 16, f"16 client threads used {len(envs)} environments"


def test_warm_environments_are_reused_after_a_burst(invoke_client, new_function):
    name = worker(new_function)
    barrier = threading.Barrier(4)

    def run(_):
        barrier.wait()
        return invoke(invoke_client, name, {"sleep": 0.5}, tail=False).payload["env"]

    with ThreadPoolExecutor(4) as pool:
        burst = set(pool.map(run, range(4)))
    for _ in range(6):
        inv = invoke(invoke_client, name, {})
        assert inv.report()["init"] is None, f"cold start although warm environments exist:\n{inv.log}"
        assert inv.payload["env"] in burst


def test_environments_outlive_the_threads_that_started_them(invoke_client, new_function):
    """A launcher dies with the thread that started it (its parent-death signal follows the
    thread): environments made in a burst must still be there after the platform's idle
    threads have retired (tokio retires a blocking thread after 10 idle seconds)."""
    name = worker(new_function)

    def burst():
        barrier = threading.Barrier(16)

        def run(_):
            barrier.wait()
            return invoke(invoke_client, name, {"sleep": 1.0})

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(run, range(16)))
        assert all(r.function_error is None for r in results), [r.log for r in results]
        return results

    first = {r.payload["env"] for r in burst()}
    assert len(first) == 16
    time.sleep(12)
    second = burst()
    cold = [r.log for r in second if r.report()["init"] is not None]
    assert not cold, f"{len(cold)} environments of the burst were gone:\n{cold[0]}"
    assert {r.payload["env"] for r in second} == first


# --- scale to zero ---------------------------------------------------------------


def environment_cgroups(server_pid, env_id):
    """Cgroup directories of one environment that still exist (v1 or v2)."""
    dirs = []
    try:
        lines = Path(f"/proc/{server_pid}/cgroup").read_text().splitlines()
    except OSError:
        return dirs
    for line in lines:
        _, controllers, path = line.split(":", 2)
        roots = ["/sys/fs/cgroup"] if controllers == "" else [
            f"/sys/fs/cgroup/{c}" for c in controllers.split(",") if c in ("memory", "pids")
        ]
        for root in roots:
            candidate = Path(root + path) / "stratus" / env_id
            if candidate.is_dir():
                dirs.append(str(candidate))
    return dirs


SHELL_BOOTSTRAP = r"""#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  curl -sS -LD "$HEADERS" "$API/invocation/next" > /dev/null
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS "$API/invocation/$ID/response" -d "{\"stream\": \"$AWS_LAMBDA_LOG_STREAM_NAME\"}" > /dev/null
done
"""


def test_idle_environments_are_reclaimed_to_zero(server_factory):
    srv = server_factory(env={"STRATUS_IDLE_TIMEOUT_SECS": "1"})
    client = srv.client(**INVOKE_CONFIG)
    packages = {
        "python": (make_zip({"app.py": WORKER}), {}),
        "node": (make_zip({"index.js": "exports.handler = async (e, c) => ({stream: c.logStreamName});\n"}),
                 {"Runtime": "nodejs20.x", "Handler": "index.handler"}),
        "shell": (make_zip_with_modes({"bootstrap": (SHELL_BOOTSTRAP, 0o755)}),
                  {"Runtime": "provided.al2023", "Handler": "x"}),
    }
    names = {}
    for kind, (zip_bytes, overrides) in packages.items():
        names[kind] = unique_name(kind)
        create_function(client, names[kind], zip_bytes, Timeout=10, **overrides)
    for name in names.values():
        wait_active(client, name)

    env_ids = []
    for name in names.values():
        inv = invoke(client, name, {})
        assert inv.function_error is None, inv
        env_ids.append(inv.payload["stream"].rsplit("]", 1)[1])
    fn_names = list(names.values())
    assert function_processes(srv.data_dir, fn_names), "no environment process found while warm"

    wait_until(
        lambda: not function_processes(srv.data_dir, fn_names),
        timeout=20,
        interval=0.2,
        message=lambda: f"idle reclaim; still running: {function_processes(srv.data_dir, fn_names)}",
    )
    wait_until(
        lambda: not any(environment_cgroups(srv.proc.pid, e) for e in env_ids),
        timeout=10,
        interval=0.2,
        message=lambda: "removal of the reclaimed environments' cgroups; left: "
        + str([d for e in env_ids for d in environment_cgroups(srv.proc.pid, e)]),
    )
    # The next invoke starts a new environment.
    for name in fn_names:
        inv = invoke(client, name, {})
        assert inv.function_error is None, inv
        assert inv.report()["init"] is not None, inv.log
    srv.stop()


def test_busy_environment_is_not_reclaimed_mid_invoke(server_factory):
    srv = server_factory(env={"STRATUS_IDLE_TIMEOUT_SECS": "1"})
    client = srv.client(**INVOKE_CONFIG)
    name = unique_name()
    create_function(client, name, make_zip({"app.py": WORKER}), Timeout=10)
    wait_active(client, name)
    inv = invoke(client, name, {"sleep": 3, "echo": "long"})
    assert inv.function_error is None, inv
    assert inv.payload["echo"] == "long"
    srv.stop()


# A custom runtime that, like many, retries when the Runtime API does not answer.
PERSISTENT_BOOTSTRAP = r"""#!/bin/bash
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  if ! curl -sS -LD "$HEADERS" "$API/invocation/next" > /dev/null 2>&1; then
    sleep 0.2
    continue
  fi
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS "$API/invocation/$ID/response" -d '"ok"' > /dev/null 2>&1 || true
done
"""


def test_environments_do_not_outlive_a_killed_platform(server_factory):
    srv = server_factory()
    client = srv.client(**INVOKE_CONFIG)
    names = [unique_name("py"), unique_name("sh")]
    create_function(client, names[0], make_zip({"app.py": WORKER}))
    create_function(client, names[1], make_zip_with_modes({"bootstrap": (PERSISTENT_BOOTSTRAP, 0o755)}),
                    Runtime="provided.al2023", Handler="x")
    for name in names:
        wait_active(client, name)
        assert invoke(client, name, {}).function_error is None
    assert function_processes(srv.data_dir, names)
    srv.kill()  # kill -9: no chance to stop its environments
    try:
        wait_until(
            lambda: not function_processes(srv.data_dir, names),
            timeout=10,
            interval=0.2,
            message=lambda: "environments ending with the killed platform; still running: "
            + str(function_processes(srv.data_dir, names)),
        )
    finally:
        # Whatever this test left behind: end its environments' launchers (their namespaces
        # die with them).
        for pid, cmdline in function_processes(srv.data_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
