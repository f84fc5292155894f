"""Invoking python functions: results, the context object, environment variables, handler
resolution and its errors, warm reuse, boto3 inside functions, and one aws CLI smoke test."""

import base64
import json
import re
import subprocess

import pytest
from botocore.exceptions import ClientError

from helpers import (
    aws_cli_env,
    LOG_STREAM_RE,
    REGION,
    UUID_RE,
    assert_error,
    client_context,
    find_aws_cli,
    function_arn,
    invoke,
    make_zip,
    unique_name,
    wait_updated,
)

# Reports everything a function can learn about itself and its invocation.
INTROSPECT = '''
import os, uuid

ENV_ID = uuid.uuid4().hex
CALLS = 0


def handler(event, context):
    global CALLS
    CALLS += 1
    cc = context.client_context
    return {
        "event": event,
        "env": dict(os.environ),
        "env_id": ENV_ID,
        "calls": CALLS,
        "cwd": os.getcwd(),
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "client_context": None if cc is None else {"custom": cc.custom, "env": cc.env},
        },
    }
'''


@pytest.fixture(scope="module")
def introspect(module_new_function):
    """A python3.12 function (256 MB, 7 s, two variables of its own) that reports itself."""
    return module_new_function(
        zip_bytes=make_zip({"app.py": INTROSPECT}),
        MemorySize=256,
        Timeout=7,
        Environment={"Variables": {"GREETING": "hello", "EMPTYISH": " spaced value "}},
    )["FunctionName"]


def python_fn(new_function, source, handler="app.handler", **overrides):
    return new_function(zip_bytes=make_zip({"app.py": source}), Handler=handler, **overrides)[
        "FunctionName"
    ]


# --- request/response ------------------------------------------------------


def test_request_response_returns_the_handlers_result(invoke_client, introspect):
    inv = invoke(invoke_client, introspect, {"a": 1, "nested": {"b": [1, 2, 3]}})
    assert inv.status == 200
    assert inv.function_error is None, inv
    assert inv.executed_version == "$LATEST"
    assert inv.payload["event"] == {"a": 1, "nested": {"b": [1, 2, 3]}}
    assert inv.headers.get("content-type", "").startswith("application/json")


def test_response_request_id_is_the_functions_request_id(invoke_client, introspect):
    inv = invoke(invoke_client, introspect, {})
    assert UUID_RE.match(inv.request_id), inv.request_id
    assert inv.payload["context"]["aws_request_id"] == inv.request_id


def test_empty_payload_reaches_the_function_as_empty_object(invoke_client, introspect):
    resp = invoke_client.invoke(FunctionName=introspect)
    assert resp["StatusCode"] == 200
    assert json.loads(resp["Payload"].read())["event"] == {}


def test_non_ascii_event_round_trips(invoke_client, introspect):
    event = {"text": "héllo wörld ✓ 日本語", "emoji": "🚀"}
    inv = invoke(invoke_client, introspect, event)
    assert inv.payload["event"] == event


def test_large_event_round_trips(invoke_client, new_function):
    name = python_fn(new_function, "def handler(event, context):\n    return event\n")
    event = {"blob": "x" * (5 * 1024 * 1024)}
    inv = invoke(invoke_client, name, event, tail=False)
    assert inv.function_error is None, inv.raw[:300]
    assert inv.payload == event


def test_handler_returning_none_answers_null(invoke_client, new_function):
    name = python_fn(new_function, "def handler(event, context):\n    pass\n")
    inv = invoke(invoke_client, name, {})
    assert inv.function_error is None, inv
    assert inv.raw == b"null"


def test_dry_run_returns_204_and_starts_nothing(invoke_client, new_function):
    name = python_fn(new_function, INTROSPECT)
    resp = invoke_client.invoke(FunctionName=name, InvocationType="DryRun", Payload=b'{"a":1}')
    assert resp["StatusCode"] == 204
    assert resp["Payload"].read() == b""
    assert "FunctionError" not in resp
    # Nothing ran: the first real invoke is a cold start and the handler's first call.
    inv = invoke(invoke_client, name, {})
    assert inv.payload["calls"] == 1
    assert inv.report()["init"] is not None, inv.log


def test_dry_run_of_missing_function_is_404(invoke_client):
    name = unique_name()
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=name, InvocationType="DryRun")
    assert_error(
        e.value,
        "ResourceNotFoundException",
        404,
        message=f"Function not found: {function_arn(name, '$LATEST')}",
    )


def test_dry_run_still_validates_the_payload(invoke_client, introspect):
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=introspect, InvocationType="DryRun", Payload=b"{not json")
    assert_error(e.value, "InvalidRequestContentException", 400)


# --- environment variables -------------------------------------------------


def test_environment_variables_set_by_the_platform(invoke_client, introspect):
    inv = invoke(invoke_client, introspect, {})
    env = inv.payload["env"]
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["LAMBDA_RUNTIME_DIR"], env
    assert re.fullmatch(r"[^\s:]+:\d+", env["AWS_LAMBDA_RUNTIME_API"]), env["AWS_LAMBDA_RUNTIME_API"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == introspect
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{introspect}"
    m = LOG_STREAM_RE.match(env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert m and m["version"] == "$LATEST", env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_REGION"] == REGION
    assert env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["TZ"] == ":UTC"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["AWS_ENDPOINT_URL"].startswith("http://"), env["AWS_ENDPOINT_URL"]
    assert env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "on-demand"


def test_functions_own_environment_variables(invoke_client, introspect):
    env = invoke(invoke_client, introspect, {}).payload["env"]
    assert env["GREETING"] == "hello"
    assert env["EMPTYISH"] == " spaced value "


def test_code_runs_in_the_task_root(invoke_client, introspect):
    assert invoke(invoke_client, introspect, {}).payload["cwd"] == "/var/task"


def test_version_variable_of_a_published_version(invoke_client, lambda_client, new_function):
    name = python_fn(new_function, INTROSPECT)
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    inv = invoke(invoke_client, name, {}, Qualifier=version)
    assert inv.payload["env"]["AWS_LAMBDA_FUNCTION_VERSION"] == version
    assert inv.payload["context"]["function_version"] == version
    m = LOG_STREAM_RE.match(inv.payload["env"]["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert m and m["version"] == version


@pytest.mark.parametrize("runtime", ["python3.9", "python3.11", "python3.13"])
def test_other_python_runtime_identifiers_run(invoke_client, new_function, runtime):
    name = python_fn(new_function, INTROSPECT, Runtime=runtime)
    inv = invoke(invoke_client, name, {"r": runtime})
    assert inv.function_error is None, inv
    assert inv.payload["event"] == {"r": runtime}
    assert inv.payload["env"]["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{runtime}"


# --- the context object ----------------------------------------------------


def test_context_attributes(invoke_client, introspect):
    inv = invoke(invoke_client, introspect, {})
    ctx = inv.payload["context"]
    env = inv.payload["env"]
    assert ctx["aws_request_id"] == inv.request_id
    assert ctx["function_name"] == introspect
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == function_arn(introspect)
    assert ctx["memory_limit_in_mb"] == "256"  # a string, as on AWS
    assert ctx["log_group_name"] == f"/aws/lambda/{introspect}"
    assert ctx["log_stream_name"] == env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < ctx["remaining_ms"] <= 7000, ctx["remaining_ms"]
    assert ctx["client_context"] is None


def test_remaining_time_counts_down(invoke_client, new_function):
    source = (
        "import time\n"
        "def handler(event, context):\n"
        "    before = context.get_remaining_time_in_millis()\n"
        "    time.sleep(0.3)\n"
        "    return [before, context.get_remaining_time_in_millis()]\n"
    )
    name = python_fn(new_function, source, Timeout=5)
    before, after = invoke(invoke_client, name, {}).payload
    assert 4000 < before <= 5000, before
    assert 200 <= before - after < 2000, (before, after)


def test_client_context_reaches_the_function(invoke_client, introspect):
    inv = invoke(
        invoke_client,
        introspect,
        {},
        ClientContext=client_context(custom={"k": "v", "n": 1}, env={"locale": "en"}),
    )
    assert inv.payload["context"]["client_context"] == {
        "custom": {"k": "v", "n": 1},
        "env": {"locale": "en"},
    }


def test_invalid_client_context_is_rejected(invoke_client, introspect):
    with pytest.raises(ClientError) as e:
        invoke_client.invoke(FunctionName=introspect, ClientContext="!!not base64!!")
    assert_error(e.value, "InvalidRequestContentException", 400)


# --- handler resolution ----------------------------------------------------


def test_dotted_package_handler(invoke_client, new_function):
    zip_bytes = make_zip({
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "",
        "pkg/sub/mod.py": "def handler(event, context):\n    return {'from': __name__, 'event': event}\n",
    })
    name = new_function(zip_bytes=zip_bytes, Handler="pkg.sub.mod.handler")["FunctionName"]
    inv = invoke(invoke_client, name, {"x": 1})
    assert inv.function_error is None, inv
    assert inv.payload == {"from": "pkg.sub.mod", "event": {"x": 1}}


def test_handler_in_a_subdirectory(invoke_client, new_function):
    zip_bytes = make_zip({"src/app.py": "def handler(event, context):\n    return 'sub'\n"})
    name = new_function(zip_bytes=zip_bytes, Handler="src/app.handler")["FunctionName"]
    inv = invoke(invoke_client, name, {})
    assert inv.function_error is None, inv
    assert inv.payload == "sub"


def test_modules_beside_the_handler_are_importable(invoke_client, new_function):
    zip_bytes = make_zip({
        "app.py": "import util\ndef handler(event, context):\n    return util.double(event['n'])\n",
        "util.py": "def double(n):\n    return 2 * n\n",
    })
    name = new_function(zip_bytes=zip_bytes)["FunctionName"]
    assert invoke(invoke_client, name, {"n": 21}).payload == 42


HANDLER_ERRORS = [
    pytest.param(
        "nomodule.handler",
        "def handler(event, context):\n    return 1\n",
        "Runtime.ImportModuleError",
        "Unable to import module 'nomodule': No module named 'nomodule'",
        id="import-module-error",
    ),
    pytest.param(
        "app.missing",
        "def handler(event, context):\n    return 1\n",
        "Runtime.HandlerNotFound",
        "Handler 'missing' missing on module 'app'",
        id="handler-not-found",
    ),
    pytest.param(
        "app.handler",
        "def handler(event, context):\n    return (\n",
        "Runtime.UserCodeSyntaxError",
        "Syntax error in module 'app'",
        id="syntax-error",
    ),
    pytest.param(
        "nodot",
        "def handler(event, context):\n    return 1\n",
        "Runtime.MalformedHandlerName",
        "Bad handler 'nodot'",
        id="malformed-handler-name",
    ),
    pytest.param(
        "app.handler",
        "import not_installed_anywhere\ndef handler(event, context):\n    return 1\n",
        "Runtime.ImportModuleError",
        "Unable to import module 'app': No module named 'not_installed_anywhere'",
        id="import-error-inside-module",
    ),
]


@pytest.mark.parametrize("handler,source,error_type,message", HANDLER_ERRORS)
def test_handler_errors_are_function_errors(
    invoke_client, new_function, handler, source, error_type, message
):
    name = python_fn(new_function, source, handler=handler)
    inv = invoke(invoke_client, name, {})
    assert inv.status == 200
    assert inv.function_error == "Unhandled", inv
    body = inv.payload
    assert body["errorType"] == error_type, body
    assert body["errorMessage"].startswith(message), body
    # An init error carries no request id (AWS sends "").
    assert body.get("requestId") == "", body
    assert isinstance(body.get("stackTrace"), list), body


def test_init_error_is_reported_again_on_the_next_invoke(invoke_client, new_function):
    name = python_fn(new_function, "raise RuntimeError('broken at import')\n")
    for _ in range(2):
        inv = invoke(invoke_client, name, {})
        assert inv.function_error == "Unhandled", inv
        assert inv.payload["errorType"] == "RuntimeError"
        assert inv.payload["errorMessage"] == "broken at import"


# --- function errors -------------------------------------------------------


def test_unhandled_exception_payload(invoke_client, new_function):
    source = (
        "def handler(event, context):\n"
        "    helper(event)\n"
        "\n"
        "def helper(event):\n"
        "    raise ValueError('bad value: ' + event['v'])\n"
    )
    name = python_fn(new_function, source)
    inv = invoke(invoke_client, name, {"v": "42"})
    assert inv.status == 200
    assert inv.function_error == "Unhandled"
    body = inv.payload
    assert set(body) == {"errorMessage", "errorType", "requestId", "stackTrace"}, body
    assert body["errorMessage"] == "bad value: 42"
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == inv.request_id
    trace = "".join(body["stackTrace"])
    assert "app.py" in trace and "helper" in trace and "raise ValueError" in trace, trace
    assert "bootstrap" not in trace, trace


def test_custom_exception_class_is_the_error_type(invoke_client, new_function):
    source = (
        "class PaymentDeclined(Exception):\n"
        "    pass\n"
        "def handler(event, context):\n"
        "    raise PaymentDeclined('card expired')\n"
    )
    inv = invoke(invoke_client, python_fn(new_function, source), {})
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorType"] == "PaymentDeclined"
    assert inv.payload["errorMessage"] == "card expired"


def test_function_error_does_not_cost_the_environment(invoke_client, new_function):
    source = (
        "import uuid\n"
        "ENV = uuid.uuid4().hex\n"
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise Exception('asked to')\n"
        "    return ENV\n"
    )
    name = python_fn(new_function, source)
    first = invoke(invoke_client, name, {}).payload
    assert invoke(invoke_client, name, {"fail": True}).function_error == "Unhandled"
    assert invoke(invoke_client, name, {}).payload == first


def test_unserializable_result_is_a_marshal_error(invoke_client, new_function):
    name = python_fn(new_function, "def handler(event, context):\n    return {1, 2}\n")
    inv = invoke(invoke_client, name, {})
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorType"] == "Runtime.MarshalError"
    assert "Unable to marshal response" in inv.payload["errorMessage"]


# --- environments: cold, warm, updated --------------------------------------


def test_first_invoke_is_cold_then_warm_with_state_kept(invoke_client, new_function):
    source = (
        "import os, uuid\n"
        "ENV = uuid.uuid4().hex\n"
        "COUNT = 0\n"
        "def handler(event, context):\n"
        "    global COUNT\n"
        "    COUNT += 1\n"
        "    path = '/tmp/visits'\n"
        "    before = open(path).read() if os.path.exists(path) else ''\n"
        "    with open(path, 'a') as f:\n"
        "        f.write('x')\n"
        "    return {'env': ENV, 'count': COUNT, 'tmp_before': before,\n"
        "            'stream': context.log_stream_name}\n"
    )
    name = python_fn(new_function, source)
    first = invoke(invoke_client, name, {})
    second = invoke(invoke_client, name, {})
    assert first.report()["init"] is not None, f"first invoke not reported cold:\n{first.log}"
    assert second.report()["init"] is None, f"second invoke not warm:\n{second.log}"
    assert first.payload["env"] == second.payload["env"]
    assert first.payload["stream"] == second.payload["stream"]
    assert (first.payload["count"], second.payload["count"]) == (1, 2)
    assert (first.payload["tmp_before"], second.payload["tmp_before"]) == ("", "x")


def test_code_update_takes_effect_on_the_next_invoke(invoke_client, lambda_client, new_function):
    name = python_fn(new_function, "def handler(event, context):\n    return 'old'\n")
    assert invoke(invoke_client, name, {}).payload == "old"
    lambda_client.update_function_code(
        FunctionName=name, ZipFile=make_zip({"app.py": "def handler(event, context):\n    return 'new'\n"})
    )
    wait_updated(lambda_client, name)
    assert invoke(invoke_client, name, {}).payload == "new"


def test_configuration_update_takes_effect_on_the_next_invoke(
    invoke_client, lambda_client, new_function
):
    source = "import os\ndef handler(event, context):\n    return os.environ.get('MODE')\n"
    name = python_fn(new_function, source, Environment={"Variables": {"MODE": "one"}})
    assert invoke(invoke_client, name, {}).payload == "one"
    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"MODE": "two"}}
    )
    wait_updated(lambda_client, name)
    assert invoke(invoke_client, name, {}).payload == "two"


# --- boto3 inside functions --------------------------------------------------


def test_boto3_is_importable(invoke_client, new_function):
    source = "import boto3, botocore\ndef handler(event, context):\n    return boto3.__version__\n"
    inv = invoke(invoke_client, python_fn(new_function, source), {})
    assert inv.function_error is None, inv
    assert re.match(r"^\d+\.\d+", inv.payload), inv.payload


def test_function_calls_the_platform_with_boto3(invoke_client, new_function):
    target = python_fn(new_function, "def handler(event, context):\n    return {'doubled': event['n'] * 2}\n")
    source = (
        "import json, boto3\n"
        "def handler(event, context):\n"
        "    client = boto3.client('lambda')\n"
        "    names = []\n"
        "    for page in client.get_paginator('list_functions').paginate():\n"
        "        names += [f['FunctionName'] for f in page['Functions']]\n"
        "    resp = client.invoke(FunctionName=event['target'], Payload=json.dumps({'n': 21}))\n"
        "    return {'names': names, 'answer': json.loads(resp['Payload'].read()),\n"
        "            'me': client.get_function(FunctionName=context.function_name)['Configuration']['FunctionName']}\n"
    )
    name = python_fn(new_function, source, Timeout=30)
    inv = invoke(invoke_client, name, {"target": target})
    assert inv.function_error is None, inv
    assert name in inv.payload["names"] and target in inv.payload["names"]
    assert inv.payload["answer"] == {"doubled": 42}
    assert inv.payload["me"] == name


# --- the aws CLI -----------------------------------------------------------


def test_aws_cli_invoke_with_tail(server, invoke_client, new_function, tmp_path):
    cli = find_aws_cli()
    if cli is None:
        pytest.skip("aws CLI is not installed")
    name = python_fn(new_function, "def handler(event, context):\n    print('cli-log-line')\n    return event\n")
    env = aws_cli_env(tmp_path)
    version = subprocess.run([cli, "--version"], env=env, capture_output=True, text=True)
    # Version 2 reads blobs as base64 unless told otherwise; version 1 sends them raw and
    # does not know the option.
    binary_format = [] if "aws-cli/1." in version.stdout + version.stderr else [
        "--cli-binary-format", "raw-in-base64-out"]
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [cli, "--endpoint-url", server.url, "--output", "json", "lambda", "invoke",
         "--function-name", name, *binary_format,
         "--payload", '{"a":1}', "--log-type", "Tail", str(out)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(proc.stdout)
    assert meta["StatusCode"] == 200
    assert meta["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in meta
    assert json.loads(out.read_text()) == {"a": 1}
    log = base64.b64decode(meta["LogResult"]).decode()
    assert log.startswith("START RequestId: ") and "cli-log-line" in log and "REPORT RequestId: " in log, log

