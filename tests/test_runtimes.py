"""Managed runtimes as AWS ships them: an honest interpreter version per runtime identifier
(refused, or run on the nearest version only when the operator allows it and the log says
so), `/health`'s list of what serves each runtime, and the AWS SDK carried by the runtime
(boto3, the AWS SDK for JavaScript v3) rather than taken from the host's interpreter, with a
function's own packaged copy winning."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import helpers
from conftest import RUNTIME_SDK_DIR
from helpers import invoke, make_zip

INTROSPECT = """
import sys

def handler(event, context):
    out = {"version": list(sys.version_info[:3]), "executable": sys.executable, "path": sys.path}
    try:
        import boto3
        out["boto3"] = boto3.__version__
        out["boto3_file"] = boto3.__file__
    except ImportError as e:
        out["boto3_error"] = str(e)
    return out
"""

PYTHON_SDK = json.loads((RUNTIME_SDK_DIR / "python" / "3.11" / "stratus-sdk.json").read_text()) \
    if (RUNTIME_SDK_DIR / "python" / "3.11" / "stratus-sdk.json").exists() else None


def runtimes_of(srv, deadline_s=60):
    """`/health`'s runtime list once every runtime is resolved, by identifier."""
    end = time.monotonic() + deadline_s
    while True:
        runtimes = srv.health()[1]["runtimes"]
        if isinstance(runtimes, list) and all(r["status"] != "resolving" for r in runtimes):
            return {r["runtime"]: r for r in runtimes}
        assert time.monotonic() < end, f"runtimes still resolving: {runtimes}"
        time.sleep(0.2)


def missing_python(runtimes):
    """A python runtime this host has no interpreter for (with the fallback off), or skip."""
    for rid, r in runtimes.items():
        if rid.startswith("python") and r["status"] == "unavailable":
            return rid
    pytest.skip("this host has an interpreter for every python runtime: nothing to refuse")


def stream_messages(srv, name):
    logs = srv.client("logs")
    group = f"/aws/lambda/{name}"
    try:
        events = logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [e["message"] for e in events]


def deploy(srv, runtime, files=None, handler="app.handler"):
    client = srv.client()
    name = helpers.unique_name("rt")
    helpers.create_function(client, name, make_zip(files or {"app.py": INTROSPECT}),
                            Runtime=runtime, Handler=handler, Timeout=30)
    helpers.wait_active(client, name)
    return name


@pytest.fixture(scope="module")
def strict(module_server_factory):
    """A server whose operator allowed no fallback."""
    return module_server_factory(env={"STRATUS_RUNTIME_FALLBACK": "off"})


@pytest.fixture(scope="module")
def lenient(module_server_factory):
    """A server that runs a missing version on the nearest one."""
    return module_server_factory(env={"STRATUS_RUNTIME_FALLBACK": "nearest"})


def invoke_on(srv, name, event=None):
    return invoke(srv.client(**helpers.INVOKE_CONFIG), name, event or {})


def test_health_lists_each_runtime_and_what_serves_it(strict):
    runtimes = runtimes_of(strict)
    for rid in ("python3.11", "python3.12", "python3.13", "nodejs20.x", "nodejs22.x"):
        assert rid in runtimes, sorted(runtimes)
    assert not any(rid.startswith(("java", "provided", "python2")) for rid in runtimes)
    for rid, r in runtimes.items():
        if r["status"] == "available":
            major_minor = rid.removeprefix("python").removeprefix("nodejs").removesuffix(".x")
            assert r["version"].startswith(major_minor + "."), r
            assert Path(r["interpreter"]).is_absolute(), r
        else:
            # Without the fallback, nothing serves a version the host lacks.
            assert r["status"] == "unavailable", r
            assert "on this host" in r["reason"] or "configured" in r["reason"], r
    # The suite's own host always has a python 3.11 (it runs the suite) and a node 20.
    assert runtimes["python3.11"]["status"] == "available", runtimes["python3.11"]
    py = runtimes["python3.11"]
    assert py["sdk"] == PYTHON_SDK or py["sdk"] == "missing", py


def test_a_runtime_without_its_interpreter_is_refused_without_fallback(strict):
    rid = missing_python(runtimes_of(strict))
    name = deploy(strict, rid)
    inv = invoke_on(strict, name)
    assert inv.function_error == "Unhandled", inv
    assert inv.payload["errorType"] == "Runtime.InvalidRuntime", inv.payload
    message = inv.payload["errorMessage"]
    version = rid.removeprefix("python")
    assert f"The runtime {rid} is unavailable on this host: no python {version} on this host" \
        in message, message
    assert "runtime_fallback" in message and "[runtimes]" in message, message
    # Nothing ran on another version: no INIT_START, no function output.
    assert not any(m.startswith("INIT_START") for m in stream_messages(strict, name))


def test_the_nearest_version_runs_it_when_allowed_and_the_log_says_so(lenient):
    runtimes = runtimes_of(lenient)
    fallbacks = [rid for rid, r in runtimes.items()
                 if rid.startswith("python") and r["status"] == "fallback"]
    if not fallbacks:
        pytest.skip("this host has an interpreter for every python runtime: no fallback to see")
    rid = fallbacks[0]
    served = runtimes[rid]
    assert served["reason"] == f"no python {rid.removeprefix('python')} on this host; " \
        "runtime_fallback = nearest", served
    name = deploy(lenient, rid)
    inv = invoke_on(lenient, name)
    assert inv.function_error is None, inv
    ran = ".".join(map(str, inv.payload["version"]))
    assert ran == served["version"], (inv.payload, served)
    init = [m for m in stream_messages(lenient, name) if m.startswith("INIT_START")]
    assert init == [
        f"INIT_START Runtime Version: python:{ran} (Stratus: {rid} requested, "
        f"no python {rid.removeprefix('python')} on this host; runtime_fallback = nearest)"
    ], init


def test_a_runtime_runs_on_its_own_version_and_says_which(strict):
    runtimes = runtimes_of(strict)
    for rid in ("python3.11", "python3.12", "python3.13"):
        if runtimes[rid]["status"] != "available":
            continue
        name = deploy(strict, rid)
        inv = invoke_on(strict, name)
        assert inv.function_error is None, inv
        want = rid.removeprefix("python")
        ran = ".".join(map(str, inv.payload["version"]))
        assert ran.startswith(want + "."), (rid, inv.payload["version"])
        assert ran == runtimes[rid]["version"]
        init = [m for m in stream_messages(strict, name) if m.startswith("INIT_START")]
        assert init == [f"INIT_START Runtime Version: python:{ran}"], init


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A python 3.11 without boto3 in its site-packages: a fresh virtualenv of the suite's own
    interpreter's base (whose venv, the suite's, has boto3)."""
    venv = tmp_path_factory.mktemp("bare-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python3"
    probe = subprocess.run([str(python), "-c", "import boto3"], capture_output=True)
    assert probe.returncode != 0, "the fresh virtualenv unexpectedly has boto3"
    return python


def configured(factory, tmp_path_factory, python, **env):
    cfg = tmp_path_factory.mktemp("cfg") / "stratus.toml"
    cfg.write_text(f'[runtimes]\n"python3.11" = "{python}"\n')
    return factory(env={"STRATUS_CONFIG": str(cfg), "STRATUS_RUNTIME_FALLBACK": "off", **env})


@pytest.fixture(scope="module")
def on_bare_python(module_server_factory, tmp_path_factory, bare_python):
    if PYTHON_SDK is None:
        pytest.fail(f"no python 3.11 SDK in {RUNTIME_SDK_DIR}: run `make runtime-sdks` first",
                    pytrace=False)
    return configured(module_server_factory, tmp_path_factory, bare_python)


def test_boto3_comes_from_the_runtime_on_an_interpreter_without_it(on_bare_python, bare_python):
    served = runtimes_of(on_bare_python)["python3.11"]
    assert served["interpreter"] == str(bare_python), served
    assert served["sdk"] == PYTHON_SDK, served
    name = deploy(on_bare_python, "python3.11", {"app.py": INTROSPECT})
    inv = invoke_on(on_bare_python, name)
    assert inv.function_error is None, inv
    out = inv.payload
    assert out["executable"] == str(bare_python), out
    assert out["boto3"] == PYTHON_SDK["boto3"], out
    # The SDK comes from the runtime's own tree, where AWS's python runtimes keep it.
    isolated = on_bare_python.health()[1]["isolation"] == "namespaces"
    sdk = "/var/lang/lib/python3.11/site-packages" if isolated else str(RUNTIME_SDK_DIR / "python/3.11")
    assert out["boto3_file"] == f"{sdk}/boto3/__init__.py", out
    # sys.path in AWS's order, and no site-packages of the host's interpreter.
    path = out["path"]
    task = path[0]
    assert path[:5] == [task, "/opt/python/lib/python3.11/site-packages", "/opt/python", sdk,
                        path[4]], path
    assert path[4].endswith("runtime"), path
    assert not any("site-packages" in p and p not in (sdk, path[1]) for p in path), path


def test_a_packaged_copy_of_the_sdk_shadows_the_runtimes(on_bare_python):
    name = deploy(on_bare_python, "python3.11", {
        "app.py": "import boto3, botocore\n"
                  "def handler(event, context):\n"
                  "    return {'boto3': boto3.__version__, 'botocore': botocore.__version__}\n",
        "boto3/__init__.py": '__version__ = "0.0-packaged"\n',
    })
    inv = invoke_on(on_bare_python, name)
    assert inv.function_error is None, inv
    assert inv.payload == {"boto3": "0.0-packaged", "botocore": PYTHON_SDK["botocore"]}


def test_the_hosts_boto3_never_leaks_into_a_function(module_server_factory, tmp_path_factory):
    """The suite's own interpreter has boto3 in its site-packages; with no SDK installed for
    the runtime (an offline host), `import boto3` fails as on a runtime without it."""
    venv_python = Path(sys.executable)
    empty = tmp_path_factory.mktemp("no-sdk")
    srv = configured(module_server_factory, tmp_path_factory, venv_python,
                     STRATUS_RUNTIME_SDK_DIR=str(empty))
    assert runtimes_of(srv)["python3.11"]["sdk"] == "missing"
    name = deploy(srv, "python3.11", {"app.py": "import boto3\n"
                                                 "def handler(event, context):\n    return 1\n"})
    inv = invoke_on(srv, name)
    assert inv.function_error == "Unhandled", inv
    assert inv.payload["errorType"] == "Runtime.ImportModuleError", inv.payload
    assert "No module named 'boto3'" in inv.payload["errorMessage"], inv.payload


NODE_S3 = """
import { S3Client, CreateBucketCommand, ListBucketsCommand } from "@aws-sdk/client-s3";
import { createRequire } from "node:module";

const s3 = new S3Client({ forcePathStyle: true });

export const handler = async (event) => {
  await s3.send(new CreateBucketCommand({ Bucket: event.bucket }));
  const listed = await s3.send(new ListBucketsCommand({}));
  const pkg = createRequire(import.meta.url)("@aws-sdk/client-s3/package.json");
  return { buckets: listed.Buckets.map((b) => b.Name), sdk: pkg.version };
};
"""


def test_a_single_file_node_function_imports_the_sdk_and_calls_stratus(lenient):
    node_sdk = RUNTIME_SDK_DIR / "nodejs" / "stratus-sdk.json"
    if not node_sdk.exists():
        pytest.fail(f"no node SDK in {RUNTIME_SDK_DIR}: run `make runtime-sdks` first",
                    pytrace=False)
    version = json.loads(node_sdk.read_text())["@aws-sdk"]
    name = deploy(lenient, "nodejs20.x", {"index.mjs": NODE_S3}, handler="index.handler")
    bucket = helpers.unique_bucket()
    inv = invoke_on(lenient, name, {"bucket": bucket})
    assert inv.function_error is None, inv
    assert bucket in inv.payload["buckets"], inv.payload
    assert inv.payload["sdk"] == version
    # The same from CommonJS, through NODE_PATH.
    cjs = deploy(lenient, "nodejs20.x", {"index.js": (
        "const { S3Client } = require('@aws-sdk/client-s3');\n"
        "exports.handler = async () => typeof S3Client;\n")}, handler="index.handler")
    assert invoke_on(lenient, cjs).payload == "function"
