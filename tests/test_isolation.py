"""Isolation between functions, and between functions and the host, in namespace mode: code,
processes, filesystems, network, and the privileges a function would need to undo its sandbox.

Every test needs the server to isolate environments with namespaces (GET /health reports
"isolation": "namespaces"), and is skipped with that reason otherwise.
"""

import os
import shutil
import socket
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import create_function, invoke, listening_ports, make_zip, unique_name, wait_active

pytestmark = pytest.mark.usefixtures("require_namespaces")

# A function that looks around its environment; the event names what to try.
PROBE = r'''
import ctypes, errno, glob, json, os, socket, time, urllib.error, urllib.request, uuid

ENV_ID = uuid.uuid4().hex
libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2
MS_REMOUNT, MS_BIND = 32, 4096


def attempt(fn):
    """What fn returned, or the error it raised, as JSON-friendly data."""
    try:
        return {"ok": fn()}
    except Exception as e:
        return {"error": type(e).__name__, "errno": getattr(e, "errno", None), "text": str(e)[:300]}


def listdir(path):
    return sorted(os.listdir(path))


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text="x"):
    with open(path, "w") as f:
        f.write(text)
    return True


def umount(path):
    r = libc.umount2(path.encode(), MNT_DETACH)
    return [r, ctypes.get_errno()]


def pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def connect(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return "connected"


def get(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return {"status": r.status, "headers": dict(r.headers), "body": r.read(500).decode("utf-8", "replace")}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "headers": dict(e.headers), "body": e.read(500).decode("utf-8", "replace")}


def own_memory_limit_file():
    for line in read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            candidate = "/sys/fs/cgroup" + path + "/memory.max"
        elif "memory" in controllers.split(","):
            candidate = "/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes"
        else:
            continue
        if os.path.exists(candidate):
            return candidate
    return None


def handler(event, context):
    do = event["do"]
    out = {"env": ENV_ID}
    if do == "look":
        out["pid"] = os.getpid()
        out["pids"] = pids()
        out["task"] = listdir("/var/task")
        out["data_dir"] = attempt(lambda: listdir(event["data_dir"]))
        out["other_code"] = attempt(lambda: read(event["other_file"]))
        out["signal_server"] = attempt(lambda: os.kill(event["server_pid"], 0))
        out["env_vars"] = dict(os.environ)
    elif do == "write":
        out["task"] = attempt(lambda: write("/var/task/written-by-function"))
        out["runtime"] = attempt(lambda: write(os.environ["LAMBDA_RUNTIME_DIR"] + "/written-by-function"))
        out["tmp"] = attempt(lambda: write("/tmp/" + event["marker"], ENV_ID))
        out["host_file"] = attempt(lambda: read(event["host_file"]))
    elif do == "check_tmp":
        out["exists"] = os.path.exists("/tmp/" + event["marker"])
    elif do == "tmp_alone":
        write("/tmp/env-" + ENV_ID, ENV_ID)
        time.sleep(event["sleep"])
        out["seen"] = sorted(n[len("env-"):] for n in os.listdir("/tmp") if n.startswith("env-"))
    elif do == "network":
        out["host_listener"] = attempt(lambda: connect(event["listener_port"]))
        out["next_at_platform_port"] = attempt(
            lambda: get("http://127.0.0.1:%d/2018-06-01/runtime/invocation/next" % event["server_port"]))
        out["endpoint_health"] = attempt(lambda: get(os.environ["AWS_ENDPOINT_URL"] + "/health"))
    elif do == "escape_proc":
        out["umount"] = umount("/proc")
        out["pids"] = attempt(pids)
    elif do == "escape_data":
        out["umount_tmp"] = umount("/tmp")
        out["umount_data"] = umount(event["data_dir"])
        out["found"] = attempt(lambda: [read(p) for p in glob.glob(event["data_dir"] + "/**/" + event["secret_name"], recursive=True)])
    elif do == "escape_task":
        r = libc.mount(None, b"/var/task", None, MS_REMOUNT | MS_BIND, None)
        out["remount"] = [r, ctypes.get_errno()]
        out["write"] = attempt(lambda: write("/var/task/" + event["marker"]))
    elif do == "raise_memory_limit":
        path = own_memory_limit_file()
        out["path"] = path
        if path:
            before = read(path).strip()
            if path.endswith("memory.max"):
                out["write"] = attempt(lambda: write(path, "max"))
            else:
                # cgroup v1: the memory+swap limit must be raised first.
                swap = path.replace("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")
                if os.path.exists(swap):
                    out["write_swap"] = attempt(lambda: write(swap, "-1"))
                out["write"] = attempt(lambda: write(path, "-1"))
            out["before"], out["after"] = before, read(path).strip()
    elif do == "capabilities":
        out["uid"] = os.getuid()
        out["cap_eff"] = [l.split()[1] for l in read("/proc/self/status").splitlines() if l.startswith("CapEff:")][0]
    return out
'''


def probe_fn(create, **overrides):
    return create(zip_bytes=make_zip({"app.py": PROBE}), Timeout=15, **overrides)["FunctionName"]


def find_in(root, filename):
    hits = [p for p in Path(root).rglob(filename)]
    assert hits, f"{filename} not found under {root}"
    return hits[0]


@pytest.fixture(scope="module")
def probe(module_new_function):
    return probe_fn(module_new_function)


@pytest.fixture(scope="module")
def victim(server, module_new_function, invoke_client):
    """Another function with a secret file in its code; returns (name, secret file name,
    path of the unpacked secret file on the host)."""
    secret_name = f"secret-{uuid.uuid4().hex}.txt"
    name = module_new_function(
        zip_bytes=make_zip({"app.py": "def handler(event, context):\n    return 1\n",
                            secret_name: "the victim's secret"})
    )["FunctionName"]
    invoke(invoke_client, name, {})  # so its code is unpacked and an environment is warm
    return name, secret_name, find_in(server.data_dir, secret_name)


def look(client, name, **event):
    inv = invoke(client, name, event, tail=False)
    assert inv.function_error is None, inv
    return inv.payload


def assert_failed(result, what):
    assert "error" in result, f"{what} succeeded inside the environment: {result}"


# --- code and the data directory -----------------------------------------------


def test_another_functions_code_is_out_of_reach(server, invoke_client, probe, victim):
    _, _, secret_path = victim
    out = look(invoke_client, probe, do="look", data_dir=str(server.data_dir),
               other_file=str(secret_path), server_pid=server.proc.pid)
    listing = out["data_dir"]
    assert listing.get("ok", []) == [], f"the data directory is visible: {listing}"
    assert_failed(out["other_code"], "reading another function's code")


def test_only_its_own_code_is_in_the_task_root(invoke_client, probe, server):
    out = look(invoke_client, probe, do="look", data_dir=str(server.data_dir),
               other_file="/nonexistent", server_pid=server.proc.pid)
    assert out["task"] == ["app.py"], out["task"]


@pytest.fixture(scope="module")
def outside_tmp_server(module_server_factory):
    """A server whose data directory is not under /tmp (so the function's private /tmp does not
    hide it by accident) and whose own environment carries a canary variable."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    data_dir = Path(tempfile.mkdtemp(prefix="stratus-isolation-", dir=base))
    srv = module_server_factory(data_dir=data_dir, env={"STRATUS_TEST_CANARY": "platform-secret"})
    yield srv
    srv.kill()
    shutil.rmtree(data_dir, ignore_errors=True)


def test_data_dir_outside_tmp_is_hidden_too(outside_tmp_server):
    srv = outside_tmp_server
    client = srv.client()
    secret_name = f"secret-{uuid.uuid4().hex}.txt"
    victim_name, probe_name = unique_name(), unique_name()
    create_function(client, victim_name, make_zip({"app.py": "def handler(e, c):\n    return 1\n",
                                                   secret_name: "hidden"}))
    create_function(client, probe_name, make_zip({"app.py": PROBE}), Timeout=15)
    for name in (victim_name, probe_name):
        wait_active(client, name)
    invoke(client, victim_name, {})
    secret_path = find_in(srv.data_dir, secret_name)
    out = look(client, probe_name, do="look", data_dir=str(srv.data_dir),
               other_file=str(secret_path), server_pid=srv.proc.pid)
    assert out["data_dir"].get("ok", []) == [], f"the data directory is visible: {out['data_dir']}"
    assert_failed(out["other_code"], "reading another function's code")


def test_platform_environment_does_not_leak_into_functions(outside_tmp_server):
    client = outside_tmp_server.client()
    name = unique_name()
    create_function(client, name, make_zip({"app.py": PROBE}), Timeout=15)
    wait_active(client, name)
    out = look(client, name, do="look", data_dir="/nonexistent", other_file="/nonexistent",
               server_pid=outside_tmp_server.proc.pid)
    leaked = {k: v for k, v in out["env_vars"].items() if k.startswith("STRATUS_")}
    assert leaked == {}, f"platform variables visible to the function: {leaked}"


# --- processes -------------------------------------------------------------------


def test_host_processes_are_invisible(server, invoke_client, probe):
    out = look(invoke_client, probe, do="look", data_dir="/nonexistent", other_file="/nonexistent",
               server_pid=server.proc.pid)
    assert out["pid"] < 10, f"the runtime's pid is {out['pid']}: not in a pid namespace of its own"
    assert len(out["pids"]) < 10, f"the function sees {len(out['pids'])} processes: {out['pids'][:20]}"
    if server.proc.pid not in out["pids"]:
        assert out["signal_server"].get("error") == "ProcessLookupError", out["signal_server"]


# --- filesystems -------------------------------------------------------------------


def test_task_root_and_runtime_dir_are_read_only(invoke_client, probe):
    out = look(invoke_client, probe, do="write", marker=f"m-{uuid.uuid4().hex}", host_file="/nonexistent")
    assert out["task"].get("errno") == 30, f"/var/task is writable: {out['task']}"  # EROFS
    assert out["runtime"].get("errno") == 30, f"the runtime directory is writable: {out['runtime']}"


def test_tmp_is_writable_and_private(invoke_client, new_function, probe, tmp_path):
    other = probe_fn(new_function)
    marker = f"marker-{uuid.uuid4().hex}"
    host_file = Path(tempfile.gettempdir()) / f"host-only-{uuid.uuid4().hex}"
    host_file.write_text("host")
    try:
        out = look(invoke_client, probe, do="write", marker=marker, host_file=str(host_file))
    finally:
        host_file.unlink()
    assert out["tmp"] == {"ok": True}, out["tmp"]
    assert_failed(out["host_file"], "reading the host's /tmp")
    assert not (Path(tempfile.gettempdir()) / marker).exists(), "the function's /tmp is the host's"
    # The same environment sees its file again; another function does not.
    assert look(invoke_client, probe, do="check_tmp", marker=marker)["exists"] is True
    assert look(invoke_client, other, do="check_tmp", marker=marker)["exists"] is False


def test_concurrent_environments_of_one_function_have_separate_tmp(invoke_client, new_function):
    name = probe_fn(new_function)
    barrier = threading.Barrier(2)

    def run(_):
        barrier.wait()
        return look(invoke_client, name, do="tmp_alone", sleep=1.0)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, range(2)))
    assert results[0]["env"] != results[1]["env"], "both invocations ran in one environment"
    for r in results:
        assert r["seen"] == [r["env"]], f"/tmp shared between environments: {results}"


# --- network ---------------------------------------------------------------------------


def test_network_is_the_environments_own(server, invoke_client, probe):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        out = look(invoke_client, probe, do="network", listener_port=listener.getsockname()[1],
                   server_port=server.port)
    # A service on the host's loopback is out of reach.
    assert_failed(out["host_listener"], "connecting to a host loopback port")
    # What answers at the platform's port inside hands out no invocations.
    nxt = out["next_at_platform_port"]
    if "ok" in nxt:
        headers = {k.lower() for k in nxt["ok"]["headers"]}
        assert nxt["ok"]["status"] != 200 and "lambda-runtime-aws-request-id" not in headers, nxt
    # ...while the platform's endpoint works.
    health = out["endpoint_health"]
    assert health.get("ok", {}).get("status") == 200, health


def test_platform_exposes_no_per_environment_port_on_the_host(server, invoke_client, probe, victim):
    # Both functions have warm environments now; their Runtime APIs must not be on the host.
    look(invoke_client, probe, do="check_tmp", marker="x")
    invoke(invoke_client, victim[0], {})
    assert listening_ports(server.proc.pid) == {server.port}


# --- privileges: a function must not be able to undo its sandbox ------------------------


def test_function_runs_without_privileges(invoke_client, new_function):
    out = look(invoke_client, probe_fn(new_function), do="capabilities")
    assert int(out["cap_eff"], 16) == 0, (
        f"the function runs with capabilities {out['cap_eff']} (uid {out['uid']}): it can unmount "
        "and remount its sandbox"
    )


def test_function_cannot_unmount_its_proc_to_see_host_processes(invoke_client, new_function):
    out = look(invoke_client, probe_fn(new_function), do="escape_proc")
    seen = out["pids"].get("ok", [])
    assert len(seen) < 10, (
        f"after umount /proc (result {out['umount']}) the function sees {len(seen)} host processes"
    )


def test_function_cannot_uncover_the_data_dir(server, invoke_client, new_function, victim):
    _, secret_name, _ = victim
    out = look(invoke_client, probe_fn(new_function), do="escape_data",
               data_dir=str(server.data_dir), secret_name=secret_name)
    found = out["found"].get("ok", [])
    assert found == [], (
        f"after umount /tmp {out['umount_tmp']} and umount of the data dir {out['umount_data']}, "
        f"the function read another function's code: {found}"
    )


def test_function_cannot_remount_its_code_writable(server, invoke_client, new_function):
    name = probe_fn(new_function)
    marker = f"planted-{uuid.uuid4().hex}"
    out = look(invoke_client, name, do="escape_task", marker=marker)
    planted = list(Path(server.data_dir).rglob(marker))
    assert "error" in out["write"] and not planted, (
        f"remount of /var/task (result {out['remount']}) let the function write into its code "
        f"package on the host: {planted}"
    )


def test_function_cannot_raise_its_own_memory_limit(invoke_client, new_function, server_health):
    if not server_health.get("memory_limits"):
        pytest.skip("the server reports memory_limits=false: no cgroup to tamper with")
    out = look(invoke_client, probe_fn(new_function, MemorySize=128), do="raise_memory_limit")
    if out["path"] is None:
        return  # its cgroup is not even visible
    assert out["after"] == out["before"], (
        f"the function changed its own memory limit {out['path']}: {out['before']} -> {out['after']}"
    )
