"""Custom runtimes (`provided.al2023`, `provided`): a function built on the official Rust
`lambda_runtime` crate (tests/fixtures/rust-fn) and a bash bootstrap as in AWS's custom-runtime
tutorial, plus the errors of a package without a usable bootstrap."""

import pytest

from helpers import function_arn, invoke, make_zip_with_modes

# AWS's custom runtime tutorial: the bootstrap loads the handler script, then loops on the
# Runtime API with curl. (The tutorial's `#!/bin/sh` is bash on Amazon Linux.)
TUTORIAL_BOOTSTRAP = r"""#!/bin/bash
set -euo pipefail

# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"

# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")

  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)

  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")

  # Send the response
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" -d "$RESPONSE" > /dev/null
done
"""

# The tutorial's function.sh, answering JSON that also tells what the script saw.
TUTORIAL_FUNCTION = r"""function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="{\"echo\": $EVENT_DATA, \"function\": \"$AWS_LAMBDA_FUNCTION_NAME\", \"exec_env\": \"${AWS_EXECUTION_ENV:-absent}\", \"task_root\": \"$LAMBDA_TASK_ROOT\", \"pid\": $$}"
  echo $RESPONSE
}
"""

# A bootstrap that reports a function error through the Runtime API's /error.
ERROR_BOOTSTRAP = r"""#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  curl -sS -LD "$HEADERS" "$API/invocation/next" > /dev/null
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS "$API/invocation/$REQUEST_ID/error" \
    -H "Lambda-Runtime-Function-Error-Type: Custom.ShellFailure" \
    -d '{"errorMessage": "the script said no", "errorType": "Custom.ShellFailure"}' > /dev/null
done
"""

# A bootstrap that fails its initialisation through /init/error.
INIT_ERROR_BOOTSTRAP = r"""#!/bin/bash
curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/init/error" \
  -H "Lambda-Runtime-Function-Error-Type: Custom.InitFailed" \
  -d '{"errorMessage": "config missing", "errorType": "Custom.InitFailed"}' > /dev/null
exit 1
"""


def provided_fn(new_function, files, runtime="provided.al2023", handler="function.handler", **kw):
    return new_function(
        zip_bytes=make_zip_with_modes(files), Runtime=runtime, Handler=handler, **kw
    )["FunctionName"]


# --- Rust, with the official lambda_runtime crate ---------------------------


@pytest.fixture(scope="module")
def rust_fn(module_new_function, rust_bootstrap):
    return module_new_function(
        zip_bytes=make_zip_with_modes({"bootstrap": (rust_bootstrap, 0o755)}),
        Runtime="provided.al2023",
        Handler="not.used",
        MemorySize=128,
        Timeout=8,
    )["FunctionName"]


def test_rust_function_echoes_event_and_context(invoke_client, rust_fn):
    inv = invoke(invoke_client, rust_fn, {"hello": "rust", "n": [1, 2]})
    assert inv.status == 200
    assert inv.function_error is None, inv
    assert inv.executed_version == "$LATEST"
    body = inv.payload
    assert body["event"] == {"hello": "rust", "n": [1, 2]}
    assert body["request_id"] == inv.request_id
    assert body["function_name"] == rust_fn
    assert body["function_version"] == "$LATEST"
    assert body["memory_mb"] == 128
    assert body["invoked_function_arn"] == function_arn(rust_fn)
    assert 0 < body["remaining_ms"] <= 8000, body["remaining_ms"]


def test_rust_function_stays_warm(invoke_client, rust_fn):
    first = invoke(invoke_client, rust_fn, {"i": 1})
    second = invoke(invoke_client, rust_fn, {"i": 2})
    assert second.report()["init"] is None, second.log
    assert first.payload["request_id"] != second.payload["request_id"]
    assert second.payload["event"] == {"i": 2}


def test_rust_function_log_lines(invoke_client, rust_fn):
    inv = invoke(invoke_client, rust_fn, {})
    assert f"rust handler saw request {inv.request_id}" in inv.log_lines, inv.log


def test_rust_function_error(invoke_client, rust_fn):
    inv = invoke(invoke_client, rust_fn, {"fail": "rust says no"})
    assert inv.status == 200
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorMessage"] == "rust says no"
    assert inv.payload["errorType"], inv.payload
    # The environment survives a returned error.
    assert invoke(invoke_client, rust_fn, {"ok": 1}).function_error is None


# --- the bash bootstrap of AWS's tutorial ------------------------------------


@pytest.mark.parametrize("runtime", ["provided.al2023", "provided"])
def test_tutorial_shell_bootstrap(invoke_client, new_function, runtime):
    name = provided_fn(
        new_function,
        {"bootstrap": (TUTORIAL_BOOTSTRAP, 0o755), "function.sh": TUTORIAL_FUNCTION},
        runtime=runtime,
    )
    first = invoke(invoke_client, name, {"n": 1})
    assert first.function_error is None, first
    assert first.payload["echo"] == {"n": 1}
    assert first.payload["function"] == name
    assert first.payload["task_root"] == "/var/task"
    # The script's stderr is the function's log.
    assert '{"n": 1}' in first.log_lines, first.log
    # The same bootstrap process answers the next event.
    second = invoke(invoke_client, name, {"n": 2})
    assert second.payload["echo"] == {"n": 2}
    assert second.payload["pid"] == first.payload["pid"]
    assert second.report()["init"] is None


def test_no_execution_env_variable_for_custom_runtimes(invoke_client, new_function):
    name = provided_fn(
        new_function, {"bootstrap": (TUTORIAL_BOOTSTRAP, 0o755), "function.sh": TUTORIAL_FUNCTION}
    )
    assert invoke(invoke_client, name, {}).payload["exec_env"] == "absent"


def test_shell_bootstrap_reports_function_error(invoke_client, new_function):
    name = provided_fn(new_function, {"bootstrap": (ERROR_BOOTSTRAP, 0o755)})
    inv = invoke(invoke_client, name, {})
    assert inv.status == 200
    assert inv.function_error == "Unhandled"
    assert inv.payload == {"errorMessage": "the script said no", "errorType": "Custom.ShellFailure"}


def test_shell_bootstrap_init_error(invoke_client, new_function):
    name = provided_fn(new_function, {"bootstrap": (INIT_ERROR_BOOTSTRAP, 0o755)})
    inv = invoke(invoke_client, name, {})
    assert inv.function_error == "Unhandled"
    assert inv.payload == {"errorMessage": "config missing", "errorType": "Custom.InitFailed"}


def test_bootstrap_exiting_at_init_is_exit_error(invoke_client, new_function):
    name = provided_fn(
        new_function, {"bootstrap": ("#!/bin/sh\necho 'giving up' >&2\nexit 5\n", 0o755)}
    )
    inv = invoke(invoke_client, name, {})
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorType"] == "Runtime.ExitError"
    assert inv.payload["errorMessage"] == (
        f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status 5"
    )
    assert "giving up" in inv.log, inv.log


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"function.sh": TUTORIAL_FUNCTION}, id="missing"),
        pytest.param({"bootstrap": (TUTORIAL_BOOTSTRAP, 0o644)}, id="not-executable"),
    ],
)
def test_unusable_bootstrap_is_invalid_entrypoint(invoke_client, new_function, files):
    inv = invoke(invoke_client, provided_fn(new_function, files), {})
    assert inv.status == 200
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorType"] == "Runtime.InvalidEntrypoint", inv.payload
    assert "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]" in inv.payload[
        "errorMessage"
    ]
