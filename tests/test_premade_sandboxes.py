"""Pre-made sandboxes (decision 0038): cold starts take an environment prepared before the
function asked (for python and node, with the interpreter already started), and each one serves one
function version once. What one function leaves in its environment (a file in /tmp, module
state, its cgroup, its processes) is never seen by another function's or another version's
fresh environment.

Every test needs namespace isolation (a pre-made sandbox exists only there).
"""

import json
import time
import urllib.request

import pytest

from helpers import INVOKE_CONFIG, create_function, invoke, make_zip, unique_name, wait_active

# Looks at its environment; leaves a file in /tmp and a mark in its module state.
PROBE = r'''
import os, sys, time, uuid

LOADED = uuid.uuid4().hex
MARKS = []


def handler(event, context):
    before = sorted(os.listdir("/tmp"))
    with open("/tmp/left-by-" + os.environ["AWS_LAMBDA_FUNCTION_NAME"], "w") as f:
        f.write(os.environ["AWS_LAMBDA_FUNCTION_VERSION"])
    MARKS.append(event.get("mark"))
    with open("/proc/self/cgroup") as f:
        cgroup = f.read().strip()
    return {
        "tmp_before": before,
        "loaded": LOADED,
        "marks": MARKS,
        "cgroup": cgroup,
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "processes": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "own_var": os.environ.get("OWN_VAR"),
        "handler_var": os.environ.get("_HANDLER"),
        "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
        "prestart_fd": os.environ.get("_STRATUS_PRESTART_FD"),
        "dont_write_bytecode": sys.flags.dont_write_bytecode,
        "tz": time.tzname,
        "extra_pipes": _extra_pipes(),
    }


def _extra_pipes():
    """Pipes open besides stdout and stderr (the hand-over pipe must be closed)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if int(fd) > 2 and target.startswith("pipe:"):
            out.append(fd)
    return out
'''


@pytest.fixture(scope="module")
def pool_server(module_server_factory):
    """A server whose pool keeps two pre-made sandboxes per runtime asked for."""
    return module_server_factory(env={"STRATUS_PREMADE_SANDBOXES": "2"})


@pytest.fixture(autouse=True)
def needs_namespaces(pool_server):
    mode = pool_server.health()[1].get("isolation")
    if mode != "namespaces":
        pytest.skip(f"pre-made sandboxes need namespace isolation (isolation={mode!r})")


def pool(server):
    return server.health()[1]["sandbox_pool"]


def wait_ready(server, n=1, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pool(server)["ready"] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"no pre-made sandbox became ready: {pool(server)}")


def wait_full(server, timeout=30):
    """Until every runtime asked for has its pre-made sandboxes ready."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        p = pool(server)
        if p["ready"] >= p["per_runtime"] * p["runtimes"]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the pool did not fill: {pool(server)}")


def deploy(client, name=None, env=None):
    name = name or unique_name("pm")
    extra = {"Environment": {"Variables": env}} if env else {}
    create_function(client, name, make_zip({"app.py": PROBE}), Handler="app.handler",
                    MemorySize=256, **extra)
    wait_active(client, name)
    return name


def taken_cold(client, server, name, **kwargs):
    """A cold start that a pre-made sandbox served (the pool's count of those taken grows)."""
    # Every runtime's shelf full: a family is refilled only after its last cold start.
    wait_full(server)
    before = pool(server)["taken"]
    got = invoke(client, name, {"mark": name}, **kwargs)
    assert got.function_error is None, got
    assert got.report().get("init"), f"not a cold start: {got.log}"
    assert pool(server)["taken"] == before + 1, pool(server)
    return got.payload


@pytest.fixture(scope="module")
def client(pool_server):
    return pool_server.client(**INVOKE_CONFIG)


def test_the_pool_is_filled_once_a_runtime_is_asked_for(pool_server, client):
    first = deploy(client)
    assert invoke(client, first, {}).function_error is None
    wait_ready(pool_server, 2)
    report = pool(pool_server)
    assert report["per_runtime"] == 2 and report["runtimes"] >= 1, report


def test_a_function_sees_nothing_another_left_in_its_sandbox(pool_server, client):
    a, b = deploy(client), deploy(client)
    got_a = taken_cold(client, pool_server, a)
    got_b = taken_cold(client, pool_server, b)
    assert f"left-by-{a}" not in got_b["tmp_before"], got_b
    assert got_a["tmp_before"] == [] and got_b["tmp_before"] == []
    assert got_a["cgroup"] != got_b["cgroup"]
    assert got_a["loaded"] != got_b["loaded"]
    assert got_b["marks"] == [b], "module state of another function"
    # Each sandbox has a pid namespace of its own: pid 1, its launcher's init, and the runtime.
    assert got_b["processes"] == ["1", str(got_b["pid"])], got_b
    # Warm, A keeps its own environment; B's file never appears there.
    again = invoke(client, a, {"mark": "again"}).payload
    assert again["loaded"] == got_a["loaded"] and again["marks"] == [a, "again"]
    assert f"left-by-{b}" not in again["tmp_before"]


def test_each_version_gets_a_fresh_sandbox(pool_server, client):
    name = deploy(client, env={"OWN_VAR": "one"})
    v1 = client.publish_version(FunctionName=name)["Version"]
    client.update_function_configuration(FunctionName=name,
                                         Environment={"Variables": {"OWN_VAR": "two"}})
    client.get_waiter("function_updated_v2").wait(FunctionName=name)
    v2 = client.publish_version(FunctionName=name)["Version"]
    got1 = taken_cold(client, pool_server, name, Qualifier=v1)
    got2 = taken_cold(client, pool_server, name, Qualifier=v2)
    assert (got1["version"], got1["own_var"]) == (v1, "one")
    assert (got2["version"], got2["own_var"]) == (v2, "two")
    assert got2["tmp_before"] == [] and got1["cgroup"] != got2["cgroup"]
    assert got1["loaded"] != got2["loaded"] and got2["marks"] == [name]


def test_a_prestarted_interpreter_takes_its_functions_environment(pool_server, client):
    name = deploy(client, env={"OWN_VAR": "mine", "TZ": "America/New_York"})
    got = taken_cold(client, pool_server, name)
    assert got["own_var"] == "mine" and got["handler_var"] == "app.handler"
    assert got["function"] == name
    assert got["cwd"] == "/var/task" and got["path0"] == "/var/task"
    # The hand-over channel is gone once the function runs.
    assert got["prestart_fd"] is None and got["extra_pipes"] == [], got
    assert got["tz"][0] == "EST", got["tz"]


def test_a_function_whose_variables_shape_the_interpreter_gets_it_started_for_it(
        pool_server, client):
    # PYTHONDONTWRITEBYTECODE only works if set when the interpreter starts: such a function
    # gets a pre-made sandbox whose interpreter is started with its own environment.
    env = {"PYTHONDONTWRITEBYTECODE": "1"}
    warm_up = deploy(client, env=env)
    assert invoke(client, warm_up, {}).function_error is None
    name = deploy(client, env=env)
    got = taken_cold(client, pool_server, name)
    assert got["dont_write_bytecode"] == 1, got
    assert got["tmp_before"] == [] and got["extra_pipes"] == []


def test_the_pool_is_emptied_when_idle(module_server_factory):
    srv = module_server_factory(env={"STRATUS_PREMADE_SANDBOXES": "1",
                                     "STRATUS_IDLE_TIMEOUT_SECS": "2"})
    c = srv.client(**INVOKE_CONFIG)
    name = deploy(c)
    assert invoke(c, name, {}).function_error is None
    wait_ready(srv, 1)
    end = time.monotonic() + 30
    while pool(srv)["ready"] and time.monotonic() < end:
        time.sleep(0.2)
    assert pool(srv)["ready"] == 0 and pool(srv)["runtimes"] == 0, pool(srv)


def test_process_isolation_has_no_pool(module_server_factory):
    srv = module_server_factory(env={"STRATUS_ISOLATION": "process",
                                     "STRATUS_PREMADE_SANDBOXES": "2"})
    c = srv.client(**INVOKE_CONFIG)
    name = deploy(c)
    for _ in range(2):
        got = invoke(c, name, {})
        assert got.function_error is None, got
    report = pool(srv)
    assert report["ready"] == 0 and report["taken"] == 0, report


# The node counterpart of PROBE.
NODE_PROBE = r'''
const fs = require('node:fs');
const Module = require('node:module');
const LOADED = Math.random().toString(16).slice(2);
const MARKS = [];

// When this process started, from the kernel's count (process.uptime() counts from later).
function startedMs() {
  const ticks = Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[19]);
  const sinceBoot = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Date.now() - (sinceBoot - ticks / 100) * 1000;
}

exports.handler = async (event) => {
  const before = fs.readdirSync('/tmp').sort();
  fs.writeFileSync(`/tmp/left-by-${process.env.AWS_LAMBDA_FUNCTION_NAME}`, 'x');
  MARKS.push(event.mark);
  return {
    tmp_before: before,
    loaded: LOADED,
    marks: MARKS,
    cgroup: fs.readFileSync('/proc/self/cgroup', 'utf8').trim(),
    cwd: process.cwd(),
    own_var: process.env.OWN_VAR ?? null,
    handler_var: process.env._HANDLER,
    function: process.env.AWS_LAMBDA_FUNCTION_NAME,
    prestart_fd: process.env._STRATUS_PRESTART_FD ?? null,
    time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    offset: new Date(Date.UTC(2024, 0, 15)).getTimezoneOffset(),
    global_paths: Module.globalPaths,
    no_deprecation: process.noDeprecation ?? false,
    started_ms: startedMs(),
  };
};
'''


def deploy_node(client, env=None):
    name = unique_name("pmn")
    extra = {"Environment": {"Variables": env}} if env else {}
    create_function(client, name, make_zip({"index.js": NODE_PROBE}), Runtime="nodejs20.x",
                    Handler="index.handler", MemorySize=256, **extra)
    wait_active(client, name)
    return name


def test_a_prestarted_node_interpreter_serves_one_function_with_its_environment(
        pool_server, client):
    # The first node cold start asks for node's family; the pool fills after it.
    assert invoke(client, deploy_node(client), {}).function_error is None
    wait_full(pool_server)
    # The kernel counts a process's start in hundredths of a second: leave a clear gap.
    time.sleep(0.5)
    deployed_ms = time.time() * 1000
    a = deploy_node(client, env={"OWN_VAR": "a"})
    b = deploy_node(client, env={"OWN_VAR": "b", "TZ": "America/New_York"})
    got_a = taken_cold(client, pool_server, a)
    wait_full(pool_server)
    got_b = taken_cold(client, pool_server, b)
    assert got_a["own_var"] == "a" and got_b["own_var"] == "b"
    assert got_b["function"] == b and got_b["handler_var"] == "index.handler"
    assert got_b["cwd"] == "/var/task"
    assert got_b["tmp_before"] == [] and f"left-by-{a}" not in got_b["tmp_before"]
    assert got_a["cgroup"] != got_b["cgroup"] and got_a["loaded"] != got_b["loaded"]
    assert got_b["marks"] == [b], "module state of another function"
    # The hand-over channel's name is gone (node keeps pipes of its own, so they are not
    # counted); the time zone and CommonJS paths are the function's.
    assert got_b["prestart_fd"] is None, got_b
    assert got_b["time_zone"] == "America/New_York" and got_b["offset"] == 300, got_b
    assert got_a["offset"] == 0
    assert "/var/runtime/node_modules" in got_b["global_paths"], got_b["global_paths"]
    # Its interpreter was started before the function existed.
    assert got_a["started_ms"] < deployed_ms, (got_a["started_ms"], deployed_ms)


def test_a_node_function_whose_options_shape_the_interpreter_gets_it_started_for_it(
        pool_server, client):
    # NODE_OPTIONS is read only as node starts: such a function's interpreter starts with it.
    env = {"NODE_OPTIONS": "--no-deprecation"}
    assert invoke(client, deploy_node(client, env=env), {}).function_error is None
    wait_full(pool_server)
    got = taken_cold(client, pool_server, deploy_node(client, env=env))
    assert got["no_deprecation"] is True, got
    assert got["tmp_before"] == [] and got["prestart_fd"] is None
