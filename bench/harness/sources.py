"""Workload 6: the event sources beside Invoke, on one Stratus server.

- async: Event invokes accepted per second (202s, closed loop), and end-to-end latency from
  the client's send to the function's first line, one event at a time;
- s3: latency from the start of a PutObject to the notified function's first line, one upload
  at a time;
- http: requests per second and latency through an HTTP API (`$default` route, payload 2.0) to
  the Rust no-op function.

Table operations are their own workload (`tables` in workloads.py).

End-to-end latencies use the function's own clock (`time.time()` in a python probe, logged and
read back through the CloudWatch Logs API): client and server share the machine's clock.
"""

import json
import time

from . import deploy, servers, workloads

PROBE_SOURCE = """import json, time
def handler(event, context):
    now = time.time()
    keys = [r["s3"]["object"]["key"] for r in event.get("Records", [])]
    print("PROBE " + json.dumps({"id": event.get("id"), "keys": keys, "t": now}))
    return {}
"""


def _load(ctx, url, concurrency, seconds, path, sign=True, **opts):
    """One loadgen run against an arbitrary request shape (`path`, `header=[...]`, ...)."""
    return workloads.brief(workloads.loadgen(
        ctx, url, "unused", sign=sign, path=path, concurrency=concurrency, duration=seconds,
        warmup=0.5, **opts))


def _probe_times(url, function, expected, deadline_s=60):
    """`id or key -> function clock` from the probe's log lines."""
    logs = deploy.client(url, "logs")
    group = f"/aws/lambda/{function}"
    seen = {}
    deadline = time.monotonic() + deadline_s
    while len(seen) < expected and time.monotonic() < deadline:
        token = None
        while True:
            kw = {"logGroupName": group, "filterPattern": "PROBE"}
            if token:
                kw["nextToken"] = token
            try:
                page = logs.filter_log_events(**kw)
            except logs.exceptions.ResourceNotFoundException:
                break
            for e in page["events"]:
                body = json.loads(e["message"].split("PROBE ", 1)[1])
                for k in body["keys"] or [body["id"]]:
                    seen[str(k)] = body["t"]
            token = page.get("nextToken")
            if not token:
                break
        time.sleep(0.2)
    return seen


def _summary_ms(xs):
    xs = sorted(xs)
    if not xs:
        return {"count": 0}
    pick = lambda q: round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 1)  # noqa: E731
    return {"count": len(xs), "p50_ms": pick(0.5), "p95_ms": pick(0.95), "max_ms": pick(1.0)}


def _async(ctx, s, lam, n):
    deploy.create(lam, "probe", _probe_package(), "python")
    sent = {}
    for i in range(n):
        sent[str(i)] = time.time()
        lam.invoke(FunctionName="probe", InvocationType="Event", Payload=json.dumps({"id": i}))
        time.sleep(0.1)
    got = _probe_times(s.url, "probe", n)
    e2e = _summary_ms([got[k] - t for k, t in sent.items() if k in got])
    accepted = _load(ctx, s.url, 4, ctx.plan.throughput_s,
                     "/2015-03-31/functions/noop-rust/invocations",
                     header=["x-amz-invocation-type: Event"])
    return {"end_to_end": e2e, "lost": n - len(got), "accepted_c4": accepted}


def _probe_package():
    class P:
        def spec(self, kind):
            return {"Runtime": "python3.12", "Handler": "app.handler",
                    "ZipFile": deploy.make_zip({"app.py": (PROBE_SOURCE.encode(), False)})}
    return P()


def _s3(ctx, s, lam, n):
    s3 = deploy.client(s.url, "s3")
    s3.create_bucket(Bucket="bench-uploads")
    arn = lam.get_function_configuration(FunctionName="probe")["FunctionArn"]
    # As on AWS, S3 invokes only a function whose policy names it.
    lam.add_permission(FunctionName="probe", StatementId="bench-s3",
                       Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    s3.put_bucket_notification_configuration(
        Bucket="bench-uploads",
        NotificationConfiguration={"LambdaFunctionConfigurations": [
            {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    sent = {}
    for i in range(n):
        key = f"upload-{i}"
        sent[key] = time.time()
        s3.put_object(Bucket="bench-uploads", Key=key, Body=b"x" * 1024)
        time.sleep(0.1)
    got = _probe_times(s.url, "probe", 2 * n)  # the async probes are in the same group
    return {"end_to_end": _summary_ms([got[k] - t for k, t in sent.items() if k in got]),
            "lost": n - sum(1 for k in sent if k in got)}


def _http(ctx, s, lam):
    # As on AWS, API Gateway invokes only a function whose policy names it.
    lam.add_permission(FunctionName="noop-rust", StatementId="bench-apigw",
                       Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")
    api = deploy.client(s.url, "apigatewayv2").create_api(
        Name="bench", ProtocolType="HTTP",
        Target=f"arn:aws:lambda:{deploy.REGION}:{deploy.ACCOUNT}:function:noop-rust")
    path = f"/_aws/execute-api/{api['ApiId']}/hello"
    out = {}
    # The Invoke API on the same server and function just before each level: the HTTP API's
    # target is a ratio to Invoke, which measured in another workload minutes apart carries
    # the machine's drift between them.
    for c in (1, 16):
        out[f"invoke_c{c}"] = workloads.brief(workloads.loadgen(
            ctx, s.url, "noop-rust", concurrency=c, duration=ctx.plan.throughput_s,
            warmup=0.5))
        out[f"c{c}"] = _load(ctx, s.url, c, ctx.plan.throughput_s, path, sign=False)
    return out


def _url(ctx, s, lam):
    """The same no-op behind a function URL (path form: the load generator sets no Host)."""
    url = lam.create_function_url_config(FunctionName="noop-rust", AuthType="NONE")["FunctionUrl"]
    lam.add_permission(FunctionName="noop-rust", StatementId="bench-url",
                       Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    path = f"/_aws/lambda-url/{url_id}/hello"
    return {f"c{c}": _load(ctx, s.url, c, ctx.plan.throughput_s, path, sign=False)
            for c in (1, 16)}


def event_sources(ctx):
    n = 10 if ctx.plan.levels == (1, 16) else 30
    out = {}
    env = {"STRATUS_ACCOUNT_CONCURRENCY": "1000"}
    with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "sources", env=env) as s:
        out["start_up_settled_s"] = workloads._settled(s.pid)
        lam = deploy.client(s.url)
        deploy.create(lam, "noop-rust", ctx.packages, "rust")
        for name, part in [("async", lambda: _async(ctx, s, lam, n)),
                           ("s3", lambda: _s3(ctx, s, lam, n)),
                           ("http", lambda: _http(ctx, s, lam)),
                           ("url", lambda: _url(ctx, s, lam))]:
            ctx.log(f"  {name}")
            try:
                out[name] = part()
            except Exception as e:  # one source failing must not hide the others
                out[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
    return out
