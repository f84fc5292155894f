"""Function URLs with InvokeMode RESPONSE_STREAM: bytes reach the client as the function writes
them (chunked transfer, the first chunk long before the function ends), an
`awslambda.HttpResponseStream` prelude becomes the status, headers and cookies, a buffered
function is mapped as in BUFFERED mode, and a stream that ends in an error is cut off."""

import http.client
import time
import urllib.parse

import pytest

from helpers import make_zip

RUNTIME = "nodejs20.x"

# Writes `n` chunks (query string), `delay` ms apart; `fail=1` throws after the first one.
STREAMER = r"""
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const q = event.queryStringParameters ?? {};
  responseStream.setContentType('text/plain');
  for (let i = 0; i < Number(q.n ?? 3); i++) {
    if (i > 0) await sleep(Number(q.delay ?? 0));
    if (q.fail && i === 1) throw new Error('broke mid-stream');
    responseStream.write(`chunk ${i}\n`);
  }
  responseStream.end();
});
"""

HTTP_STREAMER = r"""
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 201, headers: { 'x-custom': 'yes', 'content-type': 'text/html' },
    cookies: ['a=1', 'b=2'],
  });
  stream.write('<p>hello ');
  stream.end('world</p>');
});
"""

BUFFERED = """
exports.handler = async (event) => ({ statusCode: 202, headers: { 'x-mode': 'whole' },
  body: 'path ' + event.rawPath });
"""


def streaming_url(lambda_client, module_new_function, files, handler):
    name = module_new_function(
        zip_bytes=make_zip(files), Runtime=RUNTIME, Handler=handler, Timeout=10,
    )["FunctionName"]
    url = lambda_client.create_function_url_config(
        FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM")
    assert url["InvokeMode"] == "RESPONSE_STREAM"
    lambda_client.add_permission(
        FunctionName=name, StatementId="public", Action="lambda:InvokeFunctionUrl",
        Principal="*", FunctionUrlAuthType="NONE")
    return url["FunctionUrl"]


@pytest.fixture(scope="module")
def streamer_url(lambda_client, module_new_function):
    return streaming_url(lambda_client, module_new_function, {"index.js": STREAMER}, "index.handler")


def open_url(server, function_url, path_and_query):
    """A GET to the URL's path form on a raw connection: the response, unread."""
    url_id = urllib.parse.urlsplit(function_url).hostname.split(".")[0]
    port = urllib.parse.urlsplit(server.url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("GET", f"/_aws/lambda-url/{url_id}{path_and_query}")
    return conn.getresponse()


def timed_chunks(resp):
    """(arrival time, bytes) of each piece of the body as it arrives."""
    out = []
    while True:
        data = resp.read1(65536)
        if not data:
            return out
        out.append((time.monotonic(), data))


def test_bytes_arrive_as_the_function_writes_them(server, streamer_url):
    resp = open_url(server, streamer_url, "/?n=3&delay=700")
    assert resp.status == 200
    assert resp.getheader("content-type") == "text/plain"
    assert resp.getheader("transfer-encoding") == "chunked"
    chunks = timed_chunks(resp)
    assert b"".join(d for _, d in chunks) == b"chunk 0\nchunk 1\nchunk 2\n"
    first, last = chunks[0][0], chunks[-1][0]
    # The function sleeps 1.4 s between its first and last writes; a buffered answer would
    # deliver everything at once.
    assert last - first > 0.9, chunks


def test_the_http_prelude_sets_status_headers_and_cookies(server, lambda_client, module_new_function):
    url = streaming_url(lambda_client, module_new_function, {"index.mjs": HTTP_STREAMER}, "index.handler")
    resp = open_url(server, url, "/")
    assert resp.status == 201
    assert resp.getheader("x-custom") == "yes"
    assert resp.getheader("content-type") == "text/html"
    assert sorted(v for k, v in resp.getheaders() if k.lower() == "set-cookie") == ["a=1", "b=2"]
    assert resp.read() == b"<p>hello world</p>"


def test_a_buffered_function_is_mapped_as_in_buffered_mode(server, lambda_client, module_new_function):
    url = streaming_url(lambda_client, module_new_function, {"index.js": BUFFERED}, "index.handler")
    resp = open_url(server, url, "/some/path")
    assert resp.status == 202
    assert resp.getheader("x-mode") == "whole"
    assert resp.read() == b"path /some/path"


def test_a_stream_that_fails_is_cut_off(server, streamer_url):
    resp = open_url(server, streamer_url, "/?n=3&delay=100&fail=1")
    assert resp.status == 200
    with pytest.raises(http.client.IncompleteRead) as e:
        resp.read()
    assert e.value.partial == b"chunk 0\n"
    # The URL still serves the next request whole.
    resp = open_url(server, streamer_url, "/?n=2")
    assert resp.read() == b"chunk 0\nchunk 1\n"
