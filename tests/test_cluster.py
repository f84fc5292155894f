"""A cluster of three nodes on one PostgreSQL database and one blob store: membership
(`/health` and `stratus nodes` list every node), placement (calls through any node find the
one warm environment), the internal channel's authentication, and a node killed with
SIGKILL. Runs only with STRATUS_TEST_DATABASE set, except the start-up refusal on SQLite."""

import hashlib
import hmac
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import helpers
from cluster_support import cluster_view, environments_of, node_ids
from conftest import stratus_binary

SECRET = "cluster-test-secret"
LEASE_S = 5
INVOKE_PATH = "/_stratus/cluster/invoke"

needs_postgres = pytest.mark.skipif(
    not os.environ.get("STRATUS_TEST_DATABASE"),
    reason="a cluster shares a PostgreSQL database (STRATUS_TEST_DATABASE)",
)

# Each environment draws an id when it starts: equal ids mean one environment served.
SOURCE = (
    "import uuid\n"
    "ENV_ID = uuid.uuid4().hex\n"
    "def handler(event, context):\n"
    "    return {'env': ENV_ID, 'echo': event.get('n')}\n"
)


@pytest.fixture(scope="module")
def nodes(module_server_factory, tmp_path_factory):
    """Nodes a, b and c sharing A's database and one blob store (the run's own, or a shared
    directory)."""
    blobs = os.environ.get("STRATUS_BLOB_STORE") or (
        "file://" + str(tmp_path_factory.mktemp("cluster-blobs"))
    )
    env = {
        "STRATUS_CLUSTER_SECRET": SECRET,
        "STRATUS_BLOB_STORE": blobs,
        "STRATUS_CLUSTER_LEASE_SECS": str(LEASE_S),
    }
    a = module_server_factory(env={**env, "STRATUS_NODE_ID": "node-a"})
    shared = {**env, "STRATUS_DATABASE": a.env["STRATUS_DATABASE"]}
    b = module_server_factory(env={**shared, "STRATUS_NODE_ID": "node-b"})
    c = module_server_factory(env={**shared, "STRATUS_NODE_ID": "node-c"})
    return {"node-a": a, "node-b": b, "node-c": c}


def signed_headers(body, secret, when=None):
    """The headers a node signs a forward of `body` with, using `secret`."""
    when = int(time.time()) if when is None else when
    nonce = os.urandom(16).hex()
    digest = hashlib.sha256(body).hexdigest()
    text = f"POST\n{INVOKE_PATH}\n{when}\n{nonce}\n{digest}".encode()
    sig = hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()
    return {"x-stratus-cluster-time": str(when), "x-stratus-cluster-nonce": nonce,
            "x-stratus-cluster-signature": sig}


def signed_post(url, body, secret, when=None):
    """POSTs `body` to the internal endpoint, signed as a node would sign it with `secret`."""
    return raw_post(url, body, signed_headers(body, secret, when))


def raw_post(url, body, headers):
    req = urllib.request.Request(url + INVOKE_PATH, data=body, method="POST",
                                 headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def forward_body(name, n):
    return json.dumps({
        "trigger": "direct", "region": "us-east-1", "function": name, "qualifier": None,
        "version": "$LATEST", "payload": __import__("base64").b64encode(
            json.dumps({"n": n}).encode()).decode(),
        "client_context": None, "request_id": f"req-{n}", "want_log": False,
    }).encode()


def test_a_secret_on_sqlite_is_refused_at_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUS_")}
    env["STRATUS_CLUSTER_SECRET"] = SECRET
    out = subprocess.run(
        [stratus_binary(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert out.returncode != 0
    assert "needs a shared PostgreSQL database" in out.stderr, out.stderr


@needs_postgres
def test_every_node_lists_the_three(nodes):
    expected = sorted(nodes)
    for srv in nodes.values():
        helpers.wait_until(lambda: node_ids(srv) == expected, timeout=10,
                           message=lambda: f"{srv.url} sees {node_ids(srv)}")
    view = cluster_view(nodes["node-b"])
    assert view["node_id"] == "node-b"
    for n in view["nodes"]:
        assert n["address"] == nodes[n["id"]].url
        assert 0 <= n["heartbeat_age_ms"] < LEASE_S * 1000
        assert n["draining"] is False
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRATUS_"))}
    out = subprocess.run([stratus_binary(), "--endpoint", nodes["node-c"].url, "nodes"],
                         capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    rows = out.stdout.strip().splitlines()[1:]
    assert sorted(r.split()[0] for r in rows) == ["node-a", "node-b", "node-c*"], out.stdout
    for srv in nodes.values():
        assert srv.url in out.stdout


@needs_postgres
def test_calls_through_any_node_find_the_one_warm_environment(nodes):
    a, b, c = nodes["node-a"], nodes["node-b"], nodes["node-c"]
    helpers.wait_until(lambda: len(node_ids(b)) == 3 and len(node_ids(c)) == 3, timeout=10)
    name = helpers.unique_name("placed")
    helpers.create_function(a.client(), name, helpers.make_zip({"app.py": SOURCE}))
    helpers.wait_active(a.client(), name)
    clients = [b.client(), c.client()]
    seen, cold = set(), 0
    for n in range(8):
        inv = helpers.invoke(clients[n % 2], name, {"n": n})
        assert inv.status == 200 and inv.function_error is None, inv.log
        assert inv.payload["echo"] == n
        assert inv.executed_version == "$LATEST"
        assert f"REPORT RequestId:" in inv.log, "the log tail travels back"
        cold += "Init Duration" in inv.log
        seen.add(inv.payload["env"])
    assert len(seen) == 1, f"served by {len(seen)} environments"
    assert cold == 1
    # The heartbeats show that one environment, on one node.
    helpers.wait_until(lambda: sum(environments_of(b, name).values()) == 1, timeout=5,
                       message=lambda: f"environments: {environments_of(b, name)}")


@needs_postgres
def test_the_internal_endpoint_refuses_what_a_node_did_not_sign_and_replays(nodes):
    a = nodes["node-a"]
    lam = a.client()
    name = helpers.unique_name("guarded")
    helpers.create_function(lam, name, helpers.make_zip({"app.py": SOURCE}))
    helpers.wait_active(lam, name)
    body = forward_body(name, 1)
    refusals = [
        raw_post(a.url, body, {}),
        signed_post(a.url, body, "not-the-secret"),
        signed_post(a.url, body, SECRET, when=int(time.time()) - 600),
        # Signed for another body.
        raw_post(a.url, body, {
            "x-stratus-cluster-time": str(int(time.time())),
            "x-stratus-cluster-signature": hmac.new(
                SECRET.encode(), b"POST\n/x\n0\n", hashlib.sha256).hexdigest(),
        }),
    ]
    for status, answer in refusals:
        assert status == 403, answer
    # Nothing ran: no environment anywhere, no invocation metered.
    time.sleep(1.5)
    assert environments_of(a, name) == {}
    # The same request, signed with the cluster's secret, runs.
    headers = signed_headers(body, SECRET)
    status, answer = raw_post(a.url, body, headers)
    assert status == 200, answer
    assert answer["answer"] in ("ran", "full"), answer
    if answer["answer"] == "ran":
        import base64
        assert json.loads(base64.b64decode(answer["payload"]))["echo"] == 1
    # Sent again as captured, it is a replay; signed afresh, it runs again.
    status, answer = raw_post(a.url, body, headers)
    assert status == 403, answer
    assert "already received" in answer["message"], answer
    without_nonce = {k: v for k, v in headers.items() if k != "x-stratus-cluster-nonce"}
    assert raw_post(a.url, body, without_nonce)[0] == 403
    assert signed_post(a.url, body, SECRET)[0] == 200


SLOW_SOURCE = (
    "import time, uuid\n"
    "ENV_ID = uuid.uuid4().hex\n"
    "def handler(event, context):\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    return {'env': ENV_ID}\n"
)


@needs_postgres
def test_a_full_node_spills_to_the_next(server_factory, tmp_path_factory):
    """Three more nodes (their own database) that each keep at most one environment: calls
    that overlap cannot all be served by the first node's one environment, so they spread
    over the others instead of starting a second environment there."""
    blobs = os.environ.get("STRATUS_BLOB_STORE") or (
        "file://" + str(tmp_path_factory.mktemp("spill-blobs"))
    )
    env = {"STRATUS_CLUSTER_SECRET": SECRET, "STRATUS_BLOB_STORE": blobs,
           "STRATUS_MAX_ENVIRONMENTS": "1"}
    first = server_factory(env={**env, "STRATUS_NODE_ID": "spill-a"})
    shared = {**env, "STRATUS_DATABASE": first.env["STRATUS_DATABASE"]}
    others = [server_factory(env={**shared, "STRATUS_NODE_ID": f"spill-{x}"})
              for x in "bc"]
    helpers.wait_until(lambda: len(node_ids(first)) == 3, timeout=10)
    lam = first.client()
    name = helpers.unique_name("spill")
    helpers.create_function(lam, name, helpers.make_zip({"app.py": SLOW_SOURCE}), Timeout=30)
    helpers.wait_active(lam, name)
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        calls = []
        for srv in [first, *others]:
            calls.append(pool.submit(helpers.invoke, srv.client(), name, {"sleep": 3}))
            time.sleep(0.7)  # each call finds the environments the earlier ones hold
        results = [c.result() for c in calls]
    for inv in results:
        assert inv.status == 200 and inv.function_error is None, inv.log
    assert len({inv.payload["env"] for inv in results}) == 3
    spread = helpers.wait_until(
        lambda: (lambda e: e if sum(e.values()) == 3 else None)(environments_of(first, name)),
        timeout=5, message=lambda: f"environments: {environments_of(first, name)}")
    assert spread == {"spill-a": 1, "spill-b": 1, "spill-c": 1}


@needs_postgres
def test_a_stopped_node_leaves_at_once(server_factory):
    """SIGTERM deletes the node's row: the others drop it well before its lease would."""
    env = {"STRATUS_CLUSTER_SECRET": SECRET, "STRATUS_CLUSTER_LEASE_SECS": "30"}
    if os.environ.get("STRATUS_BLOB_STORE"):
        env["STRATUS_BLOB_STORE"] = os.environ["STRATUS_BLOB_STORE"]
    a = server_factory(env={**env, "STRATUS_NODE_ID": "stop-a"})
    b = server_factory(env={**env, "STRATUS_NODE_ID": "stop-b",
                                   "STRATUS_DATABASE": a.env["STRATUS_DATABASE"]})
    helpers.wait_until(lambda: node_ids(a) == ["stop-a", "stop-b"], timeout=10)
    assert b.stop() == 0
    started = time.monotonic()
    helpers.wait_until(lambda: node_ids(a) == ["stop-a"], timeout=5,
                       message=lambda: f"stop-a still sees {node_ids(a)}")
    assert time.monotonic() - started < 5, "left by its own deletion, not a 30 s lease"


@needs_postgres
def test_a_killed_node_leaves_and_the_others_keep_serving(nodes):
    b = nodes["node-b"]
    name = helpers.unique_name("survivor")
    helpers.create_function(b.client(), name, helpers.make_zip({"app.py": SOURCE}))
    helpers.wait_active(b.client(), name)
    first = helpers.invoke(b.client(), name, {"n": 0})
    assert first.status == 200, first.log
    holder = helpers.wait_until(lambda: environments_of(b, name), timeout=5,
                                message="the warm environment in the heartbeats")
    (victim_id,) = holder
    nodes[victim_id].kill()
    survivors = [srv for node_id, srv in nodes.items() if node_id != victim_id]
    for n in range(1, 9):
        inv = helpers.invoke(survivors[n % 2].client(), name, {"n": n})
        assert inv.status == 200 and inv.function_error is None, inv.log
        assert inv.payload["echo"] == n
    started = time.monotonic()
    for srv in survivors:
        helpers.wait_until(lambda: victim_id not in node_ids(srv), timeout=LEASE_S + 3,
                           message=lambda: f"{srv.url} still lists {victim_id}")
    assert time.monotonic() - started <= LEASE_S + 3
    assert len(node_ids(survivors[0])) == 2


def start_trio(factory, tmp_path_factory, prefix, extra=None):
    """Three fresh nodes `<prefix>-a`, `-b`, `-c` on a database of their own (with the
    settings `extra` adds), each listing all three."""
    blobs = os.environ.get("STRATUS_BLOB_STORE") or (
        "file://" + str(tmp_path_factory.mktemp(f"{prefix}-blobs"))
    )
    env = {"STRATUS_CLUSTER_SECRET": SECRET, "STRATUS_BLOB_STORE": blobs,
           "STRATUS_CLUSTER_LEASE_SECS": str(LEASE_S), **(extra or {})}
    first = factory(env={**env, "STRATUS_NODE_ID": f"{prefix}-a"})
    shared = {**env, "STRATUS_DATABASE": first.env["STRATUS_DATABASE"]}
    trio = [first] + [factory(env={**shared, "STRATUS_NODE_ID": f"{prefix}-{x}"}) for x in "bc"]
    # Settled: a node claims async events once it has been listed for 2 s.
    settled = lambda srv: [n["id"] for n in cluster_view(srv)["nodes"] if n["uptime_ms"] >= 2500]
    for srv in trio:
        helpers.wait_until(lambda: len(settled(srv)) == 3, timeout=15,
                           message=lambda: f"{srv.url} sees {cluster_view(srv)['nodes']}")
    return trio


# Each run that completes records its event id and when it started and ended, as one object.
RUN_RECORDER = (
    "import json, os, time, uuid\n"
    "import boto3\n"
    "S3 = boto3.client('s3')\n"
    "def handler(event, context):\n"
    "    start = time.time()\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    body = {'id': event['id'], 'start': start, 'end': time.time()}\n"
    "    S3.put_object(Bucket=os.environ['RECORD_BUCKET'],\n"
    "                  Key='%s/%s' % (event['id'], uuid.uuid4().hex),\n"
    "                  Body=json.dumps(body).encode())\n"
    "    return body\n"
)

# How long after its node dies an event it held is running elsewhere: the lease, the next
# heartbeat sweep of a live node (1 s), the dispatcher's poll (0.25 s); then the run itself,
# with room for the cold starts of every redelivered event on a two-CPU machine.
REDELIVERY_BOUND_S = LEASE_S + 1 + 0.25 + 14


def runs_recorded(s3, bucket):
    """Every completed run's record: {id: [(start, end), ...]}."""
    runs = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            rec = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            runs.setdefault(rec["id"], []).append((rec["start"], rec["end"]))
    return runs


@needs_postgres
def test_a_killed_nodes_async_events_run_on_the_others_once_at_a_time(
        server_factory, tmp_path_factory):
    """Async events queued on the node that runs them; that node is killed (SIGKILL) with
    some in flight: every acknowledged event still runs to success within the bound, no event
    runs twice at the same time, and sync calls through the other nodes keep succeeding."""
    trio = start_trio(server_factory, tmp_path_factory, "redeliver")
    by_id = {f"redeliver-{x}": srv for x, srv in zip("abc", trio)}
    s3 = helpers.make_s3_client(trio[0].url)
    bucket = helpers.unique_bucket("runs")
    s3.create_bucket(Bucket=bucket)
    name = helpers.unique_name("redeliver")
    helpers.create_function(trio[0].client(), name, helpers.make_zip({"app.py": RUN_RECORDER}),
                            Timeout=30, Environment={"Variables": {"RECORD_BUCKET": bucket}})
    helpers.wait_active(trio[0].client(), name)
    # The function's home node: the one a call leaves its warm environment on.
    warm = helpers.invoke(trio[0].client(), name, {"id": "warm"})
    assert warm.status == 200 and warm.function_error is None, warm.log
    (home_id,) = helpers.wait_until(lambda: environments_of(trio[0], name), timeout=5,
                                    message="the warm environment in the heartbeats")
    home = by_id[home_id]
    survivors = [srv for node_id, srv in by_id.items() if node_id != home_id]
    s3 = helpers.make_s3_client(survivors[0].url)

    # Queued through the home node: its dispatcher takes them at once and runs them there.
    count = 12
    request_ids = {}
    lam = home.client()
    for i in range(count):
        resp = lam.invoke(FunctionName=name, InvocationType="Event",
                          Payload=json.dumps({"id": f"e{i}", "sleep": 1.5}).encode())
        assert resp["StatusCode"] == 202, resp
        request_ids[resp["ResponseMetadata"]["RequestId"]] = f"e{i}"
    time.sleep(0.8)
    home.kill()
    killed_at = time.monotonic()
    done_before = set(runs_recorded(s3, bucket))
    held = {request_ids[r["request_id"]] for r in helpers.store_query(
        survivors[0], "meta", "SELECT request_id FROM async_events WHERE holder = ?",
        (home_id,))}
    # The test means something only if the dead node held events it had not finished.
    assert held - done_before, f"held by {home_id}: {held}; done: {done_before}"

    for n in range(4):
        inv = helpers.invoke(survivors[n % 2].client(), name, {"id": f"sync{n}"})
        assert inv.status == 200 and inv.function_error is None, inv.log

    wanted = {f"e{i}" for i in range(count)}
    runs = helpers.wait_until(
        lambda: (lambda r: r if wanted <= set(r) else None)(runs_recorded(s3, bucket)),
        timeout=REDELIVERY_BOUND_S,
        message=lambda: f"missing runs: {sorted(wanted - set(runs_recorded(s3, bucket)))}")
    assert time.monotonic() - killed_at <= REDELIVERY_BOUND_S
    helpers.wait_until(
        lambda: not helpers.store_query(survivors[0], "meta", "SELECT request_id FROM async_events"),
        timeout=5, message="the queue to empty")
    for event_id in wanted:
        spans = sorted(runs[event_id])
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end, f"{event_id} ran twice at once: {spans}"


# Each version says which it is (its code differs from the next one's).
def versioned_source(tag):
    return f"def handler(event, context):\n    return {{'tag': '{tag}'}}\n"


# How long after a change through one node the others act on it: the notification arrives at
# once; a lost one is made up for after 2 s (the listeners' fallback), plus the re-read.
CHANGE_BOUND_S = 2.5


@needs_postgres
def test_changes_through_one_node_reach_the_others_within_the_bound(
        server_factory, tmp_path_factory):
    a, b, c = start_trio(server_factory, tmp_path_factory, "changes")
    lam = a.client()
    name = helpers.unique_name("changes")
    helpers.create_function(lam, name, helpers.make_zip({"app.py": versioned_source("one")}))
    helpers.wait_active(lam, name)
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_code(FunctionName=name,
                             ZipFile=helpers.make_zip({"app.py": versioned_source("two")}))
    helpers.wait_updated(lam, name)
    v2 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1)
    others = [b.client(), c.client()]
    for client in others:
        inv = helpers.invoke(client, name, {}, Qualifier="live")
        assert (inv.executed_version, inv.payload) == (v1, {"tag": "one"}), inv.log

    # UpdateAlias (target and weights) through a: b and c run only the new target.
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion=v2,
                     RoutingConfig={"AdditionalVersionWeights": {}})
    time.sleep(CHANGE_BOUND_S)
    for n in range(6):
        inv = helpers.invoke(others[n % 2], name, {}, Qualifier="live")
        assert (inv.executed_version, inv.payload) == (v2, {"tag": "two"}), inv.log

    # Reserved concurrency 0 through a blocks invokes through b and c, as on one node.
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    time.sleep(CHANGE_BOUND_S)
    for client in others:
        with pytest.raises(client.exceptions.TooManyRequestsException) as e:
            client.invoke(FunctionName=name, Payload=b"{}")
        helpers.assert_error(e.value, "TooManyRequestsException", 429, message="Rate Exceeded.")
        assert e.value.response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName=name)
    time.sleep(CHANGE_BOUND_S)
    for client in others:
        assert helpers.invoke(client, name, {}).function_error is None

    # DeleteFunction through a: b and c no longer find it.
    lam.delete_function(FunctionName=name)
    time.sleep(CHANGE_BOUND_S)
    for client in others:
        with pytest.raises(client.exceptions.ResourceNotFoundException) as e:
            client.invoke(FunctionName=name, Payload=b"{}")
        helpers.assert_error(e.value, "ResourceNotFoundException", 404)


# Each invocation reports when it ran (the nodes share this machine's clock).
TIMED_SOURCE = (
    "import time, uuid\n"
    "ENV_ID = uuid.uuid4().hex\n"
    "def handler(event, context):\n"
    "    start = time.time()\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    return {'env': ENV_ID, 'start': start, 'end': time.time()}\n"
)

# A node publishes its running counts with its next heartbeat (1 s) and announces the change;
# the others re-read at once. The margin covers a busy machine.
PUBLISH_BOUND_S = 2.5


def invoke_or_throttle(srv, name, event):
    client = srv.client()
    try:
        return helpers.invoke(client, name, event)
    except client.exceptions.TooManyRequestsException as e:
        return e


def most_at_once(intervals):
    """The largest number of (start, end) intervals that overlap at one moment."""
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


@needs_postgres
@pytest.mark.parametrize("limit", ["reserved", "account"])
def test_a_concurrency_limit_holds_for_the_sum_of_the_nodes(
        limit, server_factory, tmp_path_factory):
    """A limit of 2 (the function's reserved concurrency, or the account's) across three
    nodes that each keep one environment: two calls run on two nodes (the second spills), and
    once their counts are published, four more through every node are throttled as one node
    throttles, though the third node has room."""
    import concurrent.futures
    extra = {"STRATUS_MAX_ENVIRONMENTS": "1"}
    if limit == "account":
        extra["STRATUS_ACCOUNT_CONCURRENCY"] = "2"
    trio = start_trio(server_factory, tmp_path_factory, f"limits-{limit}", extra=extra)
    lam = trio[0].client()
    name = helpers.unique_name("limits")
    helpers.create_function(lam, name, helpers.make_zip({"app.py": TIMED_SOURCE}), Timeout=30)
    helpers.wait_active(lam, name)
    if limit == "reserved":
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
        time.sleep(CHANGE_BOUND_S)
    reason = {"reserved": "ReservedFunctionConcurrentInvocationLimitExceeded",
              "account": "ConcurrentInvocationLimitExceeded"}[limit]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        first = [pool.submit(invoke_or_throttle, trio[0], name, {"sleep": 6})]
        time.sleep(0.7)  # the second finds the first's node full and spills
        first.append(pool.submit(invoke_or_throttle, trio[1], name, {"sleep": 6}))
        time.sleep(PUBLISH_BOUND_S)
        later = [pool.submit(invoke_or_throttle, trio[n % 3], name, {"sleep": 1})
                 for n in (2, 0, 1, 2)]
        started = [f.result() for f in first]
        refused = [f.result() for f in later]
    for inv in started:
        assert not isinstance(inv, Exception), inv
        assert inv.status == 200 and inv.function_error is None, inv.log
    assert len({inv.payload["env"] for inv in started}) == 2, "they ran on two nodes"
    assert most_at_once([(i.payload["start"], i.payload["end"]) for i in started]) == 2
    for e in refused:
        assert isinstance(e, Exception), f"ran beyond the limit: {e.payload}"
        helpers.assert_error(e, "TooManyRequestsException", 429, message="Rate Exceeded.")
        assert e.response.get("Reason") == reason, e.response
    # Once the two have ended and that is published, the places are free again.
    time.sleep(PUBLISH_BOUND_S)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        again = [pool.submit(invoke_or_throttle, srv, name, {"sleep": 1}) for srv in trio[1:]]
        again = [f.result() for f in again]
    for inv in again:
        assert not isinstance(inv, Exception), inv
        assert inv.function_error is None, inv.log


STREAMER = """
exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  stream.write('one ');
  if (event.fail) throw new TypeError('mid-stream');
  stream.end('two');
});
"""


@needs_postgres
def test_a_stream_placed_on_another_node_comes_back_whole(server_factory, tmp_path_factory):
    """The internal channel carries complete answers: a streamed response forwarded from its
    home node arrives gathered, as one PayloadChunk, with the same InvokeComplete."""
    # Its own three nodes: the module's shared trio has lost a node to the tests above.
    a, b, c = start_trio(server_factory, tmp_path_factory, "streams")
    name = helpers.unique_name("streamed")
    helpers.create_function(a.client(), name, helpers.make_zip({"index.js": STREAMER}),
                            Runtime="nodejs20.x", Handler="index.handler")
    helpers.wait_active(a.client(), name)
    for srv in (a, b, c):
        events = list(srv.client().invoke_with_response_stream(
            FunctionName=name, Payload=b"{}")["EventStream"])
        chunks = [e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e]
        assert b"".join(chunks) == b"one two", events
        assert "ErrorCode" not in events[-1]["InvokeComplete"], events
    for srv in (a, b, c):
        events = list(srv.client().invoke_with_response_stream(
            FunctionName=name, Payload=b'{"fail": true}')["EventStream"])
        complete = events[-1]["InvokeComplete"]
        assert (complete["ErrorCode"], complete["ErrorDetails"]) == ("TypeError", "mid-stream")


@needs_postgres
def test_a_layer_published_through_one_node_runs_on_every_node(
        server_factory, tmp_path_factory):
    a, b, _ = start_trio(server_factory, tmp_path_factory, "layers")
    client = a.client()
    layer = client.publish_layer_version(
        LayerName=helpers.unique_name("layer"),
        Content={"ZipFile": helpers.make_zip({"python/shared_lib.py": "WHO = 'layer'\n"})},
    )
    source = "import shared_lib\ndef handler(event, context):\n    return shared_lib.WHO\n"
    names = [helpers.unique_name("layered") for _ in range(8)]
    for name in names:
        helpers.create_function(client, name, helpers.make_zip({"app.py": source}),
                                Layers=[layer["LayerVersionArn"]])
        helpers.wait_active(client, name)
    for name in names:
        inv = helpers.invoke(b.client(), name)
        assert inv.status == 200 and inv.function_error is None, inv
        assert inv.payload == "layer"
    # Placement spreads eight versions over three nodes: some ran where the layer was not
    # published, and so fetched it from the blob store.
    ran_on = set()
    for name in names:
        helpers.wait_until(lambda: environments_of(b, name), timeout=10,
                           message=lambda: f"{name}: {cluster_view(b)['nodes']}")
        ran_on.update(environments_of(b, name))
    assert ran_on - {"layers-a"}, ran_on
