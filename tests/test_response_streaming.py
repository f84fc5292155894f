"""Response streaming: InvokeWithResponseStream read with boto3's EventStream, from node
functions written with `awslambda.streamifyResponse` (chunks as the function writes them,
errors mid-stream, time-outs mid-stream), a buffered function through the stream API, the
Invoke API on a streaming function, and errors found before anything runs."""

import base64
import json
import time
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from helpers import make_zip, make_zip_with_modes

RUNTIME = "nodejs20.x"

# Writes each of event.chunks after event.delay_ms; event.fail_after ends the stream with an
# error after that many chunks; event.hang waits past the timeout after the first chunk.
STREAMER = r"""
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  responseStream.setContentType('text/plain');
  let n = 0;
  for (const chunk of event.chunks ?? []) {
    if (n > 0) await sleep(event.delay_ms ?? 0);
    if (event.fail_after === n) throw new TypeError(`failed after ${n} chunks`);
    responseStream.write(chunk);
    n += 1;
    if (event.hang) await sleep(60000);
  }
  console.log(`wrote ${n} chunks for ${context.awsRequestId}`);
  responseStream.end();
});
"""

# An HTTP response for function URLs: the prelude, 8 NUL bytes, then the body.
HTTP_STREAMER = r"""
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 201, headers: { 'x-custom': 'yes' }, cookies: ['a=1'],
  });
  stream.write('hello ');
  stream.end('world');
});
"""

BUFFERED = """
exports.handler = async (event) => {
  if (event.fail) throw new RangeError(event.fail);
  return { echo: event };
};
"""


@pytest.fixture(scope="module")
def streamer(module_new_function):
    return module_new_function(
        zip_bytes=make_zip({"index.js": STREAMER}), Runtime=RUNTIME,
        Handler="index.handler", Timeout=3,
    )["FunctionName"]


@pytest.fixture(scope="module")
def buffered(module_new_function):
    return module_new_function(
        zip_bytes=make_zip({"index.js": BUFFERED}), Runtime=RUNTIME, Handler="index.handler",
    )["FunctionName"]


def stream_invoke(client, name, event, **kwargs):
    """Invokes with InvokeWithResponseStream; returns (response, [(arrival, event)])."""
    resp = client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    events = [(time.monotonic(), e) for e in resp["EventStream"]]
    return resp, events


def chunks_of(events):
    return [(t, e["PayloadChunk"]["Payload"]) for t, e in events if "PayloadChunk" in e]


def complete_of(events):
    done = [e["InvokeComplete"] for _, e in events if "InvokeComplete" in e]
    assert len(done) == 1, events
    assert "InvokeComplete" in events[-1][1], "InvokeComplete comes last"
    return done[0]


def test_chunks_arrive_as_the_function_writes_them(invoke_client, streamer):
    resp, events = stream_invoke(
        invoke_client, streamer, {"chunks": ["one ", "two ", "three"], "delay_ms": 1000},
        LogType="Tail")
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    assert resp["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    chunks = chunks_of(events)
    assert b"".join(c for _, c in chunks) == b"one two three"
    assert len(chunks) == 3, chunks
    # The function waits a second between writes: the first chunk is in the caller's hands
    # well before the stream ends (relative arrival times, not absolute thresholds).
    end = events[-1][0]
    assert end - chunks[0][0] >= 0.5, events
    complete = complete_of(events)
    assert "ErrorCode" not in complete, complete
    log = base64.b64decode(complete["LogResult"]).decode()
    assert "wrote 3 chunks" in log and "REPORT RequestId:" in log


def test_an_error_mid_stream_ends_it_with_the_error(invoke_client, streamer):
    _, events = stream_invoke(
        invoke_client, streamer, {"chunks": ["a", "b", "c"], "fail_after": 2})
    assert b"".join(c for _, c in chunks_of(events)) == b"ab"
    complete = complete_of(events)
    assert complete["ErrorCode"] == "TypeError"
    assert complete["ErrorDetails"] == "failed after 2 chunks"
    # The environment serves the next stream.
    _, events = stream_invoke(invoke_client, streamer, {"chunks": ["again"]})
    assert b"".join(c for _, c in chunks_of(events)) == b"again"
    assert "ErrorCode" not in complete_of(events)


def test_a_timeout_mid_stream_ends_it_with_sandbox_timedout(invoke_client, streamer):
    _, events = stream_invoke(invoke_client, streamer, {"chunks": ["first", "never"], "hang": True})
    assert b"".join(c for _, c in chunks_of(events)) == b"first"
    complete = complete_of(events)
    assert complete["ErrorCode"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in complete["ErrorDetails"]
    _, events = stream_invoke(invoke_client, streamer, {"chunks": ["fresh"]})
    assert b"".join(c for _, c in chunks_of(events)) == b"fresh"


def test_a_buffered_function_answers_in_one_chunk(invoke_client, buffered):
    resp, events = stream_invoke(invoke_client, buffered, {"x": 1})
    assert resp["StatusCode"] == 200
    chunks = chunks_of(events)
    assert len(chunks) == 1
    assert json.loads(chunks[0][1]) == {"echo": {"x": 1}}
    assert complete_of(events) == {}
    _, events = stream_invoke(invoke_client, buffered, {"fail": "no good"})
    assert chunks_of(events) == []
    complete = complete_of(events)
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == ("RangeError", "no good")


def test_invoke_gathers_a_streamed_response(invoke_client, streamer):
    resp = invoke_client.invoke(
        FunctionName=streamer, Payload=json.dumps({"chunks": ["x", "y"], "delay_ms": 10}))
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert resp["Payload"].read() == b"xy"
    resp = invoke_client.invoke(
        FunctionName=streamer, Payload=json.dumps({"chunks": ["x", "y"], "fail_after": 1}))
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read())["errorType"] == "TypeError"


def test_the_http_prelude_passes_through(invoke_client, module_new_function):
    name = module_new_function(
        zip_bytes=make_zip({"index.mjs": HTTP_STREAMER}), Runtime=RUNTIME,
        Handler="index.handler")["FunctionName"]
    _, events = stream_invoke(invoke_client, name, {})
    body = b"".join(c for _, c in chunks_of(events))
    prelude, rest = body.split(b"\0" * 8, 1)
    assert json.loads(prelude) == {
        "statusCode": 201, "headers": {"x-custom": "yes"}, "cookies": ["a=1"]}
    assert rest == b"hello world"


def test_dry_run_and_bad_requests(invoke_client, streamer):
    resp = invoke_client.invoke_with_response_stream(FunctionName=streamer, InvocationType="DryRun")
    assert resp["StatusCode"] == 204
    with pytest.raises(ClientError) as e:
        invoke_client.invoke_with_response_stream(FunctionName="no-such-function-here")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        invoke_client.invoke_with_response_stream(FunctionName=streamer, Payload=b"{not json")
    assert e.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(ClientError) as e:
        invoke_client.invoke_with_response_stream(FunctionName=streamer, Qualifier="nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_stream_invocations_are_metered(server, invoke_client, new_function):
    name = new_function(
        zip_bytes=make_zip({"index.js": STREAMER}), Runtime=RUNTIME, Handler="index.handler",
    )["FunctionName"]
    stream_invoke(invoke_client, name, {"chunks": ["a"]})
    stream_invoke(invoke_client, name, {"chunks": ["a"], "fail_after": 0})
    query = urllib.parse.urlencode({"from": "0"})
    with urllib.request.urlopen(f"{server.url}/_stratus/usage?{query}", timeout=30) as r:
        report = json.loads(r.read())
    group = [g for g in report["groups"] if g["key"] == name]
    assert len(group) == 1, report
    assert (group[0]["invocations"], group[0]["errors"]) == (2, 1), group


def test_a_rust_function_on_lambda_runtime_streaming(
        invoke_client, new_function, rust_streaming_bootstrap):
    name = new_function(
        zip_bytes=make_zip_with_modes({"bootstrap": (rust_streaming_bootstrap, 0o755)}),
        Runtime="provided.al2023", Handler="bootstrap", Timeout=10,
    )["FunctionName"]
    _, events = stream_invoke(
        invoke_client, name, {"chunks": ["one ", "two ", "three"], "delay_ms": 1000})
    chunks = chunks_of(events)
    body = b"".join(c for _, c in chunks)
    # lambda_runtime always starts with the HTTP prelude (status 200 unless set).
    prelude, rest = body.split(b"\0" * 8, 1)
    assert json.loads(prelude)["statusCode"] == 200
    assert rest == b"one two three"
    first_data = next(t for t, c in chunks if b"one" in c)
    assert events[-1][0] - first_data >= 0.5, events
    assert "ErrorCode" not in complete_of(events)


def test_the_stream_api_needs_lambda_invoke_function(server, buffered):
    from iam_support import allow, client_as, doc, user_with_key
    iam = server.client("iam")
    name, key_id, secret = user_with_key(iam)
    lam = client_as(server, "lambda", key_id, secret)
    with pytest.raises(ClientError) as e:
        lam.invoke_with_response_stream(FunctionName=buffered, Payload=b"{}")
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    assert "lambda:InvokeFunction" in err["Message"]
    iam.put_user_policy(UserName=name, PolicyName="invoke",
                        PolicyDocument=doc(allow("lambda:InvokeFunction")))
    events = list(lam.invoke_with_response_stream(
        FunctionName=buffered, Payload=b"{}")["EventStream"])
    assert json.loads(events[0]["PayloadChunk"]["Payload"]) == {"echo": {}}
