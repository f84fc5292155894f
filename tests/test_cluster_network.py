"""A cluster whose node-to-node traffic crosses a slow link: placement still finds the one
warm environment, and errors, throttles and async invokes through a delayed node give the
caller what one node gives.

The kernel may have no netem qdisc, so the delay is built from parts that are always there:
the test creates a network namespace joined to the host by a veth pair, and runs in it a TCP
relay (`delay_relay.py`) that holds every chunk for `DELAY_MS` in each direction. Each node
listens on every address and advertises the relay's address in the namespace for itself, so
every forwarded call (node → relay → node) crosses the veth and the delay, while clients and
the database talk to the nodes directly. Needs root, iproute2 and STRATUS_TEST_DATABASE.

The relay accepts connections at once: unlike netem it delays what is sent, not the TCP
handshake. A handshake slower than the channel's 1 s connect timeout is emulated apart, by
dropping the SYNs to one relay port in the namespace (nft): the node is skipped as
unreachable. An answer slower than the forward's deadline is the last test (about 31 s)."""

import os
import select
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import helpers
from cluster_support import cluster_view, environments_of, node_ids

SECRET = "cluster-network-secret"
LEASE_S = 5
# The one-way delay of the slow link: a forwarded call's round trip holds 2 × this.
DELAY_MS = 150
RELAY = Path(__file__).with_name("delay_relay.py")
# The forward's deadline beyond the function's timeout (FORWARD_MARGIN in
# crates/invoke/src/placed.rs): an answer later than timeout + this is given up on.
FORWARD_MARGIN_S = 30

pytestmark = pytest.mark.skipif(
    not os.environ.get("STRATUS_TEST_DATABASE"),
    reason="a cluster shares a PostgreSQL database (STRATUS_TEST_DATABASE)",
)

# Each environment draws an id when it starts and remembers the events it served, so a
# caller can tell which environment ran a call and whether an event ran there, and how often.
SOURCE = (
    "import uuid\n"
    "ENV_ID = uuid.uuid4().hex\n"
    "SEEN = []\n"
    "class Refused(Exception):\n"
    "    pass\n"
    "def handler(event, context):\n"
    "    SEEN.append(event.get('id'))\n"
    "    if event.get('fail'):\n"
    "        raise Refused('refused ' + str(event.get('id')))\n"
    "    return {'env': ENV_ID, 'seen': SEEN}\n"
)


def run(cmd, check=True):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()}")
    return out


class Link:
    """A network namespace joined to the host by a veth pair: `host_ip` on the host's end,
    `ns_ip` on the namespace's."""

    def __init__(self):
        pid = os.getpid()
        self.ns = f"stratus-delay-{pid}"
        self.host_if, self.ns_if = f"sdh{pid}"[:15], f"sdn{pid}"[:15]
        # 10.215.0.0/16: apart from the sandbox's default NAT subnet (10.213.0.0/16).
        octet = 20 + pid % 200
        self.host_ip, self.ns_ip = f"10.215.{octet}.1", f"10.215.{octet}.2"

    def create(self):
        run(["ip", "netns", "add", self.ns])
        run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if])
        run(["ip", "link", "set", self.ns_if, "netns", self.ns])
        run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if])
        run(["ip", "link", "set", self.host_if, "up"])
        inside = ["ip", "netns", "exec", self.ns]
        run(inside + ["ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if])
        run(inside + ["ip", "link", "set", self.ns_if, "up"])
        run(inside + ["ip", "link", "set", "lo", "up"])

    def destroy(self):
        # Deleting the namespace deletes the pair; the link is deleted too in case the
        # namespace was never made or the pair never moved into it.
        run(["ip", "netns", "del", self.ns], check=False)
        run(["ip", "link", "del", self.host_if], check=False)


class Relay:
    """`delay_relay.py` inside the link's namespace, relaying `mappings` (listen → upstream)
    with a delay; records the listen port of every connection it accepts."""

    def __init__(self, link, mappings):
        self.link, self.mappings, self.proc = link, mappings, None
        self.accepted = []

    def start(self, delay_ms):
        cmd = ["ip", "netns", "exec", self.link.ns, sys.executable, str(RELAY),
               "--delay-ms", str(delay_ms)] + [f"{a}={b}" for a, b in self.mappings.items()]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the relay did not start: {line!r} {self.proc.stderr.read()}")
        threading.Thread(target=self._record, args=(self.proc.stdout,), daemon=True).start()
        return self

    def _record(self, stdout):
        for line in stdout:
            if line.startswith("accepted "):
                self.accepted.append(int(line.split()[1]))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def restart(self, delay_ms):
        """A new relay on the same ports: the nodes' pooled connections through the old one
        are closed, so their next forward connects afresh."""
        self.stop()
        self.start(delay_ms)
        time.sleep(0.5)  # the nodes see their pooled connections closed


@pytest.fixture(scope="module")
def link():
    if os.geteuid() != 0:
        pytest.skip("creating a network namespace needs root")
    if not shutil.which("ip"):
        pytest.skip("iproute2's `ip` is not installed")
    made = Link()
    try:
        made.create()
    except RuntimeError as e:
        made.destroy()
        pytest.skip(f"no network namespace here: {e}")
    try:
        yield made
    finally:
        made.destroy()


class Cluster:
    def __init__(self, nodes, relay, relay_port):
        self.nodes, self.relay, self.relay_port = nodes, relay, relay_port


@pytest.fixture(scope="module")
def cluster(link, module_server_factory, tmp_path_factory):
    """Nodes a, b and c listening on every address, each advertising its relay's address in
    the namespace; the relay delays DELAY_MS each way."""
    blobs = os.environ.get("STRATUS_BLOB_STORE") or (
        "file://" + str(tmp_path_factory.mktemp("network-blobs"))
    )
    env = {"STRATUS_CLUSTER_SECRET": SECRET, "STRATUS_BLOB_STORE": blobs,
           "STRATUS_CLUSTER_LEASE_SECS": str(LEASE_S),
           # Named explicitly: a node listening beyond loopback refuses the implicit ones.
           "STRATUS_ACCESS_KEY": helpers.ACCESS_KEY, "STRATUS_SECRET_KEY": helpers.SECRET_KEY}
    # The namespace is new, so any ports are free in it.
    relay_port = {"net-a": 7101, "net-b": 7102, "net-c": 7103}
    nodes = {}
    for node_id, port in relay_port.items():
        own = {**env, "STRATUS_NODE_ID": node_id,
               "STRATUS_ADVERTISE": f"http://{link.ns_ip}:{port}"}
        if nodes:
            own["STRATUS_DATABASE"] = nodes["net-a"].env["STRATUS_DATABASE"]
        nodes[node_id] = module_server_factory(env=own, listen_host="0.0.0.0")
    relay = Relay(link, {f"{link.ns_ip}:{relay_port[i]}": f"{link.host_ip}:{srv.port}"
                         for i, srv in nodes.items()})
    relay.start(DELAY_MS)
    try:
        for srv in nodes.values():
            helpers.wait_until(lambda: node_ids(srv) == sorted(nodes), timeout=10,
                               message=lambda: f"{srv.url} sees {node_ids(srv)}")
        yield Cluster(nodes, relay, relay_port)
    finally:
        relay.stop()


def timed_invoke(srv, name, event):
    started = time.monotonic()
    inv = helpers.invoke(srv.client(), name, event)
    return inv, time.monotonic() - started


def placed_function(cluster, **overrides):
    """A new function, called once through node a; returns its name, the node holding its
    environment (its home) and the two others."""
    a = cluster.nodes["net-a"]
    name = helpers.unique_name("delayed")
    helpers.create_function(a.client(), name, helpers.make_zip({"app.py": SOURCE}), **overrides)
    helpers.wait_active(a.client(), name)
    first = helpers.invoke(a.client(), name, {"id": "first"})
    assert first.status == 200 and first.function_error is None, first.log
    (home_id,) = helpers.wait_until(lambda: environments_of(a, name), timeout=5,
                                    message="the warm environment in the heartbeats")
    others = [srv for node_id, srv in cluster.nodes.items() if node_id != home_id]
    return name, home_id, others, first


def test_the_advertised_addresses_are_the_relays(cluster):
    view = cluster_view(cluster.nodes["net-b"])
    ns_ip = cluster.relay.link.ns_ip
    assert {n["id"]: n["address"] for n in view["nodes"]} == {
        node_id: f"http://{ns_ip}:{port}" for node_id, port in cluster.relay_port.items()}


def test_forwarded_calls_cross_the_delay_and_find_the_one_warm_environment(cluster):
    name, home_id, others, first = placed_function(cluster)
    home = cluster.nodes[home_id]
    direct = [timed_invoke(home, name, {"id": f"direct{n}"}) for n in range(5)]
    forwarded = [timed_invoke(others[n % 2], name, {"id": f"fwd{n}"}) for n in range(6)]
    calls = [first] + [inv for inv, _ in direct + forwarded]
    for inv in calls:
        assert inv.status == 200 and inv.function_error is None, inv.log
        assert inv.executed_version == "$LATEST"
    # One environment served every call: the delay made no node look unreachable or full.
    assert len({inv.payload["env"] for inv in calls}) == 1
    assert sum("Init Duration" in inv.log for inv in calls) == 1
    helpers.wait_until(lambda: environments_of(home, name) == {home_id: 1}, timeout=5,
                       message=lambda: f"environments: {environments_of(home, name)}")
    # The forwarded calls crossed the relay: its link to the home node carried them, and
    # each took at least the two one-way delays, while the direct calls crossed none of it.
    # (Not "the direct time plus the delays": a forwarded call's own work on the home node,
    # over the nodes' kept-alive connection, can be a few ms quicker than a direct call's.)
    assert cluster.relay_port[home_id] in cluster.relay.accepted
    delay = 2 * DELAY_MS / 1000
    for inv, seconds in forwarded:
        assert seconds >= delay, f"a forwarded call took {seconds:.3f}s"
    direct_median = statistics.median(s for _, s in direct)
    assert direct_median < DELAY_MS / 1000, f"direct calls took {direct_median:.3f}s"


def test_errors_throttles_and_async_through_a_delayed_node(cluster):
    name, home_id, others, _ = placed_function(cluster)
    home, via = cluster.nodes[home_id], others[0]

    # Async: accepted as one node accepts it, and run once, in the home's warm environment.
    resp = via.client().invoke(FunctionName=name, InvocationType="Event",
                               Payload=b'{"id": "async-1"}')
    assert resp["StatusCode"] == 202, resp

    def seen_at_home():
        inv = helpers.invoke(home.client(), name, {"id": "poll"})
        return inv.payload["seen"] if "async-1" in inv.payload["seen"] else None

    seen = helpers.wait_until(seen_at_home, timeout=15, interval=0.3,
                              message="the async event to run in the warm environment")
    assert seen.count("async-1") == 1

    # A function error: the same answer through the delayed node as on the home node.
    direct = helpers.invoke(home.client(), name, {"id": "x", "fail": True})
    forwarded, seconds = timed_invoke(via, name, {"id": "x", "fail": True})
    for inv in (direct, forwarded):
        assert inv.status == 200, inv
        assert inv.function_error == "Unhandled", inv
        assert inv.payload["errorType"] == "Refused"
        assert inv.payload["errorMessage"] == "refused x"
        assert "REPORT RequestId:" in inv.log
    assert sorted(forwarded.payload) == sorted(direct.payload)
    assert seconds >= 2 * DELAY_MS / 1000

    # A throttle decided on the home node travels back as it is.
    lam = home.client()
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    throttles = []
    for srv in (home, via):
        def refused(srv=srv):
            try:
                helpers.invoke(srv.client(), name, {"id": "throttled"})
                return None
            except ClientError as e:
                return e
        throttles.append(helpers.wait_until(refused, timeout=5, interval=0.2,
                                            message="the reservation of 0 to reach the node"))
    for e in throttles:
        err = e.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 429, err
        assert err["Error"]["Code"] == "TooManyRequestsException"
        assert err["Error"]["Message"] == "Rate Exceeded."
        assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)


def test_a_link_slower_than_the_connect_timeout_skips_the_node(cluster):
    """netem would delay the TCP handshake too. A node whose connection is not made within
    the channel's 1 s connect timeout is skipped as unreachable, and the call runs on the next
    node in rank (a cold start there) rather than failing. Emulated by dropping, in the
    namespace, the SYNs to the home node's relay port (the relay restarted, so no pooled
    connection to it survives)."""
    if not shutil.which("nft"):
        pytest.skip("nft is not installed")
    name, home_id, others, first = placed_function(cluster)
    via = others[0]
    nft = ["ip", "netns", "exec", cluster.relay.link.ns, "nft"]
    run(nft + ["add", "table", "inet", "stall"])
    try:
        run(nft + ["add", "chain", "inet", "stall", "input",
                   "{ type filter hook input priority 0 ; }"])
        run(nft + ["add", "rule", "inet", "stall", "input", "tcp", "dport",
                   str(cluster.relay_port[home_id]), "tcp", "flags", "&", "(syn|ack)", "==",
                   "syn", "drop"])
        cluster.relay.restart(DELAY_MS)
        inv, seconds = timed_invoke(via, name, {"id": "skipped"})
    finally:
        run(nft + ["delete", "table", "inet", "stall"], check=False)
    assert inv.status == 200 and inv.function_error is None, inv.log
    assert inv.payload["env"] != first.payload["env"], "ran on the home node"
    assert "Init Duration" in inv.log
    assert seconds >= 1.0, "the connect timeout passed first"
    assert home_id in node_ids(via), "the home node is alive and still listed"
    # This node skips the home node for one lease: wait it out before the next test.
    time.sleep(LEASE_S + 1)


def test_an_answer_later_than_the_forwards_deadline_is_a_service_exception(cluster):
    """With the link slower than the forward's deadline (the function's timeout + 30 s), the
    caller gets 500 `ServiceException` once the deadline passes. The call reached the home
    node and ran there; the forwarding node does not run it again (it may have run). Takes
    about 31 s."""
    name, home_id, others, _ = placed_function(cluster, Timeout=1)
    home, via = cluster.nodes[home_id], others[0]
    deadline_s = 1 + FORWARD_MARGIN_S
    # Each way longer than half the deadline, so the request arrives but the answer is late.
    cluster.relay.restart(delay_ms=(deadline_s / 2 + 4) * 1000)
    started = time.monotonic()
    # One attempt: botocore's `max_attempts` counts retries, and would send a 500 again.
    once = via.client(read_timeout=deadline_s + 30, retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as caught:
        helpers.invoke(once, name, {"id": "late"})
    waited = time.monotonic() - started
    err = caught.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 500, err
    assert err["Error"]["Code"] == "ServiceException"
    assert waited >= deadline_s
    # It ran on the home node, once, and nowhere else.
    seen = helpers.invoke(home.client(), name, {"id": "after"}).payload["seen"]
    assert seen.count("late") == 1
    helpers.wait_until(lambda: environments_of(home, name) == {home_id: 1}, timeout=5,
                       message=lambda: f"environments: {environments_of(home, name)}")
