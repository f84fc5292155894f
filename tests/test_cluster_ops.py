"""Graceful operations of a cluster: a node drains on SIGTERM (503 `draining` on /health, new
calls placed on the other nodes, in-flight invocations finished), a rolling restart of three
nodes under steady load returns no error to the clients of a load balancer, and /metrics labels
every series with its node. Runs only with STRATUS_TEST_DATABASE set."""

import concurrent.futures
import http.client
import itertools
import json
import os
import select
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

import helpers
from conftest import stratus_binary

SECRET = "cluster-ops-secret"
# The grace period a draining node keeps answering: several of the front's health checks.
DRAIN_S = 2

pytestmark = pytest.mark.skipif(
    not os.environ.get("STRATUS_TEST_DATABASE"),
    reason="a cluster shares a PostgreSQL database (STRATUS_TEST_DATABASE)",
)

SOURCE = (
    "import time, uuid\n"
    "ENV_ID = uuid.uuid4().hex\n"
    "def handler(event, context):\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    return {'env': ENV_ID, 'n': event.get('n'), 'slept': event.get('sleep', 0)}\n"
)


def start_nodes(factory, tmp_path, ids, **extra):
    """Nodes named `ids` on the first one's database and one blob store, once each lists all."""
    blobs = os.environ.get("STRATUS_BLOB_STORE") or "file://" + str(tmp_path / "blobs")
    env = {"STRATUS_CLUSTER_SECRET": SECRET, "STRATUS_BLOB_STORE": blobs,
           "STRATUS_CLUSTER_DRAIN_SECS": str(DRAIN_S), **extra}
    first = factory(env={**env, "STRATUS_NODE_ID": ids[0]})
    shared = {**env, "STRATUS_DATABASE": first.env["STRATUS_DATABASE"]}
    nodes = [first] + [factory(env={**shared, "STRATUS_NODE_ID": i}) for i in ids[1:]]
    for srv in nodes:
        helpers.wait_until(lambda: node_ids(srv) == sorted(ids), timeout=10,
                           message=lambda: f"{srv.url} sees {node_ids(srv)}")
    return nodes


def health(url):
    """(status, body) of GET /health; (None, None) when the node does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except (urllib.error.URLError, ConnectionError, OSError):
        return None, None


def cluster_view(url):
    status, body = health(url)
    return (body or {}).get("cluster", {"nodes": []})


def node_ids(srv):
    return sorted(n["id"] for n in cluster_view(srv.url)["nodes"])


def environments_of(srv, name):
    out = {}
    for n in cluster_view(srv.url)["nodes"]:
        count = sum(e["idle"] + e["busy"] for e in n["environments"] if e["function"] == name)
        if count:
            out[n["id"]] = count
    return out


def create(srv, name, **kwargs):
    lam = srv.client()
    helpers.create_function(lam, name, helpers.make_zip({"app.py": SOURCE}), **kwargs)
    helpers.wait_active(lam, name)


class Front:
    """A round-robin load balancer as nginx or HAProxy are set up in front of a cluster: it
    checks every node's /health every half second and sends nothing to a node that does not
    answer 200; it keeps connections to the nodes alive between requests (dropping one the
    node has closed before reusing it), and tries another node only when a new connection
    was refused (nothing was sent), never once a request was sent."""

    CHECK_EVERY_S = 0.5

    def __init__(self, nodes):
        self.nodes = nodes
        self.up = [True] * len(nodes)
        self.turn = itertools.count()
        self.refused = 0
        self.pools = threading.local()
        self.stopped = threading.Event()
        self.checker = threading.Thread(target=self._check, daemon=True)
        self.checker.start()

    def _check(self):
        while not self.stopped.is_set():
            for i, srv in enumerate(self.nodes):
                self.up[i] = health(srv.url)[0] == 200
            self.stopped.wait(self.CHECK_EVERY_S)

    def close(self):
        self.stopped.set()
        self.checker.join(timeout=5)

    def _connection(self, port):
        """This thread's kept-alive connection to `port` if the node has not closed it, else
        a new one; None when the connection is refused."""
        pool = self.pools.__dict__.setdefault("by_port", {})
        conn = pool.pop(port, None)
        if conn is not None and conn.sock is not None:
            readable, _, _ = select.select([conn.sock], [], [], 0)
            if not readable:
                return conn
            conn.close()  # closed by the node (an idle connection has nothing to read)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.connect()
        except ConnectionRefusedError:
            return None
        return conn

    def invoke(self, name, event):
        """(status, headers, body) of a synchronous Invoke, through the first node that
        accepts the connection; raises whatever a sent request ran into."""
        body = json.dumps(event).encode()
        n = len(self.nodes)
        first = next(self.turn)
        order = [(first + k) % n for k in range(n)]
        order = [i for i in order if self.up[i]] or order
        path = f"/2015-03-31/functions/{name}/invocations"
        for i in order:
            port = self.nodes[i].port
            conn = self._connection(port)
            if conn is None:
                self.refused += 1
                continue
            headers = helpers.sigv4_headers("POST", f"http://127.0.0.1:{port}{path}", body)
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.will_close:
                conn.close()
            else:
                self.pools.by_port[port] = conn
            return resp.status, dict(resp.getheaders()), data
        raise ConnectionRefusedError("every node refused the connection")


def test_a_rolling_restart_under_load_returns_no_errors(server_factory, tmp_path):
    nodes = start_nodes(server_factory, tmp_path, ["roll-a", "roll-b", "roll-c"])
    name = helpers.unique_name("rolling")
    create(nodes[0], name, Timeout=30)
    front = Front(nodes)
    stop = threading.Event()
    errors, done = [], []
    lock = threading.Lock()

    def client(k):
        for n in itertools.count():
            if stop.is_set():
                return
            event = {"n": f"{k}-{n}", "sleep": 0.05}
            try:
                status, headers, body = front.invoke(name, event)
                answer = json.loads(body)
                ok = (status == 200 and "x-amz-function-error" not in
                      {h.lower() for h in headers} and answer.get("n") == event["n"])
                outcome = None if ok else f"{status} {body[:300]!r}"
            except Exception as e:  # noqa: BLE001 - every failure a client sees counts
                outcome = f"{type(e).__name__}: {e}"
            with lock:
                (errors.append(outcome) if outcome else done.append(time.monotonic()))

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        workers = [pool.submit(client, k) for k in range(4)]
        try:
            time.sleep(3)
            for srv in nodes:
                assert srv.stop() == 0, srv.log_text()[-3000:]
                srv.start(same_port=True)
                for other in nodes:
                    helpers.wait_until(lambda: len(node_ids(other)) == 3, timeout=15,
                                       message=lambda: f"{other.url} sees {node_ids(other)}")
                time.sleep(2)
            time.sleep(2)
        finally:
            stop.set()
            for w in workers:
                w.result(timeout=90)
            front.close()
    ended = time.monotonic()
    assert errors == [], f"{len(errors)} errors, first: {errors[:5]}"
    # Load ran throughout: no stretch without a completed call longer than a few seconds.
    marks = [started] + sorted(done) + [ended]
    longest_gap = max(b - a for a, b in zip(marks, marks[1:]))
    assert longest_gap < 3, f"no call completed for {longest_gap:.1f}s"
    assert len(done) > 200, len(done)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRATUS_"))}
    out = subprocess.run([stratus_binary(), "--endpoint", nodes[1].url, "nodes"],
                         capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    listed = sorted(r.split()[0].rstrip("*") for r in out.stdout.strip().splitlines()[1:])
    assert listed == ["roll-a", "roll-b", "roll-c"], out.stdout


def test_a_draining_node_finishes_its_invocation_and_places_new_ones_elsewhere(
        server_factory, tmp_path):
    a, b = start_nodes(server_factory, tmp_path, ["drain-a", "drain-b"],
                       STRATUS_CLUSTER_DRAIN_SECS="3")
    by_id = {"drain-a": a, "drain-b": b}
    name = helpers.unique_name("inflight")
    create(a, name, Timeout=30)
    warm = helpers.invoke(a.client(), name, {"n": 0})
    assert warm.status == 200, warm.log
    (holder_id,) = helpers.wait_until(lambda: environments_of(a, name), timeout=5,
                                      message="the warm environment in the heartbeats")
    holder = by_id[holder_id]
    other = b if holder is a else a
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(helpers.invoke, holder.client(), name, {"n": 1, "sleep": 2})
        time.sleep(0.7)
        sent = time.monotonic()
        holder.proc.send_signal(signal.SIGTERM)
        # It says so at once, and every node learns it.
        status, body = helpers.wait_until(
            lambda: (lambda h: h if h[0] == 503 else None)(health(holder.url)), timeout=1,
            message="503 from the draining node")
        assert body["status"] == "draining" and body["cluster"]["draining"] is True, body
        helpers.wait_until(
            lambda: any(n["id"] == holder_id and n["draining"]
                        for n in cluster_view(other.url)["nodes"]),
            timeout=1, message="the drain announced to the other node")
        # A call that still reaches it is answered, run on the other node.
        during = helpers.invoke(holder.client(), name, {"n": 2})
        assert during.status == 200 and during.function_error is None, during.log
        assert during.payload["env"] != warm.payload["env"]
        inv = slow.result(timeout=30)
    assert inv.status == 200 and inv.function_error is None, inv.log
    assert inv.payload == {"env": warm.payload["env"], "n": 1, "slept": 2}
    assert holder.proc.wait(timeout=20) == 0
    assert time.monotonic() - sent >= 3, "the listener stayed open for the grace period"
    helpers.wait_until(lambda: node_ids(other) == [other_id(by_id, other)], timeout=2,
                       message=lambda: f"{other.url} still sees {node_ids(other)}")
    assert environments_of(other, name) == {other_id(by_id, other): 1}


def other_id(by_id, srv):
    return next(i for i, s in by_id.items() if s is srv)


def test_a_second_signal_stops_at_once(server_factory, tmp_path):
    (a,) = start_nodes(server_factory, tmp_path, ["twice-a"], STRATUS_CLUSTER_DRAIN_SECS="60")
    a.proc.send_signal(signal.SIGTERM)
    helpers.wait_until(lambda: health(a.url)[0] == 503, timeout=2, message="draining")
    sent = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(timeout=10) == 0
    assert time.monotonic() - sent < 5, "did not wait out the 60 s grace period"


def test_metrics_carry_the_node_label(server_factory, tmp_path):
    nodes = start_nodes(server_factory, tmp_path, ["metrics-a", "metrics-b"])
    name = helpers.unique_name("metered")
    create(nodes[0], name)
    for srv in nodes:
        assert helpers.invoke(srv.client(), name, {"n": 1}).status == 200
    for srv, node in zip(nodes, ["metrics-a", "metrics-b"]):
        status, _, body = helpers.http_request("GET", f"{srv.url}/metrics")
        assert status == 200
        samples = [line for line in body.decode().splitlines()
                   if line and not line.startswith("#")]
        assert samples
        label = f'node="{node}"'
        for line in samples:
            assert line.split(" ")[0].split("{")[1].startswith(label), line
        assert f"stratus_async_queue_depth{{{label}}} " in body.decode()
    # The node that ran the calls counts them under its own label.
    ran = [n for n in helpers.wait_until(lambda: environments_of(nodes[0], name), timeout=5)]
    holder = nodes[["metrics-a", "metrics-b"].index(ran[0])]
    text = helpers.http_request("GET", f"{holder.url}/metrics")[2].decode()
    assert (f'stratus_invocations_total{{node="{ran[0]}",function="{name}",'
            f'version="$LATEST",outcome="success"}} 2') in text, text
