"""The `stratus` client commands, run as a user would (the real binary as a subprocess)
against a running server: deploy, invoke, publish, alias, ls, logs, usage, and their errors."""

import io
import json
import os
import subprocess
import threading
import uuid
import zipfile

import pytest

import helpers
from conftest import free_port, stratus_binary

SOURCE = (
    "import os\n"
    "def handler(event, context):\n"
    "    print('cli event', event.get('tag'))\n"
    "    if event.get('fail'):\n"
    "        raise ValueError('asked to fail')\n"
    "    return {'echo': event, 'greeting': os.environ.get('GREETING'), 'rev': REV}\n"
)


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


@pytest.fixture(scope="module")
def lam(srv):
    return srv.client()


def stratus(srv, *args, env=None, timeout=60):
    """Runs `stratus ARGS` against `srv`; the completed process (text)."""
    return subprocess.run([stratus_binary(), *args], capture_output=True, text=True,
                          env=client_env(srv, env), timeout=timeout)


def client_env(srv, extra=None):
    """This process's environment without AWS or Stratus settings, pointed at `srv`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRATUS_"))}
    env["STRATUS_ENDPOINT"] = srv.url
    env.update(extra or {})
    return env


def write_function(folder, rev):
    folder.mkdir(exist_ok=True)
    (folder / "app.py").write_text(SOURCE.replace("REV", repr(rev)))
    (folder / "lib").mkdir(exist_ok=True)
    (folder / "lib" / "data.txt").write_text("packaged alongside\n")
    return folder


@pytest.fixture(scope="module")
def deployed(srv, lam, tmp_path_factory):
    """A function deployed by `stratus deploy` (created), then published as version 1."""
    name = helpers.unique_name("cli")
    folder = write_function(tmp_path_factory.mktemp("cli") / "fn", "one")
    out = stratus(srv, "deploy", str(folder), "--name", name, "--runtime", "python3.12",
                  "--handler", "app.handler", "--memory", "256", "--timeout", "10",
                  "--env", "GREETING=hello")
    assert out.returncode == 0, out.stderr
    return {"name": name, "folder": folder, "create": out}


def test_deploy_creates_then_updates(srv, lam, deployed):
    name, out = deployed["name"], deployed["create"]
    # Progress on stderr, the result on stdout.
    assert "Zipping" in out.stderr and "Creating" in out.stderr
    fields = dict(line.split(":", 1) for line in out.stdout.strip().splitlines())
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    cfg = lam.get_function_configuration(FunctionName=name)
    assert fields["name"] == name
    assert fields["version"] == "$LATEST"
    assert fields["arn"] == helpers.function_arn(name)
    assert fields["sha256"] == cfg["CodeSha256"]
    assert cfg["Runtime"] == "python3.12" and cfg["Handler"] == "app.handler"
    assert cfg["MemorySize"] == 256 and cfg["Timeout"] == 10
    assert cfg["Environment"]["Variables"] == {"GREETING": "hello"}
    # The whole folder went in, subfolders included.
    code = helpers.download(lam.get_function(FunctionName=name)["Code"]["Location"])
    assert sorted(zipfile.ZipFile(io.BytesIO(code)).namelist()) == ["app.py", "lib/data.txt"]

    # Deploying again updates code and only the settings given.
    write_function(deployed["folder"], "two")
    out = stratus(srv, "deploy", str(deployed["folder"]), "--name", name, "--memory", "512")
    assert out.returncode == 0, out.stderr
    assert "Updating code" in out.stderr
    cfg2 = lam.get_function_configuration(FunctionName=name)
    assert cfg2["CodeSha256"] != cfg["CodeSha256"]
    assert f"sha256:    {cfg2['CodeSha256']}" in out.stdout
    assert cfg2["MemorySize"] == 512 and cfg2["Timeout"] == 10
    assert cfg2["Environment"]["Variables"] == {"GREETING": "hello"}
    assert cfg2["LastUpdateStatus"] == "Successful"


def test_invoke_payload_file_qualifier_and_errors(srv, deployed, tmp_path):
    name = deployed["name"]
    out = stratus(srv, "invoke", name, "--payload", '{"tag": "inline"}')
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["echo"] == {"tag": "inline"} and body["greeting"] == "hello"

    event = tmp_path / "event.json"
    event.write_text('{"tag": "from-file"}')
    out = stratus(srv, "invoke", name, "--payload", f"@{event}", "--log")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["echo"] == {"tag": "from-file"}
    assert "cli event from-file" in out.stderr and "REPORT RequestId" in out.stderr

    out = stratus(srv, "invoke", name, "--payload", '{"fail": true}')
    assert out.returncode != 0
    err = json.loads(out.stdout)
    assert err["errorType"] == "ValueError" and err["errorMessage"] == "asked to fail"
    assert "Unhandled" in out.stderr

    out = stratus(srv, "invoke", name, "--qualifier", "nope")
    assert out.returncode != 0
    assert "ResourceNotFoundException" in out.stderr


def test_publish_alias_weights_and_ls(srv, lam, deployed):
    name = deployed["name"]
    out = stratus(srv, "publish", name, "--description", "first")
    assert out.returncode == 0, out.stderr
    assert "version: 1" in out.stdout
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Description"] == "first"

    out = stratus(srv, "alias", name, "prod", "--version", "1")
    assert out.returncode == 0, out.stderr
    assert lam.get_alias(FunctionName=name, Name="prod")["FunctionVersion"] == "1"

    write_function(deployed["folder"], "three")
    assert stratus(srv, "deploy", str(deployed["folder"]), "--name", name).returncode == 0
    out = stratus(srv, "publish", name)
    assert "version: 2" in out.stdout, out.stderr
    out = stratus(srv, "alias", name, "prod", "--version", "1", "--weight", "2=0.4")
    assert out.returncode == 0, out.stderr
    alias = lam.get_alias(FunctionName=name, Name="prod")
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.4}

    out = stratus(srv, "invoke", name, "--qualifier", "1")
    assert json.loads(out.stdout)["rev"] == "two"

    out = stratus(srv, "ls")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAME", "RUNTIME", "MEMORY", "TIMEOUT", "LAST", "MODIFIED",
                                "VERSIONS"]
    row = next(line for line in lines if line.startswith(name + " "))
    cells = row.split()
    assert cells[1] == "python3.12" and cells[2:4] == ["512", "MB"]
    assert cells[-1] == "2"
    # Aligned: every column starts at the same place in each row.
    assert lines[0].index("RUNTIME") == row.index("python3.12")


def test_logs_prints_and_follows(srv, deployed):
    name = deployed["name"]
    marker = "logs-" + uuid.uuid4().hex[:6]
    assert stratus(srv, "invoke", name, "--payload", json.dumps({"tag": marker})).returncode == 0
    out = stratus(srv, "logs", name, "--since", "5m")
    assert out.returncode == 0, out.stderr
    assert f"cli event {marker}" in out.stdout
    assert "START RequestId" in out.stdout

    follow = subprocess.Popen([stratus_binary(), "logs", name, "--follow", "--since", "1m"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=client_env(srv))
    lines = []
    threading.Thread(target=lambda: lines.extend(iter(follow.stdout.readline, "")),
                     daemon=True).start()
    try:
        helpers.wait_until(lambda: any(marker in ln for ln in lines), timeout=20,
                           message="earlier events printed")
        later = "follow-" + uuid.uuid4().hex[:6]
        stratus(srv, "invoke", name, "--payload", json.dumps({"tag": later}))
        helpers.wait_until(lambda: any(later in ln for ln in lines), timeout=20,
                           message="new invocation printed while following")
    finally:
        follow.terminate()
        follow.wait(timeout=10)
    assert sum(f"cli event {marker}" in ln for ln in lines) == 1

    out = stratus(srv, "logs", helpers.unique_name("never-ran"))
    assert out.returncode != 0
    assert "no logs yet" in out.stderr


def test_usage_table_and_json(srv, deployed):
    out = stratus(srv, "usage", "--json")
    if "answered 404" in out.stderr:
        pytest.skip("this server has no /_stratus/usage endpoint yet")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["group_by"] == "function"
    row = next(g for g in report["groups"] if g["function"] == deployed["name"])
    assert row["invocations"] >= 1

    out = stratus(srv, "usage", "--by", "function")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].split()[:2] == ["FUNCTION", "INVOCATIONS"]
    assert any(line.startswith(deployed["name"] + " ") for line in lines)
    assert any(line.startswith("TOTAL ") for line in lines)

    out = stratus(srv, "usage", "--by", "fortnight")
    assert out.returncode != 0
    assert "ValidationException" in out.stderr


def test_errors_carry_the_aws_code_and_a_hint(srv, tmp_path):
    missing = helpers.unique_name("missing")
    out = stratus(srv, "invoke", missing)
    assert out.returncode != 0
    assert "ResourceNotFoundException" in out.stderr
    assert f"hint: no function named {missing}" in out.stderr and "stratus ls" in out.stderr

    out = stratus(srv, "publish", missing)
    assert out.returncode != 0 and "ResourceNotFoundException" in out.stderr

    folder = write_function(tmp_path / "fn", "x")
    out = stratus(srv, "deploy", str(folder), "--name", missing)
    assert out.returncode != 0 and "--runtime and --handler" in out.stderr

    out = stratus(srv, "deploy", str(folder), "--name", helpers.unique_name("bad"),
                  "--runtime", "cobol85", "--handler", "app.handler")
    assert out.returncode != 0
    assert "InvalidParameterValueException" in out.stderr or "ValidationException" in out.stderr
    assert "hint:" in out.stderr

    out = stratus(srv, "ls", env={"AWS_SECRET_ACCESS_KEY": "wrong"})
    assert out.returncode != 0
    assert "InvalidSignatureException" in out.stderr or "UnrecognizedClientException" in out.stderr
    assert "AWS_SECRET_ACCESS_KEY" in out.stderr


def test_connection_refused_says_where_it_looked():
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    out = subprocess.run([stratus_binary(), "--endpoint", endpoint, "ls"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode != 0
    assert f"is `stratus serve` running at {endpoint}?" in out.stderr

