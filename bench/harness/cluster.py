"""The `cluster` workload: three `stratus serve` nodes on this machine sharing one PostgreSQL
database (STRATUS_BENCH_DATABASE; a fresh database beside it) and one blob store
(STRATUS_BENCH_BLOB_STORE, else a directory they share). It measures:

- throughput of one node against three at 16 connections, the connections spread over the
  nodes in turn (a round-robin balancer), the same warm function and duration. All nodes
  share this machine's CPUs, so three nodes add hops, not capacity;
- the cost of a forward: latency at concurrency 1 of a warm invoke sent to the function's
  home node against one sent to another node, which forwards it;
- a node killed with SIGKILL: how long until the others' `/health` stops listing it, and
  how long until the async events it was running have run on a surviving node (each event's
  run writes an S3 object saying when it started and ended).
"""

import json
import os
import statistics
import subprocess
import threading
import time
import urllib.request
import uuid

from . import deploy, servers

SECRET = "bench-cluster-secret"
NODES = ("node-a", "node-b", "node-c")

# Each run records when it started and ended, and when its environment began loading the
# handler's module (before importing boto3, the slow part of its init), as an object named
# after its event.
RECORDER = (
    "import time\n"
    "LOADING = time.time()\n"
    "import json, os, uuid\n"
    "import boto3\n"
    "S3 = boto3.client('s3')\n"
    "def handler(event, context):\n"
    "    start = time.time()\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    body = {'id': event['id'], 'loading': LOADING, 'start': start, 'end': time.time()}\n"
    "    S3.put_object(Bucket=os.environ['RECORD_BUCKET'],\n"
    "                  Key='%s/%s' % (event['id'], uuid.uuid4().hex),\n"
    "                  Body=json.dumps(body).encode())\n"
)


def _health(url):
    with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
        return json.loads(resp.read())


def _listed(url):
    """The node ids `url`'s node lists, or None when it does not answer."""
    try:
        return sorted(n["id"] for n in _health(url)["cluster"]["nodes"])
    except OSError:
        return None


def _invocations(url, function):
    """How many invocations of `function` the node at `url` has run (its /metrics)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("stratus_invocations_total{")
               and f'function="{function}"' in line)


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _home(url, function):
    """The node holding `function`'s environments, as `url`'s node sees the cluster."""
    def holders():
        nodes = _health(url)["cluster"]["nodes"]
        have = [n["id"] for n in nodes
                if any(e["function"] == function for e in n["environments"])]
        return have[0] if len(have) == 1 else None
    return _wait(holders, 10, f"{function}'s environment to show in the heartbeats")


class Trio:
    """Up to three cluster nodes on one fresh database; stops them all at the end."""

    def __init__(self, ctx, database, blobs):
        self.ctx, self.nodes = ctx, {}
        self.env = {"STRATUS_CLUSTER_SECRET": SECRET, "STRATUS_DATABASE": database,
                    "STRATUS_BLOB_STORE": blobs, "STRATUS_ACCOUNT_CONCURRENCY": "1000",
                    "STRATUS_CLUSTER_DRAIN_SECS": "1"}

    def start(self, node_id):
        s = servers.Stratus(self.ctx.stratus_bin, self.ctx.work_dir, f"cluster-{node_id}",
                            env={**self.env, "STRATUS_NODE_ID": node_id})
        self.nodes[node_id] = s.start()
        return s

    def settle(self):
        """Waits until every node lists every node for longer than a claim's settling time
        (2 s), so each dispatcher takes async events."""
        ids = sorted(self.nodes)

        def settled(s):
            nodes = _health(s.url)["cluster"]["nodes"]
            return sorted(n["id"] for n in nodes if n["uptime_ms"] >= 2500) == ids
        for s in self.nodes.values():
            _wait(lambda: settled(s), 20, f"{s.url} to list {ids}")

    def leave(self, node_id):
        """Stops a node cleanly (it drains for a second, then leaves the list)."""
        self.nodes.pop(node_id).stop()

    def stop(self):
        for s in self.nodes.values():
            s.stop()


def _loadgen(ctx, trio, urls, function, **opts):
    """A loadgen run spread over `urls`, labelled with the machine's condition (the CPU of
    every running node counts as ours)."""
    from .workloads import brief, loadgen, measured
    pids = [s.pid for s in trio.nodes.values()]
    return brief(measured(ctx, pids, False, lambda: loadgen(
        ctx, ",".join(urls), function, **opts)))


def _throughput(ctx, trio, plan):
    """One node; three (round-robin, and all on the home node, alternating); one node again,
    once the others left: 16 connections on the same warm function throughout."""
    a = trio.nodes["node-a"]
    lam = deploy.client(a.url)
    deploy.create(lam, "noop-rust", ctx.packages, "rust")
    out = {}
    ctx.log("  throughput, one node, concurrency 16")
    out["one node"] = _loadgen(ctx, trio, [a.url], "noop-rust", concurrency=16,
                               duration=plan.throughput_s, warmup=plan.warmup_s)
    for node_id in NODES[1:]:
        trio.start(node_id)
    trio.settle()
    urls = [trio.nodes[n].url for n in NODES]
    # A first round-robin run warms the home node's environments and shows which node it
    # is: the one that ran the calls.
    before = {n: _invocations(s.url, "noop-rust") for n, s in trio.nodes.items()}
    _loadgen(ctx, trio, urls, "noop-rust", concurrency=16, duration=plan.warmup_s)
    ran = {n: _invocations(s.url, "noop-rust") - before[n] for n, s in trio.nodes.items()}
    home = max(ran, key=ran.get)
    out["ran_per_node"] = ran
    # Round-robin over the three, and every connection on the home node (nothing forwarded,
    # so the gap between the two is the forwards' cost), in alternating rounds.
    variants = {"three nodes": urls, "three nodes, all to its home": [trio.nodes[home].url]}
    rounds = {label: [] for label in variants}
    for r in range(2):
        for label, targets in variants.items():
            ctx.log(f"  throughput, {label}, concurrency 16, round {r + 1}")
            rounds[label].append(_loadgen(ctx, trio, targets, "noop-rust", concurrency=16,
                                          duration=plan.throughput_s / 2, warmup=0.3))
    for label, runs in rounds.items():
        out[label] = _combined(runs)
    # One node again, once the others have left: how far the machine drifted meanwhile.
    for node_id in NODES[1:]:
        trio.leave(node_id)
    _wait(lambda: _listed(a.url) == ["node-a"], 10, "node-a to be alone")
    ctx.log("  throughput, one node again, concurrency 16")
    out["one node, again"] = _loadgen(ctx, trio, [a.url], "noop-rust", concurrency=16,
                                      duration=plan.throughput_s, warmup=plan.warmup_s)
    for node_id in NODES[1:]:
        trio.start(node_id)
    trio.settle()
    return out


def _combined(runs):
    """Rounds of equal length as one figure: requests and errors summed, throughput their
    mean, latency percentiles their median."""
    out = {k: statistics.median(r[k] for r in runs) for k in ("p50_us", "p95_us", "p99_us")}
    out["throughput_rps"] = round(statistics.mean(r["throughput_rps"] for r in runs), 1)
    out["requests"] = sum(r["requests"] for r in runs)
    out["errors"] = sum(r["errors"] for r in runs)
    out["rounds"] = runs
    return out


def _forwarding(ctx, trio, plan, rounds=4):
    """Latency at concurrency 1 on the home node and through another node, in alternating
    short rounds so that the busy machine's drift hits both alike; each figure is the median
    of the rounds'."""
    a = trio.nodes["node-a"]
    lam = deploy.client(a.url)
    deploy.create(lam, "noop-fwd", ctx.packages, "rust")
    lam.invoke(FunctionName="noop-fwd", Payload=b"{}")
    home = _home(a.url, "noop-fwd")
    other = next(n for n in NODES if n != home)
    out = {"home": home, "via": other, "rounds": {"direct": [], "forwarded": []}}
    ctx.log(f"  latency at concurrency 1, {rounds} rounds direct and forwarded")
    for _ in range(rounds):
        for label, node in (("direct", home), ("forwarded", other)):
            out["rounds"][label].append(_loadgen(
                ctx, trio, [trio.nodes[node].url], "noop-fwd", concurrency=1,
                duration=plan.pinned_s / rounds, warmup=0.3))
    for label, runs in out.pop("rounds").items():
        out[label] = _combined(runs)
    out["overhead_p50_us"] = out["forwarded"]["p50_us"] - out["direct"]["p50_us"]
    out["overhead_p99_us"] = out["forwarded"]["p99_us"] - out["direct"]["p99_us"]
    return out


def _runs(s3, bucket):
    """Every completed run's record: {event id: [(start, end, loading), ...]} (wall-clock
    seconds)."""
    runs = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            rec = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            runs.setdefault(rec["id"], []).append((rec["start"], rec["end"], rec["loading"]))
    return runs


def _held_by(database, node_id):
    """The request ids of the async events `node_id` holds (leased to it), read from the
    shared queue."""
    out = subprocess.run(
        ["psql", database, "-qtAc",
         f"SELECT request_id FROM meta.async_events WHERE holder = '{node_id}'"],
        check=True, capture_output=True, text=True, timeout=30)
    return set(out.stdout.split())


def _holders(database):
    """{request id: holder} of every event in the shared queue (None: not leased)."""
    out = subprocess.run(
        ["psql", database, "-qtA", "-F", " ", "-c",
         "SELECT request_id, COALESCE(holder, '-') FROM meta.async_events"],
        check=True, capture_output=True, text=True, timeout=30)
    rows = (line.split() for line in out.stdout.splitlines() if line.strip())
    return {r: (h if h != "-" else None) for r, h in rows}


class QueueWatch(threading.Thread):
    """Polls the shared queue after the kill: when each of `held` (request ids leased to the
    dead node) stops being its, and when a live node has taken it."""

    def __init__(self, database, victim, held, killed):
        super().__init__(daemon=True)
        self.database, self.victim, self.killed = database, victim, killed
        self.released, self.claimed = {}, {}
        self.pending = set(held)
        self.halt = threading.Event()

    def run(self):
        while self.pending and not self.halt.is_set():
            holders, at = _holders(self.database), time.monotonic() - self.killed
            for r in list(self.pending):
                holder = holders.get(r, "gone")
                if holder != self.victim:
                    self.released.setdefault(r, at)
                if holder not in (self.victim, None):
                    self.claimed[r] = at
                    self.pending.discard(r)
            time.sleep(0.05)


def _node_death(ctx, trio, events=6, sleep_s=3.0):
    """Async events queued on a slow function's home node; that node killed (SIGKILL) while
    they run: when the others stop listing it, and when each unfinished event has run on a
    surviving node."""
    a = trio.nodes["node-a"]
    s3 = deploy.client(a.url, "s3")
    bucket = f"bench-runs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    iam = deploy.client(a.url, "iam")
    deploy.ensure_role(deploy.client(a.url))
    iam.put_role_policy(RoleName="bench-role", PolicyName="records", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:PutObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    lam = deploy.client(a.url)
    lam.create_function(
        FunctionName="recorder", Role=deploy.ROLE, Runtime="python3.12", Handler="app.handler",
        Code={"ZipFile": deploy.make_zip({"app.py": (RECORDER.encode(), False)})},
        Timeout=60, Environment={"Variables": {"RECORD_BUCKET": bucket}})
    deploy.wait_ready(lam, "recorder")
    lam.invoke(FunctionName="recorder", Payload=json.dumps({"id": "warm"}).encode())
    victim_id = _home(a.url, "recorder")
    victim = trio.nodes[victim_id]
    survivors = [s for n, s in trio.nodes.items() if n != victim_id]
    s3 = deploy.client(survivors[0].url, "s3")

    ctx.log(f"  {events} async events on {victim_id}, then SIGKILL")
    vlam = deploy.client(victim.url)
    wanted = {f"e{i}" for i in range(events)}
    event_of = {}
    for event_id in sorted(wanted):
        resp = vlam.invoke(FunctionName="recorder", InvocationType="Event",
                           Payload=json.dumps({"id": event_id, "sleep": sleep_s}).encode())
        event_of[resp["ResponseMetadata"]["RequestId"]] = event_id
    time.sleep(1.5)  # taken and running, none finished
    victim.proc.kill()
    killed_wall, killed = time.time(), time.monotonic()
    held_ids = _held_by(trio.env["STRATUS_DATABASE"], victim_id) & set(event_of)
    held = {event_of[r] for r in held_ids}
    watch = QueueWatch(trio.env["STRATUS_DATABASE"], victim_id, held_ids, killed)
    watch.start()
    done_before = set(_runs(s3, bucket)) & wanted

    # Detection: each survivor's /health no longer lists it.
    detected = {}
    while len(detected) < len(survivors) and time.monotonic() - killed < 30:
        for s in survivors:
            if s.url not in detected and victim_id not in (_listed(s.url) or [victim_id]):
                detected[s.url] = time.monotonic() - killed
        time.sleep(0.02)
    # Redelivery: every event has a completed run.
    runs = _wait(lambda: (lambda r: r if wanted <= set(r) else None)(_runs(s3, bucket)),
                 60, "every event to run")
    watch.halt.set()
    watch.join(timeout=5)
    victim.stop()  # reap it and anything left in its group
    request_of = {e: r for r, e in event_of.items()}
    # Per unfinished event: when its run after the kill started and ended (seconds after
    # the kill), and whether the dead node held it (else another node had taken it and
    # forwarded it to the dead node, and that attempt broke).
    reruns = {}
    for e in sorted(wanted - done_before):
        after = [(s, end, loading) for s, end, loading in runs[e] if s >= killed_wall]
        reruns[e] = {"held_by_victim": e in held,
                     "released_s": _round(watch.released.get(request_of[e])),
                     "claimed_s": _round(watch.claimed.get(request_of[e])),
                     # When the environment that ran it began loading its code: later
                     # than the kill for a cold start.
                     "loading_s": round(min(ld for _, _, ld in after) - killed_wall, 2)
                     if after else None,
                     "started_s": round(min(s for s, _, _ in after) - killed_wall, 2)
                     if after else None,
                     "ended_s": round(max(end for _, end, _ in runs[e]) - killed_wall, 2)}
    return {
        "victim": victim_id, "events": events, "function_sleep_s": sleep_s,
        "held_at_kill": len(held), "finished_before_kill": len(done_before),
        "detected_s": {"max": round(max(detected.values()), 2) if detected else None,
                       "all_survivors": len(detected) == len(survivors)},
        "reruns": reruns,
        "runs_per_event_max": max(len(v) for e, v in runs.items() if e in wanted),
    }


def _round(x):
    return None if x is None else round(x, 2)


def cluster(ctx):
    from .workloads import _fresh_database
    db = os.environ.get("STRATUS_BENCH_DATABASE")
    if not db:
        return {"skipped": "set STRATUS_BENCH_DATABASE (scripts/postgres-dev start prints one)"}
    blobs = os.environ.get("STRATUS_BENCH_BLOB_STORE") or (
        "file://" + str(ctx.work_dir / "cluster-blobs"))
    database = _fresh_database(db, f"bench_cluster_{uuid.uuid4().hex[:8]}")
    out = {"blob_store": "s3" if blobs.startswith("s3://") else "shared directory",
           "lease_s": 5}
    trio = Trio(ctx, database, blobs)
    try:
        trio.start("node-a")
        out["throughput_c16"] = _throughput(ctx, trio, ctx.plan)
        out["forwarding_c1"] = _forwarding(ctx, trio, ctx.plan)
        out["node_death"] = _node_death(ctx, trio)
    finally:
        trio.stop()
    return out
