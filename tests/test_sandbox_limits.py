"""AWS's limits as a sandboxed environment reports them: Max Memory Used is the environment's
true peak (a small compiled function included) and leaves /tmp out, as on AWS."""

import pytest

from helpers import invoke, make_zip, make_zip_with_modes

pytestmark = pytest.mark.usefixtures("require_namespaces", "require_memory_limits")

WRITER = r'''
def handler(event, context):
    with open("/tmp/fill", "wb") as f:
        for _ in range(event["tmp_mb"]):
            f.write(b"\x01" * (1024 * 1024))
    return "written"
'''


def test_a_rust_function_reports_its_resident_memory(new_function, invoke_client, rust_bootstrap):
    name = new_function(zip_bytes=make_zip_with_modes({"bootstrap": (rust_bootstrap, 0o755)}),
                        Runtime="provided.al2023", Handler="not.used", MemorySize=128)["FunctionName"]
    inv = invoke(invoke_client, name, {"hello": "rust"})
    assert inv.function_error is None, inv
    used = int(inv.report()["max_memory"])
    # The binary's own pages and its allocations: more than the 1 MB of anonymous memory a
    # cgroup alone charges it, and far below its 128 MB.
    assert 2 <= used <= 64, inv.log


def test_tmp_is_not_counted_as_memory_used(new_function, invoke_client):
    name = new_function(zip_bytes=make_zip({"app.py": WRITER}), MemorySize=128,
                        Timeout=30)["FunctionName"]
    inv = invoke(invoke_client, name, {"tmp_mb": 200})
    assert inv.function_error is None and inv.payload == "written", inv
    used = int(inv.report()["max_memory"])
    assert used < 128, f"Max Memory Used {used} MB counts the 200 MB written to /tmp: {inv.log}"
