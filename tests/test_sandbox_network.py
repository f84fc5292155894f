"""The server's `network` option: what an environment's network namespace offers besides its
Runtime API. `platform` (the default, covered by test_isolation.py) offers the platform's
endpoint; `none` offers nothing; anything else is refused at start-up."""

import os
import subprocess

import pytest

from conftest import free_port, stratus_binary
from helpers import create_function, invoke, make_zip, unique_name, wait_active

pytestmark = pytest.mark.usefixtures("require_namespaces")

PROBE = r'''
import os, socket


def handler(event, context):
    try:
        with socket.create_connection(("127.0.0.1", event["port"]), timeout=2):
            reached = "connected"
    except OSError as e:
        reached = type(e).__name__
    return {"endpoint_url": os.environ.get("AWS_ENDPOINT_URL"), "reached": reached}
'''


def test_network_none_offers_nothing_but_the_runtime_api(server_factory):
    srv = server_factory(env={"STRATUS_NETWORK": "none"})
    assert srv.health()[1]["protections"]["network"] == "none"
    client = srv.client()
    name = unique_name()
    create_function(client, name, make_zip({"app.py": PROBE}), Timeout=10)
    wait_active(client, name)
    inv = invoke(client, name, {"port": srv.port}, tail=False)
    # The invocation itself arrived through the Runtime API...
    assert inv.function_error is None, inv
    # ...while the platform's endpoint is not offered.
    assert inv.payload == {"endpoint_url": None, "reached": "ConnectionRefusedError"}, inv.payload


def test_an_unknown_network_mode_is_refused_at_start_up(tmp_path):
    port = free_port()
    proc = subprocess.run(
        [str(stratus_binary()), "serve", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(tmp_path / "data")],
        env={**os.environ, "STRATUS_NETWORK": "everywhere"},
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0, proc
    output = proc.stdout + proc.stderr
    assert "network must be `platform` or `none`" in output, output
