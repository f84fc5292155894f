"""The server's `network` option: what an environment's network namespace offers besides its
Runtime API. `platform` (the default, covered by test_isolation.py) offers the platform's
endpoint; `none` offers nothing; `nat` reaches the outside through a bridge the platform
creates, as `egress_allow` / `egress_deny` say, and never the host, the metadata range or
another environment; anything else is refused at start-up.

The `nat` tests build their own "outside": a network namespace joined to the host by a veth
pair (10.214.0.1 on the host, 10.214.0.2 inside) with listeners in it, and 169.254.169.254 on a
the namespace's interface, routed there from the host, so that reaching it would be visible.
Nothing is sent anywhere but to 127.0.0.1 and to addresses inside namespaces that Stratus or
the test created."""

import os
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from conftest import StratusServer, free_port, stratus_binary
from helpers import create_function, invoke, make_zip, unique_name, wait_active

pytestmark = pytest.mark.usefixtures("require_namespaces")

PROBE = r'''
import os, socket


def handler(event, context):
    try:
        with socket.create_connection(("127.0.0.1", event["port"]), timeout=2):
            reached = "connected"
    except OSError as e:
        reached = type(e).__name__
    return {"endpoint_url": os.environ.get("AWS_ENDPOINT_URL"), "reached": reached}
'''


def test_network_none_offers_nothing_but_the_runtime_api(server_factory):
    srv = server_factory(env={"STRATUS_NETWORK": "none"})
    assert srv.health()[1]["protections"]["network"] == "none"
    client = srv.client()
    name = unique_name()
    create_function(client, name, make_zip({"app.py": PROBE}), Timeout=10)
    wait_active(client, name)
    inv = invoke(client, name, {"port": srv.port}, tail=False)
    # The invocation itself arrived through the Runtime API...
    assert inv.function_error is None, inv
    # ...while the platform's endpoint is not offered.
    assert inv.payload == {"endpoint_url": None, "reached": "ConnectionRefusedError"}, inv.payload


def test_an_unknown_network_mode_is_refused_at_start_up(tmp_path):
    port = free_port()
    proc = subprocess.run(
        [str(stratus_binary()), "serve", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(tmp_path / "data")],
        env={**os.environ, "STRATUS_NETWORK": "everywhere"},
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0, proc
    output = proc.stdout + proc.stderr
    assert "network must be `platform`, `none` or `nat`" in output, output


# --- nat ------------------------------------------------------------------------------------

BRIDGE = "stratus0"
GATEWAY = "10.213.0.1"
HOST_SIDE = "10.214.0.1"
OUTSIDE = "10.214.0.2"
METADATA = "169.254.169.254"
# Ports of the listeners inside the outside namespace.
PORT_A, PORT_B = 8081, 8082

# Inside the outside namespace: answers every connection with the peer's address.
OUTSIDE_LISTENER = r'''
import socket, sys, threading
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    while True:
        c, peer = s.accept()
        c.sendall(peer[0].encode())
        c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''

# The function: connects to each target and says what happened; `listen` starts a listener in
# the environment (kept while the environment is warm) and reports the environment's address.
NAT_PROBE = r'''
import socket, threading

LISTENING = {}


def own_address():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.214.0.2", 9))  # a UDP connect sends nothing; it picks the route
        return s.getsockname()[0]


def attempt(host, port):
    try:
        with socket.create_connection((host, port), timeout=2) as c:
            c.settimeout(2)
            return {"reached": "connected", "data": c.recv(64).decode()}
    except OSError as e:
        return {"reached": type(e).__name__}


def serve(s):
    while True:
        c, peer = s.accept()
        c.sendall(b"environment")
        c.close()


def handler(event, context):
    if event.get("listen"):
        port = event["listen"]
        if port not in LISTENING:
            s = socket.socket()
            s.bind(("0.0.0.0", port))
            s.listen(8)
            threading.Thread(target=serve, args=(s,), daemon=True).start()
            LISTENING[port] = s
        me = own_address()
        return {"address": me, "self": attempt(me, port)}
    return {"address": own_address(), "results": [attempt(h, p) for h, p in event["targets"]]}
'''


def run(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def ip(*args, check=True):
    return run("ip", *args, check=check)


def nft_table_exists():
    return run("nft", "list", "table", "inet", "stratus", check=False).returncode == 0


def bridge_exists():
    return ip("link", "show", BRIDGE, check=False).returncode == 0


def forwarding(interface):
    with open(f"/proc/sys/net/ipv4/conf/{interface}/forwarding") as f:
        return f.read().strip()


class HostListener:
    """A TCP listener the test runs on the host at `addr`, answering `host`."""

    def __init__(self, addr):
        self.sock = socket.socket()
        self.sock.bind((addr, 0))
        self.sock.listen(16)
        self.addr = self.sock.getsockname()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.sendall(b"host")
            c.close()

    def reachable_from_here(self):
        with socket.create_connection(self.addr, timeout=2) as c:
            return c.recv(16) == b"host"

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def outside():
    """The test's own "outside" network namespace with listeners on PORT_A and PORT_B, and the
    metadata address on its interface. Created before any nat server starts, so
    the server sees its route."""
    if shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("needs the nft and ip commands")
    ns = f"stratus-out-{os.getpid()}"
    host_if = f"stout{os.getpid() % 100000}"
    ip("netns", "add", ns)
    listener = None
    try:
        ip("link", "add", host_if, "type", "veth", "peer", "name", "out0", "netns", ns)
        ip("address", "add", f"{HOST_SIDE}/24", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "address", "add", f"{OUTSIDE}/24", "dev", "out0")
        ip("-n", ns, "link", "set", "out0", "up")
        # A second address on the namespace's end (kernels without the dummy driver exist).
        ip("-n", ns, "address", "add", f"{METADATA}/32", "dev", "out0")
        ip("route", "add", f"{METADATA}/32", "via", OUTSIDE)
        listener = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", OUTSIDE_LISTENER,
             str(PORT_A), str(PORT_B)],
            stdout=subprocess.PIPE, text=True,
        )
        assert listener.stdout.readline().strip() == "ready"
        # The host itself reaches both addresses: a success from a function would be visible.
        for addr in (OUTSIDE, METADATA):
            with socket.create_connection((addr, PORT_A), timeout=2) as c:
                assert c.recv(64).decode() == HOST_SIDE
        yield {"ns": ns, "host_if": host_if, "forwarding": forwarding(host_if)}
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        ip("route", "del", f"{METADATA}/32", check=False)
        ip("link", "del", host_if, check=False)
        ip("netns", "del", ns, check=False)


@pytest.fixture
def nat_server(outside, tmp_path):
    """Starts `network = nat` servers (one at a time: they share the bridge) and stops them
    with SIGTERM, so they remove what they set up; whatever is left is removed here."""
    started = []

    def start(data_dir=None, **env):
        n = len(started)
        srv = StratusServer(
            stratus_binary(), data_dir or tmp_path / f"data-{n}", tmp_path / f"server-{n}.log",
            env={"STRATUS_NETWORK": "nat", **env},
        )
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()
    run("nft", "delete", "table", "inet", "stratus", check=False)
    run("nft", "delete", "table", "bridge", "stratus", check=False)
    ip("link", "del", BRIDGE, check=False)


def probe_function(srv):
    client = srv.client()
    name = unique_name("nat")
    create_function(client, name, make_zip({"app.py": NAT_PROBE}), Timeout=30)
    wait_active(client, name)
    return client, name


def attempts(client, name, targets):
    inv = invoke(client, name, {"targets": targets}, tail=False)
    assert inv.function_error is None, inv
    return inv.payload


def test_nat_reaches_the_outside_and_never_the_host_or_the_metadata_range(require_namespaces, nat_server):
    srv = nat_server()
    assert srv.health()[1]["protections"]["network"] == "nat"
    assert bridge_exists() and nft_table_exists()
    loopback = HostListener("127.0.0.1")
    gateway = HostListener(GATEWAY)
    try:
        # Both listeners answer the host: refusals below are the sandbox's doing.
        assert loopback.reachable_from_here() and gateway.reachable_from_here()
        client, name = probe_function(srv)
        out = attempts(client, name, [
            [OUTSIDE, PORT_A],
            ["127.0.0.1", loopback.addr[1]],
            [METADATA, PORT_A],
            [GATEWAY, gateway.addr[1]],
        ])
    finally:
        loopback.close()
        gateway.close()
    assert out["address"].startswith("10.213.") and out["address"] != GATEWAY, out
    reached_outside, host_loopback, metadata, gateway_service = out["results"]
    # Reached through NAT: the outside sees the host's address on its link, not the function's.
    assert reached_outside == {"reached": "connected", "data": HOST_SIDE}, out
    for blocked in (host_loopback, metadata, gateway_service):
        assert blocked["reached"] != "connected", out


def test_nat_environments_cannot_reach_each_other(require_namespaces, nat_server):
    srv = nat_server()
    client, listening = probe_function(srv)
    _, prober = probe_function(srv)
    inv = invoke(client, listening, {"listen": 7000}, tail=False)
    assert inv.function_error is None, inv
    other = inv.payload
    # The listener answers inside its own environment...
    assert other["self"] == {"reached": "connected", "data": "environment"}, other
    # ...but not from another environment on the same bridge.
    out = attempts(client, prober, [[other["address"], 7000], [OUTSIDE, PORT_A]])
    assert out["address"] != other["address"], out
    assert out["results"][0]["reached"] != "connected", out
    assert out["results"][1]["reached"] == "connected", out


def test_nat_egress_deny_drops_what_it_lists(require_namespaces, nat_server):
    srv = nat_server(STRATUS_EGRESS_DENY=f"{OUTSIDE}/32:{PORT_A}")
    client, name = probe_function(srv)
    denied, other_port = attempts(client, name, [[OUTSIDE, PORT_A], [OUTSIDE, PORT_B]])["results"]
    assert denied["reached"] != "connected", denied
    assert other_port == {"reached": "connected", "data": HOST_SIDE}, other_port


def test_nat_egress_allow_admits_only_what_it_lists(require_namespaces, nat_server):
    srv = nat_server(STRATUS_EGRESS_ALLOW=f"10.214.1.0/24,{OUTSIDE}/32:{PORT_B}")
    client, name = probe_function(srv)
    unlisted, listed = attempts(client, name, [[OUTSIDE, PORT_A], [OUTSIDE, PORT_B]])["results"]
    assert unlisted["reached"] != "connected", unlisted
    assert listed == {"reached": "connected", "data": HOST_SIDE}, listed


def test_nat_leftovers_of_a_crash_are_replaced_and_a_stop_removes_everything(
    require_namespaces, nat_server, outside, tmp_path
):
    data = tmp_path / "data"
    crashed = nat_server(data_dir=data)
    assert forwarding(outside["host_if"]) == "1"
    crashed.kill()
    assert bridge_exists() and nft_table_exists()
    srv = nat_server(data_dir=data)
    client, name = probe_function(srv)
    out = attempts(client, name, [[OUTSIDE, PORT_A]])
    assert out["results"] == [{"reached": "connected", "data": HOST_SIDE}], out
    assert srv.stop() == 0
    assert not bridge_exists() and not nft_table_exists()
    # Forwarding is off again on the uplink the platform turned it on for.
    assert forwarding(outside["host_if"]) == outside["forwarding"]


def test_nat_without_nft_refuses_to_start_unless_allowed_weaker(require_namespaces, outside, tmp_path):
    # A PATH with `ip` but no `nft`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ip").symlink_to(shutil.which("ip"))
    env = {**os.environ, "PATH": str(bin_dir), "STRATUS_NETWORK": "nat"}
    port = free_port()
    proc = subprocess.run(
        [str(stratus_binary()), "serve", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(tmp_path / "data")],
        env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0, proc
    output = proc.stdout + proc.stderr
    assert "network = nat needs the `nft` command" in output, output
    srv = StratusServer(
        stratus_binary(), tmp_path / "weaker", tmp_path / "weaker.log",
        env={"PATH": str(bin_dir), "STRATUS_NETWORK": "nat", "STRATUS_ALLOW_WEAKER_SANDBOX": "true"},
    )
    srv.start()
    try:
        assert srv.health()[1]["protections"]["network"] == "platform"
        assert "WEAKER SANDBOX: network = nat could not be set up" in srv.log_text()
        assert not bridge_exists()
    finally:
        srv.stop()
