"""`bench/run --profile`: where a warm invoke's time goes in the server.

Three views of the same path (a no-op `provided.al2023` function, concurrency 1, warm):
- callgrind: user-space instructions per function in `stratus serve`, collected only while a
  fixed number of warm invokes run (hardware counters are not available on these VMs, so
  `perf stat -e instructions` does not work);
- perf with the `cpu-clock` software event: sampled time, kernel included;
- strace -c: system calls per invoke.
Each writes its raw output and a summary under bench/results/profile-<timestamp>/.
"""

import datetime
import shutil
import subprocess
import time

from . import deploy, servers, workloads

FN = "noop-rust"


def _loadgen(bins, url, **opts):
    ctx = type("C", (), {"loadgen_bin": bins["loadgen"]})
    return workloads.loadgen(ctx, url, FN, **opts)


def _server(bins, work, name, wrapper=None, deadline_s=30, env=None):
    s = servers.Stratus(bins["stratus"], work, name, wrapper=wrapper, env=env)
    s.start(deadline_s)
    lam = deploy.client(s.url)
    s.function_arn = deploy.create(lam, FN, deploy.Packages(bins["noop-fn"]), "rust")[
        "FunctionArn"]
    return s


def callgrind(bins, out, invokes, log, name="callgrind", env=None, signer=None):
    """`signer(server)` gives the loadgen's key pair (default: the root user's)."""
    log(f"{name}: stratus under valgrind, {invokes} warm invokes")
    out = out / name if name != "callgrind" else out
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "callgrind.out"
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={out}/callgrind.%p.out"]
    s = _server(bins, out, "callgrind", wrapper=wrapper, deadline_s=180, env=env)
    try:
        keys = signer(s) if signer else {}
        # Cold start and warm-up, not collected.
        _loadgen(bins, s.url, count=50, timeout=120, **keys)
        pid = str(s.pid)
        subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
        t0 = time.monotonic()
        r = _loadgen(bins, s.url, count=invokes, timeout=120, **keys)
        took = time.monotonic() - t0
        subprocess.run(["callgrind_control", "--dump=profile", pid], check=True,
                       capture_output=True)
        subprocess.run(["callgrind_control", "--instr=off", pid], capture_output=True)
    finally:
        s.stop()
    dumps = sorted(out.glob("callgrind.*.out.*")) or sorted(out.glob("callgrind.*.out"))
    dumps = [d for d in dumps if d.stat().st_size > 0]
    if not dumps:
        return {"error": "no callgrind dump written"}
    dump = max(dumps, key=lambda d: d.stat().st_size)
    shutil.copy(dump, raw)
    summary = {"invokes": invokes, "errors": r["errors"], "wall_s_under_valgrind": round(took, 1)}
    for name, extra in [("exclusive", []), ("inclusive", ["--inclusive=yes"])]:
        text = subprocess.run(["callgrind_annotate", *extra, "--threshold=99", str(raw)],
                              capture_output=True, text=True).stdout
        (out / f"callgrind-{name}.txt").write_text(text)
        summary[name] = text
    for line in summary["exclusive"].splitlines():
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
            summary["instructions_per_invoke"] = total // max(1, invokes)
    return summary


def perf(bins, out, seconds, log):
    log(f"perf (cpu-clock): {seconds} s of warm invokes at concurrency 1")
    s = _server(bins, out, "perf")
    try:
        _loadgen(bins, s.url, count=50)
        data = out / "perf.data"
        rec = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "4999", "-p",
                                str(s.pid), "-o", str(data), "--", "sleep", str(seconds)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        r = _loadgen(bins, s.url, duration=seconds - 1)
        rec.wait(timeout=seconds + 60)
    finally:
        s.stop()
    if not data.exists():
        return {"error": "perf record wrote nothing"}
    summary = {"invokes": r["requests"]}
    for name, sort in [("by-dso", "dso"), ("by-symbol", "dso,sym")]:
        text = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--stdio",
                               "--sort", sort, "--percent-limit", "0.3"],
                              capture_output=True, text=True).stdout
        (out / f"perf-{name}.txt").write_text(text)
        summary[name] = text
    return summary


def _stop_tracer(tr):
    """Stops strace; one that is still detaching from a busy process after 30 s is killed
    (what it wrote so far is kept)."""
    tr.terminate()
    try:
        tr.wait(timeout=30)
    except subprocess.TimeoutExpired:
        tr.kill()
        tr.wait()


def strace(bins, out, invokes, log):
    log(f"strace -c: system calls over {invokes} warm invokes")
    s = _server(bins, out, "strace")
    try:
        _loadgen(bins, s.url, count=50)
        path = out / "strace-server.txt"
        tr = subprocess.Popen(["strace", "-c", "-f", "-o", str(path), "-p", str(s.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        _loadgen(bins, s.url, count=invokes, timeout=120)
        time.sleep(0.2)
        _stop_tracer(tr)
    finally:
        s.stop()
    text = path.read_text() if path.exists() else ""
    calls = 0
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[-1] == "total":
            calls = int(fields[3])
    return {"invokes": invokes, "syscalls_per_invoke": round(calls / invokes, 1), "table": text}


def _categorize(trace_lines):
    """Kernel time of a cold start's sandbox work, by category, from `strace -f -T -y`."""
    import re
    whole = re.compile(r"^(\d+) +(\w+)\((.*)\) += (-?\w+).*<([\d.]+)>$")
    start = re.compile(r"^(\d+) +(\w+)\((.*) <unfinished \.\.\.>$")
    resumed = re.compile(r"^(\d+) +<\.\.\. (\w+) resumed>.*<([\d.]+)>$")
    netns_tids, jail_tids, cats, pending = set(), set(), {}, {}
    rows = []
    for line in trace_lines:
        if m := whole.match(line):
            rows.append((int(m[1]), m[2], m[3], float(m[5])))
        elif m := start.match(line):
            pending[int(m[1])] = (m[2], m[3])
        elif (m := resumed.match(line)) and int(m[1]) in pending:
            call, args = pending.pop(int(m[1]))
            rows.append((int(m[1]), call, args, float(m[3])))
    for tid, call, args, _ in rows:
        if call == "unshare" and "CLONE_NEWNET" in args and "CLONE_NEWPID" not in args:
            netns_tids.add(tid)
        if call == "execve" and "__jail" in args:
            jail_tids.add(tid)
    for tid, call, args, dur in rows:
        if call == "write" and ("cgroup.procs" in args or "/tasks>" in args):
            cat = "cgroup: join (write cgroup.procs or v1 tasks)"
        elif "/sys/fs/cgroup" in args and call in ("mkdir", "openat", "write"):
            cat = "cgroup: create and set limits"
        elif tid in netns_tids:
            cat = "netns: create, lo up, bind listeners (thread)"
        elif call in ("setns", "unshare"):
            cat = "namespaces: setns/unshare before exec"
        elif call == "mount":
            cat = "jail: mounts"
        elif call == "execve":
            cat = "execve (launcher, runtime)"
        elif call in ("clone", "clone3", "fork", "vfork"):
            cat = "fork/clone"
        else:
            continue
        cats[cat] = cats.get(cat, 0.0) + dur
    return cats


def cold_syscalls(bins, out, n, log):
    """System-call time of the sandbox work during `n` cold starts (strace inflates short
    calls; the long, blocking ones are what this is for)."""
    log(f"strace -f -T: sandbox system calls over {n} cold starts")
    s = _server(bins, out, "cold-strace")
    try:
        lam = deploy.client(s.url)
        versions = deploy.publish_versions(lam, FN, n, "trace")
        path = out / "strace-cold.txt"
        tr = subprocess.Popen(["strace", "-f", "-T", "-y", "-s", "120", "-o", str(path), "-p",
                               str(s.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        r = _loadgen(bins, s.url, qualifiers=versions, log_tail=True, timeout=120)
        time.sleep(0.2)
        _stop_tracer(tr)
    finally:
        s.stop()
    cats = _categorize(path.read_text(errors="replace").splitlines())
    per = {k: round(v * 1000 / n, 2) for k, v in sorted(cats.items(), key=lambda kv: -kv[1])}
    inits = [i["report"]["init_ms"] for i in r["invocations"] if i.get("report")]
    return {"cold_starts": n, "ms_per_cold_start": per,
            "init_ms_under_strace": sorted(inits)[len(inits) // 2] if inits else None}


def authorization(bins, bench, invokes, log):
    """User-space instructions per warm invoke with `--iam off` and with IAM enforced for an
    IAM user whose inline policy allows the invoke (the evaluated case): the difference is
    what authorization costs the warm path, free of the machine's timing noise."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = bench / "results" / f"profile-authorization-{stamp}"
    out.mkdir(parents=True)
    off = callgrind(bins, out, invokes, log, name="iam-off", env={"STRATUS_IAM": "off"})
    on = callgrind(bins, out, invokes, log, name="iam-on-user",
                   signer=lambda s: workloads.policy_user(s.url, s.function_arn))
    a, b = off.get("instructions_per_invoke"), on.get("instructions_per_invoke")
    text = (f"user-space instructions per warm invoke ({invokes} invokes):\n"
            f"  --iam off:                        {a:,}\n"
            f"  IAM on, a user allowed by policy: {b:,}\n"
            f"  authorization adds:               {b - a:,} ({(b - a) / a * 100:.1f} %)"
            if a and b else f"callgrind failed: {off.get('error')} {on.get('error')}")
    (out / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"\nprofile: {out}")
    return 0 if a and b else 1


def _http_api_route(s):
    """An HTTP API whose `GET /open` runs the server's function (payload 2.0, no
    authorization): loadgen options for unsigned requests to it."""
    gw = deploy.client(s.url, "apigatewayv2")
    api = gw.create_api(Name="bench-profile", ProtocolType="HTTP")["ApiId"]
    integ = gw.create_integration(ApiId=api, IntegrationType="AWS_PROXY",
                                  IntegrationUri=s.function_arn,
                                  PayloadFormatVersion="2.0")["IntegrationId"]
    gw.create_route(ApiId=api, RouteKey="GET /open", Target=f"integrations/{integ}")
    gw.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    # With IAM enforced (the default) the function's policy must let the API invoke it;
    # without this every request was the 500 of a refused invocation.
    deploy.client(s.url).add_permission(
        FunctionName=FN, StatementId="bench-profile-apigw", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{deploy.REGION}:{deploy.ACCOUNT}:{api}/*")
    return {"sign": False, "method": "GET", "path": f"/_aws/execute-api/{api}/open"}


def http_api(bins, bench, invokes, log):
    """User-space instructions per warm request through the Invoke API (signed by the root
    user) and through an HTTP API route to the same function: the difference is what the
    gateway adds, free of the machine's timing noise."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = bench / "results" / f"profile-http-api-{stamp}"
    out.mkdir(parents=True)
    inv = callgrind(bins, out, invokes, log, name="invoke")
    api = callgrind(bins, out, invokes, log, name="http-api", signer=_http_api_route)
    a, b = inv.get("instructions_per_invoke"), api.get("instructions_per_invoke")
    text = (f"user-space instructions per warm request ({invokes} requests):\n"
            f"  Invoke API:           {a:,}\n"
            f"  HTTP API route:       {b:,}\n"
            f"  the gateway's share:  {b - a:+,} ({(b - a) / a * 100:+.1f} %)"
            if a and b else f"callgrind failed: {inv.get('error')} {api.get('error')}")
    (out / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"\nprofile: {out}")
    return 0 if a and b else 1


def run(bins, bench, repo, invokes, log):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = bench / "results" / f"profile-{stamp}"
    out.mkdir(parents=True)
    parts = []
    missing = [t for t in ["valgrind", "callgrind_control", "callgrind_annotate", "perf",
                           "strace"] if not shutil.which(t)]
    if missing:
        log(f"profile needs {', '.join(missing)} (apt-get install valgrind "
            "linux-perf strace)")
        return 1
    cg = callgrind(bins, out, invokes, log)
    if "instructions_per_invoke" in cg:
        parts.append(f"callgrind: {cg['instructions_per_invoke']:,} user-space instructions "
                     f"per warm invoke in stratus serve ({cg['invokes']} invokes)")
    parts.append("\n".join(cg.get("exclusive", cg.get("error", "")).splitlines()[:60]))
    pf = perf(bins, out, 10, log)
    for view in ["by-dso", "by-symbol"]:
        lines = [ln for ln in pf.get(view, pf.get("error", "")).splitlines()
                 if ln and not ln.startswith("#")]
        parts.append(f"\nperf cpu-clock, {view}:\n" + "\n".join(lines[:40]))
    st = strace(bins, out, min(invokes, 2000), log)
    parts.append(f"\nstrace: {st['syscalls_per_invoke']} system calls per warm invoke in "
                 f"stratus serve\n{st['table']}")
    cs = cold_syscalls(bins, out, 10, log)
    parts.append(f"\nSandbox system calls per cold start (strace -f -T; p50 Init Duration "
                 f"under strace {cs['init_ms_under_strace']} ms):")
    parts += [f"  {v:>8.2f} ms  {k}" for k, v in cs["ms_per_cold_start"].items()]
    text = "\n".join(parts)
    (out / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"\nprofile: {out}")
    return 0
