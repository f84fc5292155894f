"""Stratus managed-runtime bootstrap for the python3.9 - python3.13 runtimes.

The platform starts it as ``pythonX.Y -s -S /var/runtime/bootstrap.py SDK_DIR`` with the
function's code as the working directory. It imports the handler named by ``_HANDLER`` once, then loops on the Lambda
Runtime API at ``AWS_LAMBDA_RUNTIME_API``: take the next event, call the handler, post the result
or the error. Handler resolution, the context object, error shapes and log lines follow AWS's own
Python runtime, so a function behaves here as it does on AWS Lambda.

Standard library only; the start-up imports are kept to what the loop needs, because every cold
start pays for them.
"""

import importlib
import json
import logging
import os
import site
import socket
import sys
import time
import traceback

_API_PREFIX = "/2018-06-01/runtime"
_JSON = "application/json"

# Request id of the invocation in progress, for log records; "" before the first one (as AWS).
_request_id = ""


class _RuntimeApiError(Exception):
    """The Runtime API failed or answered outside its contract; the runtime can only exit."""


class _Disconnected(Exception):
    """The server closed the connection before a complete response."""


class _RuntimeApi:
    """Runtime API client over one keep-alive HTTP/1.1 connection.

    Written on ``socket`` rather than ``http.client``: importing http.client (email parser, ssl)
    costs more at start-up than everything else this runtime imports, and its header parsing is
    the largest per-invoke cost. The peer is the platform's Runtime API, so responses need only
    what HTTP/1.1 allows it to send: Content-Length, chunked or close-delimited bodies.
    """

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self._address = (host.strip("[]"), int(port))
        self._host = address
        self._sock = None
        self._rfile = None

    def next(self):
        status, headers, body = self._request("GET", "/invocation/next", b"", "")
        if status != 200:
            raise _RuntimeApiError("GET /invocation/next answered %d: %r" % (status, body[:200]))
        return headers, body

    def restore_next(self):
        # SnapStart: blocks until the platform restores this environment for a cold start.
        status, _, body = self._request("GET", "/restore/next", b"", "")
        if status != 200:
            raise _RuntimeApiError("GET /restore/next answered %d: %r" % (status, body[:200]))

    def post(self, path, body, content_type=_JSON, error_type=None):
        extra = "Content-Type: %s\r\n" % content_type
        if error_type is not None:
            extra += "Lambda-Runtime-Function-Error-Type: %s\r\n" % _header_safe(error_type)
        status, _, answer = self._request("POST", path, body, extra)
        if status >= 500:
            raise _RuntimeApiError("POST %s answered %d: %r" % (path, status, answer[:200]))
        if status >= 300:
            # The platform has settled the invocation on its side (e.g. 413, payload too large):
            # say so and carry on with the next one.
            sys.stderr.write(
                "Runtime API rejected POST %s%s: %d %r\n" % (_API_PREFIX, path, status, answer[:200])
            )

    def _request(self, method, path, body, extra_headers):
        message = (
            "%s %s%s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n"
            % (method, _API_PREFIX, path, self._host, extra_headers, len(body))
        ).encode("latin-1") + body
        reused = self._sock is not None
        while True:
            if self._sock is None:
                self._connect()
            try:
                self._sock.sendall(message)
                return self._read_response()
            except (ConnectionError, _Disconnected):
                self._close()
                # A kept-alive connection may have been closed by the server while idle: retry
                # once on a fresh one. A fresh connection failing is a real failure.
                if not reused:
                    raise
                reused = False

    def _connect(self):
        host, port = self._address
        try:
            # A numeric address (what the platform gives) is connected to directly: the first
            # getaddrinfo() of a process reads the resolver's configuration and costs 1.5 to 6
            # ms of a cold start.
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            socket.inet_pton(family, host)
        except OSError:
            sock = socket.create_connection(self._address)
        else:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.connect((host, port))
            except OSError:
                sock.close()
                raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._rfile = sock.makefile("rb")

    def _close(self):
        if self._sock is not None:
            self._rfile.close()
            self._sock.close()
        self._sock = self._rfile = None

    def _read_response(self):
        rfile = self._rfile
        line = rfile.readline(65537)
        if not line:
            raise _Disconnected()
        status = int(line.split(None, 2)[1])
        headers = {}
        while True:
            line = rfile.readline(65537)
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise _Disconnected()
            name, _, value = line.partition(b":")
            name = name.strip().lower().decode("latin-1")
            headers[name] = value.strip().decode("utf-8", "replace")

        length = headers.get("content-length")
        if status < 200 or status in (204, 304):
            body = b""
        elif length is not None:
            body = rfile.read(int(length))
            if len(body) != int(length):
                raise _Disconnected()
        elif "chunked" in headers.get("transfer-encoding", ""):
            body = self._read_chunked()
        else:
            body = rfile.read()
            self._close()
            return status, headers, body
        if headers.get("connection", "").lower() == "close":
            self._close()
        return status, headers, body

    def _read_chunked(self):
        rfile = self._rfile
        chunks = []
        while True:
            line = rfile.readline(65537)
            if not line:
                raise _Disconnected()
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                break
            chunk = rfile.read(size)
            if len(chunk) != size:
                raise _Disconnected()
            chunks.append(chunk)
            rfile.readline(65537)
        while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)


def _header_safe(value):
    # A header line must be printable ASCII; an exception class may be named otherwise.
    return "".join(c if " " <= c <= "~" else "?" for c in value)


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id,
            self.cognito_identity_pool_id,
        )


class Client:
    __slots__ = (
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    )


class ClientContext:
    __slots__ = ("custom", "env", "client")


def _object_from_dict(cls, values):
    if values is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, values.get(field))
    return obj


def _parse_json_header(value, name):
    try:
        return json.loads(value)
    except Exception as e:
        message = "Unable to parse %s JSON: %s" % (name, e)
        raise _Fault("Runtime.LambdaContextUnmarshalError", message)


class LambdaContext:
    """The handler's ``context``: the attributes and types of AWS's Python runtime.

    As on AWS, ``memory_limit_in_mb`` is the environment's string and ``identity`` is always an
    object (its fields None when the invoke carried no Cognito identity).
    """

    def __init__(self, request_id, headers, env):
        self.aws_request_id = request_id
        (
            self.function_name,
            self.function_version,
            self.memory_limit_in_mb,
            self.log_group_name,
            self.log_stream_name,
        ) = env
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn")
        self._deadline_ms = int(headers.get("lambda-runtime-deadline-ms", 0))

        client_context = headers.get("lambda-runtime-client-context")
        self.client_context = None
        if client_context:
            self.client_context = _object_from_dict(
                ClientContext, _parse_json_header(client_context, "Client Context")
            )
            self.client_context.client = _object_from_dict(Client, self.client_context.client)

        self.identity = _object_from_dict(CognitoIdentity, {})
        cognito_identity = headers.get("lambda-runtime-cognito-identity")
        if cognito_identity:
            values = _parse_json_header(cognito_identity, "Cognito Identity")
            self.identity.cognito_identity_id = values.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = values.get("cognitoIdentityPoolId")

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
            "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
            "invoked_function_arn=%s,client_context=%s,identity=%s])"
            % (
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
            )
        )


class _Fault(Exception):
    """A failure the runtime names itself (``Runtime.*``), with AWS's message and trace."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


def _make_error(message, error_type, stack_trace, request_id):
    # Key order and defaults as AWS's Python runtime sends them.
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id,
        "stackTrace": stack_trace or [],
    }


def _error_from_exception(exc, request_id):
    if isinstance(exc, _Fault):
        return _make_error(exc.message, exc.error_type, exc.trace, request_id)
    # The leading frames are this file calling into user code; AWS leaves them out.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals is globals():
        tb = tb.tb_next
    # Plain tuples, as AWS formats them: without the column carets of Python 3.11+.
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    return _make_error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def _log_error(error):
    # AWS's text: "[ERROR] Type: message", then the traceback one line at a time.
    description = "[ERROR]"
    if error["errorType"]:
        description += " " + error["errorType"]
    if error["errorMessage"]:
        if error["errorType"]:
            description += ":"
        description += " " + error["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for element in error["stackTrace"]:
        lines.extend(element.splitlines() if element else [""])
    _write_record("\n".join(lines) + "\n")


def _write_record(text):
    """Writes one log record: one event however many lines it has. A multi-line record goes
    out as a frame the platform reads whole (RS, its byte length, RS, the record), as AWS's
    runtime frames records on its telemetry descriptor."""
    body = text[:-1] if text.endswith("\n") else text
    if "\n" not in body:
        sys.stdout.write(text)
        return
    data = body.encode("utf-8", "backslashreplace")
    frame = b"\x1e%d\x1e" % len(data) + data + b"\n"
    # What print() wrote before goes out first; then the frame in one piece on the descriptor.
    for stream in (sys.__stdout__, sys.__stderr__):
        stream.flush()
    while frame:
        frame = frame[os.write(1, frame) :]


def _load_handler(handler):
    """Import the handler's module and return the function; messages are AWS's."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise _Fault(
                "Runtime.BuiltInModuleConflict",
                "Cannot use built-in module %s as a handler module" % modname,
            )
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise _Fault("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        message = "Syntax error in module '%s': %s" % (modname, e)
        raise _Fault("Runtime.UserCodeSyntaxError", message, trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        message = "Handler '%s' missing on module '%s'" % (fname, modname)
        raise _Fault("Runtime.HandlerNotFound", message)


def _json_default(obj):
    # Decimal is what DynamoDB hands out; AWS's runtime writes it as a JSON number.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(obj, decimal.Decimal):
        if obj.is_finite() and obj == obj.to_integral_value():
            return int(obj)
        return float(obj)
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


def _writes_utf8_json():
    # AWS's python3.12 and later runtimes write non-ASCII text as is, earlier ones as \u escapes.
    runtime = os.environ.get("AWS_EXECUTION_ENV", "")
    if runtime.startswith("AWS_Lambda_python3."):
        minor = runtime[len("AWS_Lambda_python3.") :]
        if minor.isdigit():
            return int(minor) >= 12
    return sys.version_info >= (3, 12)


class _LambdaLogHandler(logging.Handler):
    """Root-logger handler with AWS's line format, so ``logging`` output shows as on AWS."""

    def emit(self, record):
        record.aws_request_id = _request_id
        _write_record(self.format(record))


def _install_log_handler():
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = _LambdaLogHandler()
    handler.setFormatter(formatter)
    logging.getLogger().addHandler(handler)


def _set_up_sys_path(task_root, sdk):
    """sys.path as AWS's python runtimes order it: the function's code, the layers, the
    runtime's libraries (its SDK, which the platform passes as ``sdk``), /var/runtime, then the
    standard library. The interpreter runs without ``site`` (-S), so no site-packages of the
    host's interpreter is on it: a function sees what it packaged and what the runtime carries.
    """
    # Python put this file's directory first; it comes back at its own place below.
    here = os.path.dirname(os.path.realpath(__file__))
    if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == here:
        del sys.path[0]
    version = "python%d.%d" % sys.version_info[:2]
    # Where the function's layers are: /opt, or (process isolation, no root of its own) the
    # merged tree's real place, which the platform passes.
    opt = os.environ.pop("_STRATUS_LAYERS_ROOT", "/opt")
    front = [
        task_root,
        os.path.join(opt, "python/lib", version, "site-packages"),
        os.path.join(opt, "python"),
    ]
    if sdk:
        front.append(sdk)
    front.append(os.environ.get("LAMBDA_RUNTIME_DIR") or here)
    sys.path[:0] = [p for p in front if p not in sys.path]
    # Without ``site`` the interactive builtins are missing; user code may call exit() or quit().
    site.setquit()
    site.setcopyright()
    site.sethelper()
    # As on AWS, .pth files shipped in the package are honoured.
    site.addsitedir(task_root)


class _Runtime:
    def __init__(self, api, handler, encode):
        self.api = api
        self.handler = handler
        self.encode = encode
        self.env = tuple(
            os.environ.get(name)
            for name in (
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "AWS_LAMBDA_LOG_STREAM_NAME",
            )
        )
        # The streams as set up at start; flushed before each post so an invocation's output is
        # written before the platform learns the invocation ended.
        self.streams = (sys.stdout, sys.stderr)

    def run_forever(self):
        while True:
            headers, body = self.api.next()
            self.invoke(headers, body)

    def invoke(self, headers, body):
        global _request_id
        request_id = _request_id = headers.get("lambda-runtime-aws-request-id", "")
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)

        try:
            context = LambdaContext(request_id, headers, self.env)
            try:
                event = json.loads(body)
            except ValueError as e:
                raise _Fault("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)
            result = self.handler(event, context)
            if isinstance(result, bytes):
                payload, content_type = result, "application/unknown"
            else:
                try:
                    payload, content_type = self.encode(result).encode(), _JSON
                except Exception as e:
                    raise _Fault("Runtime.MarshalError", "Unable to marshal response: %s" % e)
        except Exception as e:
            error = _error_from_exception(e, request_id)
            _log_error(error)
            self.flush()
            self.api.post(
                "/invocation/%s/error" % request_id,
                self.encode(error).encode(),
                error_type=error["errorType"],
            )
            return
        self.flush()
        self.api.post("/invocation/%s/response" % request_id, payload, content_type)

    def flush(self):
        for stream in self.streams:
            stream.flush()


def _snap_start(api, encode):
    """SnapStart, as AWS's python runtime runs it: the before-snapshot hooks (in reverse order
    of registration), then the wait for a restore; after it, ``random`` is re-seeded and the
    after-restore hooks run (in order). A failing hook ends the environment: before the
    snapshot as an init error, after the restore through ``/restore/error``."""
    from snapshot_restore_py import get_after_restore, get_before_snapshot

    try:
        hooks = get_before_snapshot()
        while hooks:
            func, args, kwargs = hooks.pop()
            func(*args, **kwargs)
    except Exception as e:
        _fail_hook(api, encode, e, "Runtime.BeforeSnapshotError", "/init/error")
    api.restore_next()
    import random

    random.seed()
    try:
        for func, args, kwargs in get_after_restore():
            func(*args, **kwargs)
    except Exception as e:
        _fail_hook(api, encode, e, "Runtime.AfterRestoreError", "/restore/error")


def _fail_hook(api, encode, exc, error_type, path):
    error = _error_from_exception(exc, "")
    error["errorMessage"] = "%s: %s" % (error["errorType"], error["errorMessage"])
    error["errorType"] = error_type
    _log_error(error)
    sys.stdout.flush()
    api.post(path, encode(error).encode(), error_type=error_type)
    sys.exit(1)


def _warm_compiler():
    """Compiles a module's worth of source once while the interpreter waits: the function's
    code arrives without bytecode the runtime may write, so its import compiles it, and the
    first compilation of an interpreter that has so far loaded only cached bytecode pays for
    the compiler's first use (1 to 2 ms of a cold start)."""
    source = (
        "import os\n\nVALUE = {'a': [1, 2.0, 'x'], 'b': None}\n\n\n"
        "class Thing:\n    def __init__(self, n=0):\n        self.n = n\n\n\n"
        "def handler(event, context):\n    for k, v in (event or {}).items():\n"
        "        if isinstance(v, str) and k.startswith('x'):\n"
        "            return f'{k}={v!r}'\n    return {'statusCode': 200, 'body': VALUE}\n"
    )
    compile(source, "<warm-up>", "exec")


def _await_function():
    """A pre-started interpreter (the platform's pre-made sandbox) has imported this runtime
    before any function was chosen: it waits here, on the descriptor the platform names, for
    its function's environment, then takes it as its own. It serves that one function; the
    platform never hands it another."""
    fd = os.environ.pop("_STRATUS_PRESTART_FD", None)
    if fd is None:
        return
    fd = int(fd)
    _warm_compiler()
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    if not chunks:
        sys.exit(0)  # discarded unused
    spec = json.loads(b"".join(chunks))
    os.environ.clear()
    os.environ.update((k, v) for k, v in spec["env"])
    time.tzset()
    os.chdir(os.environ.get("LAMBDA_TASK_ROOT", "/var/task"))


def main():
    _await_function()
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.exit("bootstrap: AWS_LAMBDA_RUNTIME_API is not set")
    # The platform passes where the runtime's SDK is ("" when it is not installed).
    _set_up_sys_path(task_root, sys.argv[1] if len(sys.argv) > 1 else "")
    # Pipes are block-buffered by default; logs must show as they are written.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True, write_through=True)
    _install_log_handler()
    api = _RuntimeApi(address)
    encode = json.JSONEncoder(default=_json_default, ensure_ascii=not _writes_utf8_json()).encode

    try:
        try:
            handler = _load_handler(os.environ.get("_HANDLER", ""))
        except Exception as e:
            error = _error_from_exception(e, "")
            _log_error(error)
            sys.stdout.flush()
            api.post("/init/error", encode(error).encode(), error_type=error["errorType"])
            sys.exit(1)
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
            _snap_start(api, encode)
        _Runtime(api, handler, encode).run_forever()
    except (_RuntimeApiError, OSError, _Disconnected) as e:
        sys.exit("bootstrap: Runtime API at %s failed: %s: %s" % (address, type(e).__name__, e))


if __name__ == "__main__":
    main()
