"""Workload `queues`: SQS, event source mappings and EventBridge on one Stratus server.

- sqs_send / sqs_receive: SendMessage and ReceiveMessage (10 messages a call, visibility
  timeout 0 so the same backlog is received again) per second at 1 and 16 connections,
  through the AWS JSON protocol, signed once per connection as the other workloads are;
- mapping_first_line: from SendMessage to the first line of a python function fed by an event
  source mapping (BatchSize 1), one message at a time;
- mapping_drain: time for a mapping with BatchSize 10 to empty a queue of N messages into the
  Rust no-op function (N = 10,000; 2,000 with --quick);
- put_events_first_line: from PutEvents to the first line of a python function that a rule
  targets, one event at a time.

End-to-end latencies use the function's own clock, as the `event_sources` workload does.
"""

import json
import time

from . import deploy, servers, sources, workloads

PROBE_SOURCE = """import json, time
def handler(event, context):
    now = time.time()
    if "Records" in event:
        ids = [json.loads(r["body"])["id"] for r in event["Records"]]
    else:
        ids = [event["detail"]["id"]]
    print("PROBE " + json.dumps({"id": None, "keys": ids, "t": now}))
    return {}
"""


def _probe_package():
    class P:
        def spec(self, kind):
            return {"Runtime": "python3.12", "Handler": "app.handler",
                    "ZipFile": deploy.make_zip({"app.py": (PROBE_SOURCE.encode(), False)})}
    return P()


def _sqs_load(ctx, s, op, body, concurrency):
    return workloads.brief(workloads.measured(ctx, [s.pid], False, lambda: workloads.loadgen(
        ctx, s.url, "unused", path="/", service="sqs", concurrency=concurrency,
        duration=ctx.plan.throughput_s, warmup=ctx.plan.warmup_s, payload=json.dumps(body),
        header=["content-type: application/x-amz-json-1.0", f"x-amz-target: AmazonSQS.{op}"])))


def _queue(sqs, name, **attrs):
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _throughput(ctx, s, sqs):
    url, _ = _queue(sqs, "bench-load")
    out = {}
    for c in (1, 16):
        send = _sqs_load(ctx, s, "SendMessage", {"QueueUrl": url, "MessageBody": "x" * 100}, c)
        recv = _sqs_load(ctx, s, "ReceiveMessage",
                         {"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0}, c)
        out[f"c{c}"] = {"send": send, "receive_calls": recv}
    return out


def _first_lines(ctx, s, send, n, prefix, function="probe"):
    """Sends `n` ids (`<prefix><i>`) one at a time; the probe logs each id it gets."""
    sent = {}
    for i in range(n):
        sent[f"{prefix}{i}"] = time.time()
        send(f"{prefix}{i}")
        time.sleep(0.2)
    got = sources._probe_times(s.url, function, n)
    return {"end_to_end": sources._summary_ms([got[k] - t for k, t in sent.items() if k in got]),
            "lost": n - sum(1 for k in sent if k in got)}


def _mapping_first_line(ctx, s, lam, sqs, n):
    url, arn = _queue(sqs, "bench-probe")
    lam.create_event_source_mapping(FunctionName="probe", EventSourceArn=arn, BatchSize=1)
    return _first_lines(ctx, s, lambda i: sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps({"id": i})), n, "q")


def _mapping_drain(ctx, s, lam, sqs, total):
    url, arn = _queue(sqs, "bench-drain", VisibilityTimeout="60")
    for start in range(0, total, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"id": i})} for i in range(start, start + 10)])
    t0 = time.monotonic()
    lam.create_event_source_mapping(FunctionName="noop-rust", EventSourceArn=arn, BatchSize=10)
    deadline = t0 + 600
    while time.monotonic() < deadline:
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        left = int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
        if left == 0:
            took = time.monotonic() - t0
            return {"messages": total, "seconds": round(took, 2),
                    "messages_per_s": round(total / took, 1)}
        time.sleep(0.1)
    return {"messages": total, "error": f"{left} messages left after 600 s"}


def _put_events_first_line(ctx, s, lam, n):
    events = deploy.client(s.url, "events")
    rule = events.put_rule(Name="bench", EventPattern=json.dumps({"source": ["bench"]}))["RuleArn"]
    arn = lam.get_function_configuration(FunctionName="probe")["FunctionArn"]
    lam.add_permission(FunctionName="probe", StatementId="events", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule)
    events.put_targets(Rule="bench", Targets=[{"Id": "probe", "Arn": arn}])
    return _first_lines(ctx, s, lambda i: events.put_events(Entries=[{
        "Source": "bench", "DetailType": "bench", "Detail": json.dumps({"id": i})}]), n, "e")


def queues(ctx):
    quick = ctx.plan.levels == (1, 16)
    n = 10 if quick else 30
    out = {}
    env = {"STRATUS_ACCOUNT_CONCURRENCY": "1000"}
    with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "queues", env=env) as s:
        lam, sqs = deploy.client(s.url), deploy.client(s.url, "sqs")
        deploy.create(lam, "noop-rust", ctx.packages, "rust")
        deploy.create(lam, "probe", _probe_package(), "python")
        for name, part in [
            ("sqs", lambda: _throughput(ctx, s, sqs)),
            ("mapping_first_line", lambda: _mapping_first_line(ctx, s, lam, sqs, n)),
            ("mapping_drain", lambda: _mapping_drain(ctx, s, lam, sqs, 2000 if quick else 10_000)),
            ("put_events_first_line", lambda: _put_events_first_line(ctx, s, lam, n)),
        ]:
            ctx.log(f"  {name}")
            try:
                out[name] = part()
            except Exception as e:  # one part failing must not hide the others
                out[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
    return out
