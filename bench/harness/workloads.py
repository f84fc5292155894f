"""The workloads. Each takes the run's `Ctx` and returns a JSON-able dict; `WORKLOADS` lists
them in the order they run. Every workload is bounded in time and count (see `Plan`) and
sends traffic only to 127.0.0.1.

To add a workload (asynchronous Invoke, S3, HTTP triggers, …): write `def name(ctx) -> dict`
here, add it to `WORKLOADS`, and give `report.py` a table for it.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import deploy, peer, procs, servers


@dataclass
class Plan:
    """How much each workload does; `--quick` uses the small plan."""

    warm_s: float = 10.0
    warmup_s: float = 2.0
    tail_s: float = 3.0
    pinned_s: float = 8.0
    throughput_s: float = 8.0
    levels: tuple = (1, 4, 16, 64)
    cold_versions: int = 25
    cold_versions_process: int = 20
    floor_exec: int = 30
    peer_cold: int = 5
    scale_out: tuple = (100, 500, 1000)
    idle_functions: int = 100
    idle_timeout_s: int = 15
    idle_window_s: float = 5.0


QUICK = Plan(warm_s=3.0, warmup_s=1.0, tail_s=2.0, pinned_s=3.0, throughput_s=3.0,
             levels=(1, 16), cold_versions=10, cold_versions_process=5, floor_exec=10,
             peer_cold=2, scale_out=(100,), idle_functions=20, idle_timeout_s=8,
             idle_window_s=3.0)


@dataclass
class Ctx:
    plan: Plan
    stratus_bin: Path
    loadgen_bin: Path
    floor_bin: Path
    noop_fn: Path
    repo: Path
    bench_dir: Path
    work_dir: Path
    packages: deploy.Packages
    peer: peer.PeerStatus
    log: callable
    python: str  # the real interpreter behind python3 (what Stratus resolves too)


def loadgen(ctx, url, function, pinned=False, sign=True, **opts):
    """Runs the load generator; returns its JSON."""
    cmd = servers.pin_prefix(pinned) + [str(ctx.loadgen_bin), "--endpoint", url,
                                        "--function", function]
    for k, v in opts.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            cmd.append(flag)
        elif k == "header":  # repeatable, one value per flag
            for h in v:
                cmd += [flag, h]
        elif v is not None and v is not False:
            cmd += [flag, ",".join(v) if isinstance(v, list) else str(v)]
    if not sign:
        cmd.append("--no-sign")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout)


def measured(ctx, trees, pinned, fn):
    """Runs `fn()` (a loadgen call), labelling the machine's condition while it ran."""
    cpu0 = sum(procs.tree_cpu(p) for p in trees)
    cond = procs.Condition(pinned)
    result = fn()
    ours = sum(procs.tree_cpu(p) for p in trees) - cpu0 + result.get("loadgen_cpu_s", 0.0)
    result["condition"] = cond.finish(ours)
    return result


def brief(r):
    """The figures the tables show, from a loadgen result."""
    lat = r.get("ok_latency") or r["latency"]
    return {
        "requests": r["requests"], "errors": r["errors"],
        "throughput_rps": round(r["throughput_rps"], 1),
        "p50_us": lat["p50_us"], "p95_us": lat["p95_us"], "p99_us": lat["p99_us"],
        "condition": r.get("condition", {}).get("label"),
    }


# --- targets --------------------------------------------------------------------------------

class StratusTarget:
    def __init__(self, ctx, server, function):
        self.ctx, self.server, self.function = ctx, server, function

    def run(self, concurrency, pinned=False, **opts):
        return measured(self.ctx, [self.server.pid], pinned, lambda: loadgen(
            self.ctx, self.server.url, self.function, pinned=pinned,
            concurrency=concurrency, **opts))


class FloorTarget:
    """A fresh floor server per run, with one runtime process per client."""

    def __init__(self, ctx, runtime_cmd, runtime_env=None):
        self.ctx, self.runtime_cmd, self.runtime_env = ctx, runtime_cmd, runtime_env

    def run(self, concurrency, pinned=False, **opts):
        with servers.Floor(self.ctx.floor_bin, self.runtime_cmd, concurrency, pinned,
                           self.runtime_env) as f:
            trees = [f.proc.pid] + [r.pid for r in f.runtimes]
            return measured(self.ctx, trees, pinned, lambda: loadgen(
                self.ctx, f.url, "floor", pinned=pinned, sign=True,
                concurrency=concurrency, **opts))


class PeerTarget:
    def __init__(self, ctx, watch):
        self.ctx, self.watch = ctx, watch

    def run(self, concurrency, pinned=False, **opts):
        return measured(self.ctx, [self.watch.proc.pid], pinned, lambda: loadgen(
            self.ctx, self.watch.url, self.watch.function, pinned=pinned,
            concurrency=concurrency, **opts))


def _task(ctx, kind, module, source, handler, runtime):
    """A task directory with the no-op handler, the bootstrap's path and the environment a
    managed runtime's bootstrap is started with, for the floor."""
    task = ctx.work_dir / f"{kind}-task"
    task.mkdir(parents=True, exist_ok=True)
    (task / module).write_text(source)
    env = {"LAMBDA_TASK_ROOT": str(task), "_HANDLER": handler,
           "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}"}
    return env


def python_runtime(ctx):
    """Stratus's own python bootstrap on the host interpreter, with the no-op handler, as a
    runtime command for the floor: (command, environment)."""
    env = _task(ctx, "py", "app.py", deploy.PY_HANDLER_SOURCE, "app.handler", "python3.12")
    bootstrap = ctx.repo / "crates/engine/runtimes/python/bootstrap.py"
    return [ctx.python, "-X", "utf8", "-s", "-S", str(bootstrap)], env


def node_runtime(ctx):
    """Stratus's own node bootstrap on the host's node, with the no-op handler, as a runtime
    command for the floor: (command, environment); None without node on the host."""
    node = shutil.which("node")
    if node is None:
        return None
    env = _task(ctx, "node", "index.js", deploy.NODE_HANDLER_SOURCE, "index.handler",
                "nodejs20.x")
    return [node, str(ctx.repo / "crates/engine/runtimes/node/bootstrap.mjs")], env


def floor_targets(ctx):
    py_cmd, py_env = python_runtime(ctx)
    return {
        "floor-raw": FloorTarget(ctx, None),
        "floor-rust": FloorTarget(ctx, [str(ctx.noop_fn)]),
        "floor-python": FloorTarget(ctx, py_cmd, py_env),
    }


def _start_peer(ctx, concurrency, prime=True):
    """Starts `cargo lambda watch`; with `prime`, waits for a first answer (the first start
    may compile the function through `cargo run`)."""
    if not ctx.peer.available:
        return None
    w = None
    try:
        w = peer.Watch(ctx.peer, ctx.bench_dir, ctx.work_dir, concurrency).start()
        if prime:
            r = loadgen(ctx, w.url, w.function, count=1, timeout=600)
            if r["errors"]:
                raise RuntimeError(f"first invoke failed: {r['error_kinds']}")
            # After its first answer the peer's tree keeps both vCPUs busy for seconds more
            # (cargo's own work), which the first measurement after it would share.
            _quiet(w.proc.pid)
        return w
    except RuntimeError as e:
        ctx.log(f"peer unavailable for this workload: {e}")
        if w:
            w.stop()
        return None


# --- 1 & 2: warm latency and throughput ----------------------------------------------------

def warm_and_throughput(ctx):
    """Warm latency at concurrency 1 and throughput at every level, targets interleaved per
    level so that drift on a shared machine hits them alike. One Stratus server serves both
    functions throughout; the floor is started afresh per run with one runtime per client;
    the peer runs with `--concurrency` = the highest level, so it may start as many
    instances as Stratus starts environments."""
    p = ctx.plan
    out = {"levels": {}, "api_overhead": {}, "notes": []}
    env = {"STRATUS_ACCOUNT_CONCURRENCY": "1000"}
    with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "warm", env=env) as s:
        out["start_up_settled_s"] = _settled(s.pid)
        lam = deploy.client(s.url)
        deploy.create(lam, "noop-rust", ctx.packages, "rust")
        deploy.create(lam, "noop-py", ctx.packages, "python")
        watch = _start_peer(ctx, max(p.levels))
        try:
            targets = {
                "stratus-rust": StratusTarget(ctx, s, "noop-rust"),
                "stratus-python": StratusTarget(ctx, s, "noop-py"),
                **floor_targets(ctx),
            }
            if watch:
                targets["peer-rust"] = PeerTarget(ctx, watch)
            for c in p.levels:
                dur = p.warm_s if c == 1 else p.throughput_s
                for name, t in targets.items():
                    ctx.log(f"  concurrency {c:>3}  {name}")
                    r = t.run(c, duration=dur, warmup=p.warmup_s)
                    out["levels"].setdefault(str(c), {})[name] = r
            for name in ["stratus-rust", "stratus-python"]:
                ctx.log(f"  API overhead (log tail)  {name}")
                r = targets[name].run(1, duration=p.tail_s, warmup=0.5, log_tail=True)
                out["api_overhead"][name] = r
            out["stratus_after"] = {
                "environments": procs.tree_memory(s.pid, with_pss=True),
                "platform_rss_kb": procs.rss_kb(s.pid),
                "platform_hwm_kb": procs.hwm_kb(s.pid),
            }
        finally:
            if watch:
                watch.stop()
    return out


def pinned_latency(ctx):
    """Warm latency at concurrency 1 with the server, its environments and the load
    generator all on vCPU 0 (`taskset -c 0`): no cross-vCPU wake-ups."""
    p = ctx.plan
    out = {}
    with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "pinned", pinned=True) as s:
        lam = deploy.client(s.url)
        deploy.create(lam, "noop-rust", ctx.packages, "rust")
        deploy.create(lam, "noop-py", ctx.packages, "python")
        targets = {
            "stratus-rust": StratusTarget(ctx, s, "noop-rust"),
            "stratus-python": StratusTarget(ctx, s, "noop-py"),
            **floor_targets(ctx),
        }
        for name, t in targets.items():
            ctx.log(f"  pinned  {name}")
            out[name] = t.run(1, pinned=True, duration=p.pinned_s, warmup=p.warmup_s)
    return out


# --- 1c: what authorization costs ------------------------------------------------------------

AUTHZ_ROUNDS = 3


def policy_user(url, function_arn):
    """An IAM user whose one inline policy allows invoking the function; its key pair."""
    iam = deploy.client(url, "iam")
    iam.create_user(UserName="bench-invoker")
    iam.put_user_policy(
        UserName="bench-invoker", PolicyName="invoke",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn}]}))
    key = iam.create_access_key(UserName="bench-invoker")["AccessKey"]
    return {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}


def authorization(ctx):
    """What identity and access cost a warm invoke: concurrency 1, everything on vCPU 0, the
    same Rust function on a server with `--iam off` and on one enforcing IAM, signed there by
    the root user and by an IAM user whose inline policy allows the invoke (the case that
    evaluates a policy). Rounds alternate the three so drift hits them alike; the summary is
    the median of each target's per-round p50."""
    p = ctx.plan
    out = {"rounds": {}, "summary": {}}
    off = servers.Stratus(ctx.stratus_bin, ctx.work_dir, "iam-off", pinned=True,
                          env={"STRATUS_IAM": "off"})
    on = servers.Stratus(ctx.stratus_bin, ctx.work_dir, "iam-on", pinned=True)
    with off, on:
        deploy.create(deploy.client(off.url), "noop-rust", ctx.packages, "rust")
        arn = deploy.create(deploy.client(on.url), "noop-rust", ctx.packages, "rust")[
            "FunctionArn"]
        targets = {
            "iam off": (off, {}),
            "iam on, root": (on, {}),
            "iam on, policy user": (on, policy_user(on.url, arn)),
        }
        for r in range(AUTHZ_ROUNDS):
            for name, (s, creds) in targets.items():
                ctx.log(f"  round {r + 1}  {name}")
                res = StratusTarget(ctx, s, "noop-rust").run(
                    1, pinned=True, duration=p.pinned_s, warmup=p.warmup_s, **creds)
                out["rounds"].setdefault(name, []).append(brief(res))
    for name, rs in out["rounds"].items():
        out["summary"][name] = {"p50_us": _median([r["p50_us"] for r in rs]),
                                "p99_us": _median([r["p99_us"] for r in rs]),
                                "errors": sum(r["errors"] for r in rs)}
    base = out["summary"]["iam off"]["p50_us"]
    for name, s in out["summary"].items():
        s["added_p50_us"] = round(s["p50_us"] - base, 1)
    return out


# --- 3: cold start ---------------------------------------------------------------------------

def _median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    return xs[(len(xs) - 1) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def _prepare_cold(ctx, server, kind, n):
    """Creates a function and publishes `n` versions of it; returns the versions."""
    lam = deploy.client(server.url)
    deploy.create(lam, f"cold-{kind}", ctx.packages, kind)
    return deploy.publish_versions(lam, f"cold-{kind}", n, uuid.uuid4().hex[:8])


def _cold_summary(ctx, server, kind, invocations):
    """Per-invoke records of a series of first invocations, with the warm API overhead
    measured afterwards on the same server."""
    warm = loadgen(ctx, server.url, f"cold-{kind}", duration=2.0, warmup=0.5, log_tail=True)
    overhead_us = warm["report"]["overhead_us"]["p50_us"] if warm.get("report") else None
    rows = []
    for inv in invocations:
        rep = inv.get("report") or {}
        total_ms = inv["latency_us"] / 1000
        init_ms, invoke_ms = rep.get("init_ms"), rep.get("duration_ms")
        residual = None
        if init_ms is not None and invoke_ms is not None and overhead_us is not None:
            residual = total_ms - init_ms - invoke_ms - overhead_us / 1000
        rows.append({"version": inv["qualifier"], "total_ms": total_ms, "init_ms": init_ms,
                     "invoke_ms": invoke_ms, "residual_ms": residual, "error": inv["error"]})
    return {
        "versions": len(rows),
        "errors": sum(1 for r in rows if r["error"]),
        "p50_total_ms": _median([r["total_ms"] for r in rows]),
        "p50_init_ms": _median([r["init_ms"] for r in rows]),
        "p50_invoke_ms": _median([r["invoke_ms"] for r in rows]),
        "warm_api_overhead_ms": overhead_us / 1000 if overhead_us is not None else None,
        "p50_residual_ms": _median([r["residual_ms"] for r in rows]),
        "max_total_ms": max((r["total_ms"] for r in rows), default=None),
        "invocations": rows,
    }


def _cold_round(ctx, ns, pr, kind, floor_cmd, floor_env):
    """First invokes of fresh versions on the namespaced server, on the process-isolation
    server and of the bare runtime (floor), taken in turn one by one so that the machine's
    drift hits all three alike."""
    p = ctx.plan
    v_ns = _prepare_cold(ctx, ns, kind, p.cold_versions)
    v_pr = _prepare_cold(ctx, pr, kind, p.cold_versions_process)
    got_ns, got_pr, floor = [], [], []
    for i in range(max(p.cold_versions, p.floor_exec)):
        if i < p.cold_versions:
            got_ns += loadgen(ctx, ns.url, f"cold-{kind}", qualifiers=[v_ns[i]],
                              log_tail=True)["invocations"]
        if i < p.cold_versions_process:
            got_pr += loadgen(ctx, pr.url, f"cold-{kind}", qualifiers=[v_pr[i]],
                              log_tail=True)["invocations"]
        if i < p.floor_exec:
            floor.append(_floor_exec(ctx, floor_cmd, floor_env, 1))
    med = lambda key: {"p50_us": _median([f[key]["p50_us"] for f in floor])}  # noqa: E731
    floor_out = {"count": len(floor), "spawn_call": med("spawn_call"),
                 "until_next": med("until_next"),
                 "until_first_response": med("until_first_response")}
    return (_cold_summary(ctx, ns, kind, got_ns), _cold_summary(ctx, pr, kind, got_pr),
            floor_out)


def _floor_exec(ctx, cmd, env, n):
    args = [str(ctx.floor_bin), "exec", "--count", str(n)]
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    out = subprocess.run(args + ["--"] + cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"floor exec failed: {out.stderr.strip()[-1000:]}")
    r = json.loads(out.stdout)
    return {k: r[k] for k in ["count", "spawn_call", "until_next", "until_first_response"]}


def _peer_cold(ctx, n):
    """First invoke after `cargo lambda watch` starts (it starts the function through
    `cargo run`), `n` times."""
    primed = _start_peer(ctx, 1)  # builds the function if needed; not measured
    if primed is None:
        return None
    primed.stop()
    samples = []
    for _ in range(n):
        w = _start_peer(ctx, 1, prime=False)
        if w is None:
            return None
        try:
            time.sleep(1.0)  # let watch finish its own start-up before the clock starts
            r = loadgen(ctx, w.url, w.function, count=1, timeout=120)
            samples.append({"total_ms": r["latency"]["max_us"] / 1000, "errors": r["errors"]})
        finally:
            w.stop()
    return {"count": n, "p50_total_ms": _median([s["total_ms"] for s in samples]),
            "errors": sum(s["errors"] for s in samples), "samples": samples}


def cold_start(ctx):
    """Time to first response of a new version, split into its parts.

    Stratus's `Init Duration` is timed from the start of environment creation, so it holds
    sandbox set-up and runtime init together; the split between them comes from a second
    server with `STRATUS_ISOLATION=process` (no namespaces, no cgroups) and from a bare
    fork+exec of the same runtime (the floor)."""
    p = ctx.plan
    out = {"namespaces": {}, "process": {}, "floor_exec": {}}
    penv = {"STRATUS_ISOLATION": "process"}
    py_cmd, py_env = python_runtime(ctx)
    floors = {"rust": ([str(ctx.noop_fn)], {}), "python": (py_cmd, py_env)}
    if node_runtime(ctx) is not None:
        floors["node"] = node_runtime(ctx)
    with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "cold") as ns, \
            servers.Stratus(ctx.stratus_bin, ctx.work_dir, "cold-process", env=penv) as pr:
        out["start_up_settled_s"] = [_settled(ns.pid), _settled(pr.pid)]
        for kind in floors:
            ctx.log(f"  cold start {kind}: {p.cold_versions} fresh versions (namespaces), "
                    f"{p.cold_versions_process} (process isolation), {p.floor_exec} bare "
                    "fork+exec, in turn")
            (out["namespaces"][kind], out["process"][kind],
             out["floor_exec"][kind]) = _cold_round(ctx, ns, pr, kind, *floors[kind])
    if ctx.peer.available:
        ctx.log(f"  peer: first invoke after cargo lambda watch starts x{p.peer_cold}")
        out["peer"] = _peer_cold(ctx, p.peer_cold)
    for kind in floors:
        ns, pr = out["namespaces"][kind], out["process"][kind]
        fl = out["floor_exec"][kind]["until_next"]["p50_us"] / 1000
        if ns["p50_init_ms"] is not None and pr["p50_init_ms"] is not None:
            out.setdefault("split", {})[kind] = {
                "total_ms": ns["p50_total_ms"],
                "sandbox_setup_ms": ns["p50_init_ms"] - pr["p50_init_ms"],
                "runtime_init_ms": pr["p50_init_ms"],
                "runtime_init_floor_ms": fl,
                "first_invoke_ms": ns["p50_invoke_ms"],
                "api_overhead_ms": ns["warm_api_overhead_ms"],
                "other_ms": ns["p50_residual_ms"],
            }
    return out


# --- 3b: cold start with the runtime's SDK ---------------------------------------------------

BOTO3_HANDLER = "import boto3\n\ndef handler(event, context):\n    return boto3.__version__\n"
# What a SnapStart function does at init: the SDK imported and a client made.
BOTO3_HANDLER_CLIENT = ("import boto3\n\nS3 = boto3.client('s3')\n\n"
                        "def handler(event, context):\n    return boto3.__version__\n")


def _sdk_tree(srv, runtime="python3.12", deadline_s=60):
    """The SDK tree of the interpreter the server runs `runtime` on (from /health)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for r in srv.fetch_health().get("runtimes") or []:
            if isinstance(r, dict) and r.get("runtime") == runtime and r["status"] != "resolving":
                if "version" not in r:
                    return None
                major_minor = ".".join(r["version"].split(".")[:2])
                return servers.RUNTIME_SDK_DIR / "python" / major_minor
        time.sleep(0.2)
    return None


def _packaged_boto3(tree):
    """The handler with the SDK tree copied into its package (as a function that ships its
    own boto3 would have it), bytecode included."""
    files = {"app.py": (BOTO3_HANDLER.encode(), False)}
    for path in tree.rglob("*"):
        if path.is_file() and path.name != "stratus-sdk.json":
            files[str(path.relative_to(tree))] = (path.read_bytes(), False)
    return deploy.make_zip(files)


def sdk_cold_start(ctx):
    """Cold start of a python function that imports boto3: the SDK carried by the runtime
    (bound read-only into the environment) against the same SDK packaged in the function.
    Fresh versions of each, invoked in turn on one namespaced server."""
    p = ctx.plan
    with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "sdk-cold") as srv:
        tree = _sdk_tree(srv)
        if tree is None or not (tree / "stratus-sdk.json").is_file():
            return {"skipped": f"no python SDK installed for python3.12 ({tree})"}
        lam = deploy.client(srv.url)
        deploy.ensure_role(lam)
        runtime_zip = deploy.make_zip({"app.py": (BOTO3_HANDLER_CLIENT.encode(), False)})
        zips = {"sdk-runtime": deploy.make_zip({"app.py": (BOTO3_HANDLER.encode(), False)}),
                "sdk-packaged": _packaged_boto3(tree),
                # SnapStart (decision 0039): each version's init (import boto3, a client)
                # ran when it was published; its first invocation restores a parked one.
                "python-boto3-snapstart": runtime_zip}
        versions = {}
        for kind, zipped in zips.items():
            name = f"cold-{kind}"
            snap = {"SnapStart": {"ApplyOn": "PublishedVersions"}} if "snapstart" in kind else {}
            lam.create_function(FunctionName=name, Role=deploy.ROLE, Runtime="python3.12",
                                Handler="app.handler", Code={"ZipFile": zipped}, Timeout=30,
                                MemorySize=512, **snap)
            deploy.wait_ready(lam, name)
            versions[kind] = deploy.publish_versions(lam, name, p.cold_versions,
                                                     uuid.uuid4().hex[:8])
            if snap:
                for v in versions[kind]:
                    lam.get_waiter("published_version_active").wait(
                        FunctionName=name, Qualifier=v,
                        WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        ctx.log(f"  boto3 cold start: {p.cold_versions} fresh versions each, SDK in the "
                "runtime and packaged, in turn")
        got = {kind: [] for kind in zips}
        for i in range(p.cold_versions):
            for kind in zips:
                got[kind] += loadgen(ctx, srv.url, f"cold-{kind}", qualifiers=[versions[kind][i]],
                                     log_tail=True)["invocations"]
        out = {kind: _cold_summary(ctx, srv, kind, got[kind]) for kind in zips}
        out["package_bytes"] = {kind: len(z) for kind, z in zips.items()}
        return out


# --- 4: scale-out ----------------------------------------------------------------------------

def scale_out(ctx):
    """From zero to N concurrent environments of a function that sleeps 1 s: N connections
    each send one request at once; a fresh server per N so its peak RSS is this workload's."""
    out = {}
    runs = [(str(n), n, "auto") for n in ctx.plan.scale_out]
    # The same platform without namespaces or cgroups: how much of the time is the sandbox's.
    n0 = ctx.plan.scale_out[0]
    runs.append((f"{n0} (process isolation)", n0, "process"))
    for key, n, isolation in runs:
        env = {"STRATUS_ACCOUNT_CONCURRENCY": "1000", "STRATUS_ISOLATION": isolation}
        ctx.log(f"  scale-out to {key} environments")
        with servers.Stratus(ctx.stratus_bin, ctx.work_dir, f"scale-{n}-{isolation}",
                             env=env) as s:
            lam = deploy.client(s.url)
            deploy.create(lam, "sleep-rust", ctx.packages, "rust",
                          env={"BENCH_SLEEP_MS": "1000"}, timeout=60)
            settled_s = _settled(s.pid)
            rss0 = procs.rss_kb(s.pid)
            with procs.TreeSampler(s.pid) as sampler:
                r = measured(ctx, [s.pid], False, lambda: loadgen(
                    ctx, s.url, "sleep-rust", concurrency=n, count=n, timeout=120))
            after = procs.tree_memory(s.pid, with_pss=True)
            out[key] = {
                "isolation": s.health.get("isolation"),
                "requests": r["requests"], "errors": r["errors"],
                "error_kinds": r["error_kinds"],
                "all_answered_s": r["elapsed_s"],
                "latency_p50_ms": r["latency"]["p50_us"] / 1000,
                "latency_max_ms": r["latency"]["max_us"] / 1000,
                "platform_rss_before_kb": rss0,
                "platform_peak_rss_kb": procs.hwm_kb(s.pid),
                "platform_rss_after_kb": procs.rss_kb(s.pid),
                "environments_peak_sampled": sampler.peak,
                "environments_after": after,
                "condition": r["condition"],
                "start_up_settled_s": settled_s,
            }
            t0 = time.monotonic()
        out[key]["shutdown_s"] = round(time.monotonic() - t0, 2)
    return out


def _wait_quiet(is_quiet, quiet_s, limit_s, step_s):
    """Polls `is_quiet()` every `step_s` until it has held for `quiet_s` (or `limit_s` has
    passed); returns the seconds waited."""
    t0 = time.monotonic()
    quiet_since = None
    while time.monotonic() - t0 < limit_s:
        if not is_quiet():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            break
        time.sleep(step_s)
    return round(time.monotonic() - t0, 2)


def _settled(pid, quiet_s=1.0, limit_s=30.0):
    """Waits until the server has had no process of its own for `quiet_s` (its start-up
    probes the host's interpreters, python and node processes that would otherwise share the
    CPUs with what is measured: seconds of CPU where a version manager's shims are on PATH);
    returns the seconds waited."""
    return _wait_quiet(lambda: not procs.descendants(pid), quiet_s, limit_s, 0.1)


def _quiet(pid, quiet_s=1.0, limit_s=60.0, share=0.05, step_s=0.25):
    """Waits until the process tree of `pid` has used under `share` of a vCPU for `quiet_s`;
    returns the seconds waited."""
    last = [procs.tree_cpu(pid)]

    def idle():
        now = procs.tree_cpu(pid)
        used, last[0] = now - last[0], now
        return used <= share * step_s

    return _wait_quiet(idle, quiet_s, limit_s, step_s)


# --- 5: idle footprint -----------------------------------------------------------------------

def _window(pid, seconds):
    """The server's RSS and CPU use over `seconds` of no traffic."""
    cpu0, t0 = procs.cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = procs.cpu_seconds(pid), time.monotonic()
    envs = procs.tree_memory(pid, with_pss=True)
    return {"platform_rss_kb": procs.rss_kb(pid),
            "platform_cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
            "function_processes": envs["processes"], "environments_rss_kb": envs["rss_kb"],
            "environments_pss_kb": envs["pss_kb"], "window_s": seconds}


def idle_footprint(ctx):
    p = ctx.plan
    env = {"STRATUS_IDLE_TIMEOUT_SECS": str(p.idle_timeout_s)}
    out = {"functions": p.idle_functions, "idle_timeout_s": p.idle_timeout_s}
    with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "idle", env=env) as s:
        out["empty"] = _window(s.pid, min(2.0, p.idle_window_s))
        lam = deploy.client(s.url)
        ctx.log(f"  deploying {p.idle_functions} functions")
        names = [f"idle-{i:03d}" for i in range(p.idle_functions)]
        for name in names:
            deploy.create(lam, name, ctx.packages, "rust")
        out["deployed_no_environments"] = _window(s.pid, min(2.0, p.idle_window_s))
        ctx.log("  one invoke each, then idle")
        for name in names:
            lam.invoke(FunctionName=name, Payload=b"{}")
        last_invoke = time.monotonic()
        out["before_reclaim"] = _window(s.pid, p.idle_window_s)
        deadline = last_invoke + p.idle_timeout_s + 30
        while time.monotonic() < deadline and procs.descendants(s.pid):
            time.sleep(0.25)
        out["reclaimed_after_s"] = round(time.monotonic() - last_invoke, 2)
        out["after_reclaim"] = _window(s.pid, p.idle_window_s)
    return out


# --- 6: event sources (sources.py) ----------------------------------------------------------


def event_sources(ctx):
    from . import sources  # imports this module: loaded on first use
    return sources.event_sources(ctx)



# --- 7: tables (DynamoDB API) ------------------------------------------------------------------

TABLE = "bench"
_BODY = "x" * 100


def _table_requests():
    """The three operations measured, each one constant (signed once per connection) request:
    PutItem overwrites one ~130-byte item, GetItem reads one, Query reads 10 of a 100-item
    partition."""
    return {
        "PutItem": {"TableName": TABLE, "Item": {"pk": {"S": "put"}, "sk": {"N": "1"},
                                                 "body": {"S": _BODY}}},
        "GetItem": {"TableName": TABLE, "Key": {"pk": {"S": "q"}, "sk": {"N": "42"}}},
        "Query": {"TableName": TABLE,
                  "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
                  "ExpressionAttributeValues": {":p": {"S": "q"}, ":a": {"N": "10"},
                                                ":b": {"N": "19"}}},
    }


def _bench_table(url):
    """The table the DynamoDB requests address: one 100-item partition (`q`) to query."""
    ddb = deploy.client(url, "dynamodb")
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}])
    for start in range(0, 100, 25):
        ddb.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": {"pk": {"S": "q"}, "sk": {"N": str(i)},
                                     "body": {"S": _BODY}}}}
            for i in range(start, start + 25)]})


def tables(ctx):
    """PutItem, GetItem and Query: latency at concurrency 1 and throughput at 1, 4 and 16,
    against one server with a fresh data directory."""
    p = ctx.plan
    levels = [c for c in p.levels if c <= 16] or [1]
    if 4 not in levels and len(levels) > 1:
        levels = sorted(set(levels) | {4})
    out = {"levels": {}}
    with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "tables") as s:
        _bench_table(s.url)
        for c in levels:
            level = out["levels"].setdefault(str(c), {})
            for op, body in _table_requests().items():
                ctx.log(f"  {op}, concurrency {c}")
                r = measured(ctx, [s.pid], False, lambda: loadgen(
                    ctx, s.url, "", concurrency=c, dynamodb=op, payload=json.dumps(body),
                    duration=p.throughput_s, warmup=p.warmup_s))
                level[op] = {**brief(r), "condition": r.get("condition")}
    return out


# --- 8: the storage backends side by side ---------------------------------------------------

_OBJECT = b"x" * 1024


def _fresh_database(url, name):
    """A new, empty database beside the one `url` names (psql; the server creates its
    schemas). Returns its URL."""
    subprocess.run(["psql", url, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                   check=True, capture_output=True, timeout=60)
    subprocess.run(["psql", url, "-qc", f'CREATE DATABASE "{name}"'],
                   check=True, capture_output=True, timeout=60)
    base, _, rest = url.rpartition("/")
    query = ("?" + rest.split("?", 1)[1]) if "?" in rest else ""
    return f"{base}/{name}{query}"


def _backend_env(kind):
    """The server's environment for one backend, or a reason it cannot run here."""
    if kind == "sqlite + local disk":
        return {}, None
    db, blobs = os.environ.get("STRATUS_BENCH_DATABASE"), os.environ.get(
        "STRATUS_BENCH_BLOB_STORE")
    if not db or not blobs:
        return None, "set STRATUS_BENCH_DATABASE and STRATUS_BENCH_BLOB_STORE"
    return {"STRATUS_DATABASE": _fresh_database(db, f"bench_{uuid.uuid4().hex[:8]}"),
            "STRATUS_BLOB_STORE": blobs}, None


def _s3_requests():
    """PutObject of 1 KiB and GetObject of the same object, signed as S3 wants (the payload's
    SHA-256 in `x-amz-content-sha256`)."""
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    return {
        "PutObject": {"path": "/bench-objects/put", "method": "PUT", "service": "s3",
                      "payload": _OBJECT.decode(),
                      "header": [f"x-amz-content-sha256: {sha(_OBJECT)}"]},
        "GetObject": {"path": "/bench-objects/get", "method": "GET", "service": "s3",
                      "payload": "", "header": [f"x-amz-content-sha256: {sha(b'')}"]},
    }


def _backend_requests(ctx, s):
    """Sets up one server (a function, a table, a bucket) and returns the requests to time,
    each as loadgen options."""
    lam = deploy.client(s.url)
    deploy.create(lam, "noop-rust", ctx.packages, "rust")
    _bench_table(s.url)
    s3 = deploy.client(s.url, "s3")
    s3.create_bucket(Bucket="bench-objects")
    s3.put_object(Bucket="bench-objects", Key="get", Body=_OBJECT)
    reqs = {"Invoke": {"function": "noop-rust"},
            "Invoke (async accept)": {
                "path": "/2015-03-31/functions/noop-rust/invocations",
                "header": ["x-amz-invocation-type: Event"]}}
    reqs.update({op: {"dynamodb": op, "payload": json.dumps(b)}
                 for op, b in _table_requests().items()})
    reqs.update(_s3_requests())
    return reqs


def backends(ctx):
    """The same requests on the embedded backends (SQLite files, the local disk) and on
    PostgreSQL + an S3-compatible store, side by side: latency at concurrency 1 and
    throughput at 16. The server backends come from STRATUS_BENCH_DATABASE (a PostgreSQL URL;
    each run gets a fresh database beside it) and STRATUS_BENCH_BLOB_STORE (an s3:// blob
    store URL with its keys); `scripts/postgres-dev start` and `scripts/garage-dev` print
    both."""
    p = ctx.plan
    out = {"backends": {}}
    env_base = {"STRATUS_ACCOUNT_CONCURRENCY": "1000"}
    for kind in ["sqlite + local disk", "postgresql + s3"]:
        env, why = _backend_env(kind)
        if env is None:
            out["backends"][kind] = {"skipped": why}
            continue
        with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "backend-" + kind.split()[0],
                             env={**env_base, **env}) as s:
            result = out["backends"].setdefault(kind, {})
            for op, opts in _backend_requests(ctx, s).items():
                function = opts.pop("function", "unused")
                for c in (1, 16):
                    ctx.log(f"  {kind}: {op}, concurrency {c}")
                    r = measured(ctx, [s.pid], False, lambda: loadgen(
                        ctx, s.url, function, concurrency=c, duration=p.throughput_s,
                        warmup=p.warmup_s, **opts))
                    result.setdefault(op, {})[f"c{c}"] = brief(r)
    return out


# --- 9: a cluster of three nodes (cluster.py) ---------------------------------------------


def cluster(ctx):
    from . import cluster as workload  # imports this module: loaded on first use
    return workload.cluster(ctx)


def queues(ctx):
    from . import queues as workload  # imports this module: loaded on first use
    return workload.queues(ctx)


def streaming(ctx):
    from . import streaming as workload  # imports this module: loaded on first use
    return workload.streaming(ctx)


def jwt(ctx):
    from . import jwt as workload  # imports this module: loaded on first use
    return workload.jwt(ctx)


WORKLOADS = [
    ("warm_and_throughput", warm_and_throughput),
    ("pinned_latency", pinned_latency),
    ("authorization", authorization),
    ("cold_start", cold_start),
    ("sdk_cold_start", sdk_cold_start),
    ("idle_footprint", idle_footprint),
    ("event_sources", event_sources),
    ("tables", tables),
    ("backends", backends),
    ("cluster", cluster),
    ("queues", queues),
    ("streaming", streaming),
    ("jwt", jwt),
    # Last: after 1,000 environments the kernel spends seconds tearing down their network
    # namespaces, which slowed whatever ran next (the HTTP API measured at 1,030 req/s after
    # it and 1,610 alone).
    ("scale_out", scale_out),
]


def real_python():
    """The interpreter behind `python3` (a version-manager shim would add ~30 ms per start)."""
    out = subprocess.run(["python3", "-c", "import sys; print(sys.executable)"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or sys.executable
