"""Workload `streaming`: a node function written with `awslambda.streamifyResponse` that writes
10 chunks 100 ms apart, invoked warm, one call at a time:

- stream: InvokeWithResponseStream read with boto3's EventStream: time to the first
  PayloadChunk (time to first byte) and to InvokeComplete (the whole stream);
- invoke: the same function through Invoke, which gathers the stream: time to the whole
  response.

The function takes at least 900 ms by construction; time to first byte is what streaming
changes. Times are the client's, from the call to the event (signing and boto3 included).
"""

import json
import statistics
import time

from . import deploy, servers

SOURCE = b"""exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  for (let i = 0; i < 10; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    stream.write(`chunk ${i}\\n`);
  }
  stream.end();
});
"""


def _summary(xs):
    xs = sorted(xs)
    return {"count": len(xs), "p50_ms": round(statistics.median(xs) * 1000, 1),
            "max_ms": round(xs[-1] * 1000, 1), "min_ms": round(xs[0] * 1000, 1)}


def _stream_once(lam):
    t0 = time.perf_counter()
    resp = lam.invoke_with_response_stream(FunctionName="streamer", Payload=b"{}")
    first = None
    chunks = 0
    for event in resp["EventStream"]:
        if "PayloadChunk" in event:
            chunks += 1
            if first is None:
                first = time.perf_counter() - t0
        if "InvokeComplete" in event and "ErrorCode" in event["InvokeComplete"]:
            raise RuntimeError(f"stream ended in error: {event['InvokeComplete']}")
    return first, time.perf_counter() - t0, chunks


def _invoke_once(lam):
    t0 = time.perf_counter()
    resp = lam.invoke(FunctionName="streamer", Payload=b"{}")
    body = resp["Payload"].read()
    if "FunctionError" in resp or body.count(b"chunk") != 10:
        raise RuntimeError(f"unexpected answer: {body[:200]!r}")
    return time.perf_counter() - t0


def streaming(ctx):
    n = 5 if ctx.plan.levels == (1, 16) else 20
    with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "streaming") as s:
        lam = deploy.client(s.url)
        deploy.ensure_role(lam)
        lam.create_function(
            FunctionName="streamer", Runtime="nodejs20.x", Handler="index.handler",
            Role=deploy.ROLE, Timeout=30,
            Code={"ZipFile": deploy.make_zip({"index.js": (SOURCE, False)})})
        deploy.wait_ready(lam, "streamer")
        _stream_once(lam)  # the cold start
        firsts, wholes, chunk_counts = [], [], set()
        for _ in range(n):
            first, whole, chunks = _stream_once(lam)
            firsts.append(first)
            wholes.append(whole)
            chunk_counts.add(chunks)
        invokes = [_invoke_once(lam) for _ in range(n)]
    return {"stream_first_chunk": _summary(firsts), "stream_complete": _summary(wholes),
            "invoke_whole": _summary(invokes), "chunks_received": sorted(chunk_counts),
            "function": "10 chunks, 100 ms apart (node, streamifyResponse)"}


def render(r):
    """11. Response streaming."""
    lines = ["\n11. Response streaming: 10 chunks 100 ms apart, warm, one call at a time"]
    for key, label in [("stream_first_chunk", "InvokeWithResponseStream, first chunk"),
                       ("stream_complete", "InvokeWithResponseStream, InvokeComplete"),
                       ("invoke_whole", "Invoke, whole response")]:
        x = r.get(key, {})
        lines.append(f"   {label:<42} p50 {x.get('p50_ms')} ms (min {x.get('min_ms')}, "
                     f"max {x.get('max_ms')}, n={x.get('count')})")
    lines.append(f"   chunks received per stream: {r.get('chunks_received')}")
    return "\n".join(lines)
