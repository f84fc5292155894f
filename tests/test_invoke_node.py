"""Invoking nodejs20.x functions: async and callback handlers, CommonJS and ES modules, the
context object, thrown errors and handler-resolution errors."""

import pytest

from helpers import REGION, client_context, function_arn, invoke, make_zip

RUNTIME = "nodejs20.x"

INTROSPECT_CJS = """
const ENV_ID = require('crypto').randomUUID();
let calls = 0;
exports.handler = async (event, context) => {
  calls += 1;
  return {
    event,
    envId: ENV_ID,
    calls,
    env: process.env,
    cwd: process.cwd(),
    context: {
      awsRequestId: context.awsRequestId,
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      invokedFunctionArn: context.invokedFunctionArn,
      memoryLimitInMB: context.memoryLimitInMB,
      logGroupName: context.logGroupName,
      logStreamName: context.logStreamName,
      remaining: context.getRemainingTimeInMillis(),
      clientContext: context.clientContext ?? null,
    },
  };
};
"""


def node_fn(new_function, files, handler="index.handler", **overrides):
    return new_function(
        zip_bytes=make_zip(files), Runtime=RUNTIME, Handler=handler, **overrides
    )["FunctionName"]


@pytest.fixture(scope="module")
def introspect(module_new_function):
    return module_new_function(
        zip_bytes=make_zip({"index.js": INTROSPECT_CJS}),
        Runtime=RUNTIME,
        Handler="index.handler",
        MemorySize=192,
        Timeout=6,
        Environment={"Variables": {"STAGE": "test"}},
    )["FunctionName"]


def test_async_handler_in_commonjs(invoke_client, introspect):
    inv = invoke(invoke_client, introspect, {"a": [1, 2]})
    assert inv.status == 200
    assert inv.function_error is None, inv
    assert inv.executed_version == "$LATEST"
    assert inv.payload["event"] == {"a": [1, 2]}
    assert inv.payload["cwd"] == "/var/task"


def test_context_object(invoke_client, introspect):
    inv = invoke(invoke_client, introspect, {})
    ctx = inv.payload["context"]
    assert ctx["awsRequestId"] == inv.request_id
    assert ctx["functionName"] == introspect
    assert ctx["functionVersion"] == "$LATEST"
    assert ctx["invokedFunctionArn"] == function_arn(introspect)
    assert ctx["memoryLimitInMB"] == "192"
    assert ctx["logGroupName"] == f"/aws/lambda/{introspect}"
    assert ctx["logStreamName"] == inv.payload["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < ctx["remaining"] <= 6000, ctx["remaining"]


def test_client_context(invoke_client, introspect):
    inv = invoke(invoke_client, introspect, {}, ClientContext=client_context(custom={"user": "u1"}))
    assert inv.payload["context"]["clientContext"]["custom"] == {"user": "u1"}


def test_environment(invoke_client, introspect):
    env = invoke(invoke_client, introspect, {}).payload["env"]
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x"
    assert env["_HANDLER"] == "index.handler"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == introspect
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "192"
    assert env["AWS_REGION"] == REGION
    assert env["AWS_LAMBDA_RUNTIME_API"]
    assert env["STAGE"] == "test"


def test_warm_invokes_keep_module_state(invoke_client, new_function):
    name = node_fn(new_function, {"index.js": INTROSPECT_CJS})
    first = invoke(invoke_client, name, {})
    second = invoke(invoke_client, name, {})
    assert first.report()["init"] is not None, first.log
    assert second.report()["init"] is None, second.log
    assert first.payload["envId"] == second.payload["envId"]
    assert (first.payload["calls"], second.payload["calls"]) == (1, 2)


def test_callback_handler(invoke_client, new_function):
    source = """
exports.handler = (event, context, callback) => {
  setTimeout(() => callback(null, { via: 'callback', event }), 20);
};
"""
    inv = invoke(invoke_client, node_fn(new_function, {"index.js": source}), {"k": 1})
    assert inv.function_error is None, inv
    assert inv.payload == {"via": "callback", "event": {"k": 1}}


def test_esm_mjs_handler(invoke_client, new_function):
    source = """
import { randomUUID } from 'node:crypto';
export const handler = async (event) => ({ esm: true, id: randomUUID().length, event });
"""
    inv = invoke(invoke_client, node_fn(new_function, {"index.mjs": source}), {"m": 1})
    assert inv.function_error is None, inv
    assert inv.payload == {"esm": True, "id": 36, "event": {"m": 1}}


def test_esm_js_with_type_module(invoke_client, new_function):
    files = {
        "package.json": '{"type": "module"}',
        "index.js": "export const handler = async (event) => ({ module: 'esm-js', event });\n",
    }
    inv = invoke(invoke_client, node_fn(new_function, files), {"j": 1})
    assert inv.function_error is None, inv
    assert inv.payload == {"module": "esm-js", "event": {"j": 1}}


def test_handler_in_subdirectory_with_local_require(invoke_client, new_function):
    files = {
        "src/lib.js": "exports.triple = (n) => 3 * n;\n",
        "src/app.js": "const { triple } = require('./lib');\n"
                      "exports.run = async (event) => triple(event.n);\n",
    }
    inv = invoke(invoke_client, node_fn(new_function, files, handler="src/app.run"), {"n": 5})
    assert inv.function_error is None, inv
    assert inv.payload == 15


def test_get_remaining_time_counts_down(invoke_client, new_function):
    source = """
exports.handler = async (event, context) => {
  const before = context.getRemainingTimeInMillis();
  await new Promise((r) => setTimeout(r, 300));
  return [before, context.getRemainingTimeInMillis()];
};
"""
    before, after = invoke(
        invoke_client, node_fn(new_function, {"index.js": source}, Timeout=4), {}
    ).payload
    assert 3000 < before <= 4000, before
    assert 250 <= before - after < 2000, (before, after)


def test_handler_returning_undefined_answers_null(invoke_client, new_function):
    inv = invoke(
        invoke_client, node_fn(new_function, {"index.js": "exports.handler = async () => {};\n"}), {}
    )
    assert inv.function_error is None, inv
    assert inv.raw == b"null"


# --- errors ----------------------------------------------------------------


def test_thrown_error_payload(invoke_client, new_function):
    source = """
class ValidationError extends Error {
  constructor(message) { super(message); this.name = 'ValidationError'; }
}
exports.handler = async (event) => { throw new ValidationError(`bad input ${event.v}`); };
"""
    inv = invoke(invoke_client, node_fn(new_function, {"index.js": source}), {"v": 7})
    assert inv.status == 200
    assert inv.function_error == "Unhandled"
    body = inv.payload
    assert body["errorType"] == "ValidationError"
    assert body["errorMessage"] == "bad input 7"
    assert isinstance(body["trace"], list) and body["trace"][0].startswith("ValidationError: bad input 7")
    assert any("index.js" in line for line in body["trace"]), body["trace"]


def test_rejected_promise_is_a_function_error(invoke_client, new_function):
    source = "exports.handler = () => Promise.reject(new TypeError('nope'));\n"
    inv = invoke(invoke_client, node_fn(new_function, {"index.js": source}), {})
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorType"] == "TypeError"
    assert inv.payload["errorMessage"] == "nope"


def test_callback_error_is_a_function_error(invoke_client, new_function):
    source = "exports.handler = (event, context, cb) => cb(new Error('callback failure'));\n"
    inv = invoke(invoke_client, node_fn(new_function, {"index.js": source}), {})
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorType"] == "Error"
    assert inv.payload["errorMessage"] == "callback failure"
    assert isinstance(inv.payload["trace"], list)


def test_function_error_keeps_the_environment(invoke_client, new_function):
    source = """
const ENV_ID = require('crypto').randomUUID();
exports.handler = async (event) => { if (event.fail) throw new Error('asked to'); return ENV_ID; };
"""
    name = node_fn(new_function, {"index.js": source})
    first = invoke(invoke_client, name, {}).payload
    assert invoke(invoke_client, name, {"fail": True}).function_error == "Unhandled"
    assert invoke(invoke_client, name, {}).payload == first


@pytest.mark.parametrize(
    "handler,files,error_type",
    [
        pytest.param("missing.handler", {"index.js": "exports.handler = async () => 1;\n"},
                     "Runtime.ImportModuleError", id="import-module-error"),
        pytest.param("index.nothere", {"index.js": "exports.handler = async () => 1;\n"},
                     "Runtime.HandlerNotFound", id="handler-not-found"),
        pytest.param("index.handler", {"index.js": "exports.handler = async () => {\n"},
                     "Runtime.UserCodeSyntaxError", id="syntax-error"),
        pytest.param("index", {"index.js": "exports.handler = async () => 1;\n"},
                     "Runtime.MalformedHandlerName", id="malformed-handler-name"),
    ],
)
def test_handler_errors_are_function_errors(invoke_client, new_function, handler, files, error_type):
    inv = invoke(invoke_client, node_fn(new_function, files, handler=handler), {})
    assert inv.status == 200
    assert inv.function_error == "Unhandled", inv
    assert inv.payload["errorType"] == error_type, inv.payload
    assert inv.payload["errorMessage"], inv.payload


def test_error_thrown_at_module_load_is_reported(invoke_client, new_function):
    source = "throw new Error('cannot start');\nexports.handler = async () => 1;\n"
    inv = invoke(invoke_client, node_fn(new_function, {"index.js": source}), {})
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorMessage"].endswith("cannot start"), inv.payload


def test_process_exit_mid_invoke_is_exit_error_and_next_invoke_works(invoke_client, new_function):
    source = """
exports.handler = async (event) => {
  if (event.exit) { process.exit(3); }
  return 'alive';
};
"""
    name = node_fn(new_function, {"index.js": source})
    inv = invoke(invoke_client, name, {"exit": True})
    assert inv.function_error == "Unhandled"
    assert inv.payload["errorType"] == "Runtime.ExitError"
    assert inv.payload["errorMessage"] == (
        f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status 3"
    )
    after = invoke(invoke_client, name, {})
    assert after.function_error is None, after
    assert after.payload == "alive"
