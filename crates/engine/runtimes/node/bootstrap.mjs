// Stratus managed-runtime bootstrap for the nodejs18.x, nodejs20.x and nodejs22.x runtimes.
//
// The platform starts it as `node /var/runtime/bootstrap.mjs` with the function's code as the
// working directory. It loads the handler named by `_HANDLER` once, then loops on the Lambda
// Runtime API at `AWS_LAMBDA_RUNTIME_API`: take the next event, call the handler, post the result
// or the error. Module resolution, the context object, callback semantics, error shapes and log
// lines follow AWS's own Node.js runtime, so a function behaves here as it does on AWS Lambda.
//
// No dependencies beyond Node's built-in modules.

import { closeSync, existsSync, readFileSync, readSync } from 'node:fs';
import module, { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { format, types } from 'node:util';

// Before anything reads the environment: a pre-started interpreter waits here for its function.
const early = awaitFunction();

const require = createRequire(import.meta.url);

const API = '/2018-06-01/runtime';
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || '/var/task';
// Where AWS's runtime keeps the current request id, read by logging libraries.
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');

// ---------------------------------------------------------------------------------------------
// Errors, named and shaped as AWS's runtime names and shapes them.

function runtimeError(name) {
  const RuntimeError = class extends Error {};
  RuntimeError.prototype.name = `Runtime.${name}`;
  return RuntimeError;
}
const ImportModuleError = runtimeError('ImportModuleError');
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
const MalformedStreamingHandler = runtimeError('MalformedStreamingHandler');
const InvalidStreamingOperation = runtimeError('InvalidStreamingOperation');
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
NodeJsExit.prototype.name = 'Runtime.NodeJsExit';
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

function isErrorLike(value) {
  return (
    value &&
    typeof value.name === 'string' &&
    typeof value.message === 'string' &&
    typeof value.stack === 'string' &&
    value.name &&
    value.message &&
    value.stack
  );
}

// The body posted to /error and /init/error.
function toRapidResponse(error) {
  try {
    if (types.isNativeError(error) || isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

// The JSON that follows "Invoke Error" and friends in the function's log.
function toFormatted(error) {
  const withProperties = (_key, value) => {
    if (!(value instanceof Error)) return value;
    const out = Object.assign(
      { errorType: value.name, errorMessage: value.message, code: value.code },
      value,
    );
    if (typeof value.stack === 'string') out.stack = value.stack.split('\n');
    return out;
  };
  try {
    return '\t' + JSON.stringify(error, withProperties);
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

function logError(label, error) {
  console.error(label, toFormatted(error instanceof Error ? error : new Error(error)));
}

// ---------------------------------------------------------------------------------------------
// Logging: every console method writes one record "<ISO time>\t<request id>\t<LEVEL>\t<message>"
// to stdout. Writes to a pipe or file are synchronous in Node on Linux, so a record is out before
// the result that follows it is posted. A record with several lines (an error's stack) goes out
// as one frame (RS, its byte length, RS, the record), which the platform stores as one event, as
// AWS's runtime frames records on its telemetry descriptor.

function writeRecord(line) {
  if (!line.includes('\n')) {
    process.stdout.write(`${line}\n`);
    return;
  }
  process.stdout.write(`\x1e${Buffer.byteLength(line)}\x1e${line}\n`);
}

function patchConsole() {
  const writer = (level) => (message, ...params) => {
    const text = format(message, ...params);
    writeRecord(`${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level}\t${text}`);
  };
  console.trace = writer('TRACE');
  console.debug = writer('DEBUG');
  console.info = writer('INFO');
  console.log = console.info;
  console.warn = writer('WARN');
  console.error = writer('ERROR');
  console.fatal = writer('FATAL');
}

// ---------------------------------------------------------------------------------------------
// Loading the handler: "dir/module.export.path" resolved the way AWS resolves it.

// `host:port` or `[v6]:port`.
function parseAddress(address) {
  const colon = address.lastIndexOf(':');
  return {
    host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'),
    port: Number(address.slice(colon + 1)),
  };
}

// A pre-started interpreter (the platform's pre-made sandbox) has loaded this runtime before
// any function was chosen: it blocks here on the descriptor the platform names until its
// function's environment arrives, then takes it as its own. It serves that one function; the
// platform never hands it another. The module's constants below are read after this returns.
function awaitFunction() {
  const named = process.env._STRATUS_PRESTART_FD;
  if (named === undefined) return null;
  delete process.env._STRATUS_PRESTART_FD;
  const fd = Number(named);
  // What a start pays for on first use is paid while waiting: the output streams, and the
  // Runtime API's connection (its address is the same for every function; the platform
  // accepts it once the function is chosen).
  void process.stdout, void process.stderr;
  const waitingAt = process.env.AWS_LAMBDA_RUNTIME_API;
  let socket = null;
  if (waitingAt) {
    const { host, port } = parseAddress(waitingAt);
    socket = net.connect(port, host);
  }
  const chunks = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if (err.code === 'EINTR' || err.code === 'EAGAIN') continue;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  closeSync(fd);
  if (chunks.length === 0) process.exit(0); // discarded unused
  const spec = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  for (const key of Object.keys(process.env)) delete process.env[key];
  // Setting TZ here resets Node's time zone, as a start with it would have set it.
  for (const [key, value] of spec.env) process.env[key] = value;
  // CommonJS reads NODE_PATH once, at start-up.
  module._initPaths();
  process.chdir(process.env.LAMBDA_TASK_ROOT || '/var/task');
  if (socket && waitingAt !== process.env.AWS_LAMBDA_RUNTIME_API) {
    socket.destroy();
    return null;
  }
  return socket;
}

async function loadHandler(taskRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = /^([^.]*)\.(.*)$/.exec(handlerString);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, exportPath] = match;

  let app;
  try {
    app = await loadModule(taskRoot, moduleRoot, moduleName);
  } catch (err) {
    if (err instanceof SyntaxError) throw new UserCodeSyntaxError(err);
    if (err?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(err);
    throw err;
  }
  const handler = exportPath.split('.').reduce((obj, key) => obj && obj[key], app);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

// ES modules ignore NODE_PATH, where the runtime's SDK (/var/runtime/node_modules) and the
// layers' packages are; AWS's runtime resolves bare imports from there too. A resolve hook
// retries a bare specifier that Node's own resolution did not find from each NODE_PATH
// directory in order, so the function's own node_modules still wins. Registered only before the
// first ES module import: a CommonJS function never pays for the hook.
const ESM_FALLBACK = `
const dirs = (process.env.NODE_PATH || '').split(':').filter(Boolean);
const bare = (s) => !s.startsWith('.') && !s.startsWith('/') && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(s);
const from = (dir) => 'file://' + encodeURI(dir.endsWith('/') ? dir : dir + '/');
export function SYNC_OR_ASYNC_resolve(specifier, context, nextResolve) {
  const retry = (err) => {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !bare(specifier)) throw err;
    const tried = dirs.reduce((found, dir) => found.catch(() => nextResolve(specifier, { ...context, parentURL: from(dir) })), Promise.reject(err));
    return tried.catch(() => { throw err; });
  };
  try { const r = nextResolve(specifier, context); return r?.then ? r.catch(retry) : r; }
  catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !bare(specifier)) throw err;
    for (const dir of dirs) { try { return nextResolve(specifier, { ...context, parentURL: from(dir) }); } catch {} }
    throw err;
  }
}`;
let esmFallback = false;
function registerEsmFallback() {
  if (esmFallback || !process.env.NODE_PATH) return;
  esmFallback = true;
  if (typeof module.registerHooks === 'function') {
    // Synchronous, in this thread (Node 22.15 and later).
    const source = ESM_FALLBACK.replace('export function SYNC_OR_ASYNC_resolve', 'return function');
    module.registerHooks({ resolve: new Function('process', source)(process) });
  } else if (typeof module.register === 'function') {
    const source = ESM_FALLBACK.replace('SYNC_OR_ASYNC_resolve', 'resolve');
    module.register(`data:text/javascript,${encodeURIComponent(source)}`, import.meta.url);
  }
}

function importEsm(file) {
  registerEsmFallback();
  return import(pathToFileURL(file).href);
}

// AWS's order: the exact path, then .js (CommonJS unless the nearest package.json says
// "type": "module"), .mjs, .cjs, and finally Node's own resolution from the task root. CommonJS
// goes through require() rather than import() so that every property of module.exports is a
// handler candidate, not only those Node's static analysis detects as named exports.
async function loadModule(taskRoot, moduleRoot, name) {
  const base = path.resolve(taskRoot, moduleRoot, name);
  if (existsSync(base)) return require(base);
  if (existsSync(`${base}.js`)) {
    return isTypeModule(path.dirname(base)) ? importEsm(`${base}.js`) : require(`${base}.js`);
  }
  if (existsSync(`${base}.mjs`)) return importEsm(`${base}.mjs`);
  if (existsSync(`${base}.cjs`)) return require(`${base}.cjs`);
  return require(require.resolve(name, { paths: [taskRoot, moduleRoot] }));
}

function isTypeModule(folder) {
  for (;;) {
    if (folder.endsWith('/node_modules')) return false;
    const manifest = path.join(folder, 'package.json');
    if (existsSync(manifest)) {
      try {
        return JSON.parse(readFileSync(manifest, 'utf8'))?.type === 'module';
      } catch (err) {
        console.warn(
          `${manifest} cannot be read, it will be ignored for ES module detection purposes.`,
          err,
        );
        return false;
      }
    }
    const parent = path.dirname(folder);
    if (parent === folder) return false;
    folder = parent;
  }
}

// ---------------------------------------------------------------------------------------------
// Runtime API client: one keep-alive HTTP/1.1 connection, one request at a time.
//
// Written on `net` rather than `http`: Node's HTTP client more than doubles the time an
// invocation spends in this file. The peer is the platform's Runtime API, so responses need only
// what HTTP/1.1 allows it to send: Content-Length, chunked or close-delimited bodies.

class RuntimeApi {
  constructor(address) {
    ({ host: this.host, port: this.port } = parseAddress(address));
    this.hostHeader = address;
    this.socket = null;
    this.queue = Promise.resolve();
    this.pending = null; // {message, reused, resolve, reject} of the request on the wire
    this.head = null; // the pending response's status and headers, once received
    this.chunks = [];
    this.received = 0;
    this.lastError = null;
  }

  request(method, apiPath, body = '', extraHeaders = '') {
    const message =
      `${method} ${apiPath} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n${extraHeaders}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const response = this.queue.then(
      () => new Promise((resolve, reject) => this.send({ message, reused: null, resolve, reject })),
    );
    this.queue = response.catch(() => {});
    return response;
  }

  send(pending) {
    pending.reused ??= this.socket !== null;
    this.pending = pending;
    this.head = null;
    this.chunks = [];
    this.received = 0;
    const socket = this.socket ?? this.connect();
    // Only an exchange in progress keeps the process alive: an idle connection must not, or
    // the empty-event-loop rules of callback handlers would never apply.
    socket.ref();
    socket.write(pending.message);
  }

  connect() {
    this.lastError = null;
    return this.adopt(net.connect(this.port, this.host));
  }

  // Takes a connection made before this client existed (see `awaitFunction`).
  adopt(socket) {
    this.lastError = null;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(socket, chunk));
    socket.on('error', (err) => {
      this.lastError = err; // 'close' follows and settles the request
    });
    socket.on('close', () => this.onClose(socket));
    return (this.socket = socket);
  }

  onData(socket, chunk) {
    if (this.pending === null) return socket.destroy(); // bytes nobody asked for
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.head === null) {
      const bytes = Buffer.concat(this.chunks);
      const end = bytes.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = parseHead(bytes.toString('utf8', 0, end));
      this.chunks = [bytes.subarray(end + 4)];
      this.received = bytes.length - end - 4;
    }
    const body = this.takeBody(false);
    if (body === undefined) return;
    if (body === null) return socket.destroy(new Error('malformed chunked body'));
    this.finish(body);
  }

  // The complete body, or undefined while more is to come (null if it cannot be decoded).
  takeBody(closed) {
    const { status, headers } = this.head;
    if (status < 200 || status === 204 || status === 304) return Buffer.alloc(0);
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      return this.received >= length ? Buffer.concat(this.chunks).subarray(0, length) : undefined;
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      // A chunked message ends with a blank line: decode only once one may have arrived.
      const last = this.chunks[this.chunks.length - 1];
      const tail = last.length >= 4 ? last : Buffer.concat(this.chunks.slice(-4));
      if (tail.toString('latin1', tail.length - 4) !== '\r\n\r\n') return undefined;
      return decodeChunked(Buffer.concat(this.chunks));
    }
    return closed ? Buffer.concat(this.chunks) : undefined;
  }

  finish(body) {
    const { pending, head } = this;
    this.pending = this.head = null;
    this.chunks = [];
    const socket = this.socket;
    if (socket !== null && /close/i.test(head.headers.connection ?? '')) {
      this.socket = null;
      socket.destroy();
    } else {
      socket?.unref();
    }
    pending.resolve({ status: head.status, headers: head.headers, body: body.toString('utf8') });
  }

  onClose(socket) {
    if (socket !== this.socket) return;
    this.socket = null;
    const pending = this.pending;
    if (pending === null) return; // an idle connection closed: the next request opens another
    const body = this.head === null ? undefined : this.takeBody(true);
    if (body) return this.finish(body);
    if (pending.reused && this.received === 0 && this.head === null) {
      // The server closed the kept-alive connection as we reused it: retry once on a new one.
      pending.reused = false;
      return this.send(pending);
    }
    this.pending = null;
    pending.reject(this.lastError ?? new Error('the Runtime API closed the connection'));
  }
}

function parseHead(text) {
  const lines = text.split('\r\n');
  const headers = {};
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon > 0) {
      headers[lines[i].slice(0, colon).trim().toLowerCase()] = lines[i].slice(colon + 1).trim();
    }
  }
  return { status: Number(lines[0].split(' ')[1]), headers };
}

// Undefined until the last chunk has arrived; null if the framing is broken.
function decodeChunked(bytes) {
  const parts = [];
  let pos = 0;
  for (;;) {
    const eol = bytes.indexOf('\r\n', pos);
    if (eol < 0) return undefined;
    const size = parseInt(bytes.toString('latin1', pos, eol), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return bytes.indexOf('\r\n\r\n', eol) < 0 ? undefined : Buffer.concat(parts);
    if (bytes.length < eol + 2 + size + 2) return undefined;
    parts.push(bytes.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}

const api = new RuntimeApi(process.env.AWS_LAMBDA_RUNTIME_API ?? '');
if (early) api.adopt(early);

async function post(apiPath, body, extraHeaders = '') {
  const headers = `Content-Type: application/json\r\n${extraHeaders}`;
  const res = await api.request('POST', apiPath, body, headers);
  if (res.status >= 500) throw new Error(`POST ${apiPath} answered ${res.status}: ${res.body}`);
  if (res.status >= 300) {
    // The platform has settled the invocation on its side (e.g. 413, payload too large).
    process.stderr.write(`Runtime API rejected POST ${apiPath}: ${res.status} ${res.body}\n`);
  }
}

function postError(apiPath, error) {
  const body = toRapidResponse(error);
  // A header line must be printable ASCII; an error's name may be anything.
  const errorType = String(body.errorType).replace(/[^\x20-\x7e]/g, '?');
  const header = `Lambda-Runtime-Function-Error-Type: ${errorType}\r\n`;
  return post(apiPath, JSON.stringify(body), header);
}

// ---------------------------------------------------------------------------------------------
// Invocations.

const ENV = {
  functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
  memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
  logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
};

let handler; // set once init has succeeded
let inFlight = null; // request id of the invocation not yet answered to the platform
let onEmptyLoop = null; // how the current invocation ends if the event loop drains first
let crashing = false;

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

// Runs the handler; resolves to {failed, value} however it answers: a promise, the callback,
// context.succeed/fail/done, or nothing at all once the event loop is empty.
function callHandler(headers, body, isAsync) {
  return new Promise((resolve) => {
    let settled = false;
    let answered = false;
    let waitsForEmptyLoop = true;
    const settle = (failed, value) => {
      if (!settled) {
        settled = true;
        resolve({ failed, value });
      }
    };
    // Only the first answer counts, whichever way it comes.
    const once =
      (fn) =>
      (...args) => {
        if (!answered && !settled) {
          answered = true;
          fn(...args);
        }
      };
    const succeed = once((result) => settle(false, result));
    const fail = once((err) => settle(true, err ?? 'handled'));
    const done = once((err, result) => (err != null ? settle(true, err) : settle(false, result)));
    const callback = once((err, result) => {
      if (err != null) settle(true, err);
      else if (!waitsForEmptyLoop) settle(false, result);
      // AWS answers a callback only once everything the handler started has finished.
      else onEmptyLoop = () => settle(false, result);
    });
    // No answer before the loop drains: an async handler's promise can never settle any more,
    // which AWS reports as an error; any other handler just answered null.
    onEmptyLoop = isAsync ? () => settle(true, new NodeJsExit()) : () => settle(false, null);

    try {
      const deadline = Number(headers['lambda-runtime-deadline-ms']);
      const context = {
        get callbackWaitsForEmptyEventLoop() {
          return waitsForEmptyLoop;
        },
        set callbackWaitsForEmptyEventLoop(value) {
          waitsForEmptyLoop = value;
        },
        succeed,
        fail,
        done,
        ...ENV,
        clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
        identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
        invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
        awsRequestId: headers['lambda-runtime-aws-request-id'],
        getRemainingTimeInMillis: () => deadline - Date.now(),
      };
      const result = handler(JSON.parse(body), context, callback);
      if (result && typeof result.then === 'function') result.then(succeed, fail);
    } catch (err) {
      callback(err);
    }
  });
}

// Marks an invocation as in progress (request id for logs, the trace id in the environment)
// and returns its Runtime API path.
function begin(headers) {
  const id = headers['lambda-runtime-aws-request-id'];
  globalThis[REQUEST_ID] = id;
  const traceId = headers['lambda-runtime-trace-id'];
  if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
  else delete process.env._X_AMZN_TRACE_ID;
  inFlight = id;
  return `${API}/invocation/${encodeURIComponent(id)}`;
}

async function invoke(headers, body, isAsync) {
  const idPath = begin(headers);
  const { failed, value } = await callHandler(headers, body, isAsync);
  onEmptyLoop = null;
  let payload;
  if (!failed) {
    try {
      payload = JSON.stringify(value === undefined ? null : value) ?? 'null';
    } catch {
      payload = undefined;
    }
  }
  if (payload !== undefined) {
    await post(`${idPath}/response`, payload);
  } else {
    const error = failed ? value : new Error('Unable to stringify response body');
    logError('Invoke Error', error);
    await postError(`${idPath}/error`, error);
  }
  inFlight = null;
}

// ---------------------------------------------------------------------------------------------
// Response streaming: `awslambda.streamifyResponse(handler)` marks a handler that writes its
// response to a stream, `awslambda.HttpResponseStream.from(stream, metadata)` starts that stream
// with the HTTP prelude function URLs read (JSON, then 8 NUL bytes). The stream is one chunked
// POST to /invocation/{id}/response with `Lambda-Runtime-Function-Response-Mode: streaming`; an
// error ends it with the trailers Lambda-Runtime-Function-Error-Type and -Body (base64 JSON).
// Node's `http` module sends chunked bodies and trailers; it is loaded only for a streaming
// handler, so buffered handlers keep the socket-level client above.

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
const HTTP_PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const ERROR_TYPE_TRAILER = 'Lambda-Runtime-Function-Error-Type';
const ERROR_BODY_TRAILER = 'Lambda-Runtime-Function-Error-Body';

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_PRELUDE_CONTENT_TYPE);
    // JSON text holds no NUL byte, so the 8 NUL bytes mark where the prelude ends.
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

function installAwsLambdaGlobal() {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (off === '1' || off === 'true') return;
  globalThis.awslambda = {
    streamifyResponse: (fn, options) => {
      fn[HANDLER_STREAMING] = STREAM_RESPONSE;
      if (typeof options?.highWaterMark === 'number') {
        fn[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark);
      }
      return fn;
    },
    HttpResponseStream,
  };
}

function isStreaming(fn) {
  const mode = fn[HANDLER_STREAMING];
  if (mode === undefined || mode === null || mode === false) return false;
  if (mode === STREAM_RESPONSE) return true;
  throw new MalformedStreamingHandler('Only response streaming is supported.');
}

let http; // node:http, loaded with the first streaming invocation

// The writable stream a streaming handler writes to; `done` settles when the platform has
// answered the post.
function createResponseStream(idPath, highWaterMark) {
  const req = http.request({
    method: 'POST',
    host: api.host,
    port: api.port,
    path: `${idPath}/response`,
    headers: {
      'Lambda-Runtime-Function-Response-Mode': 'streaming',
      'Transfer-Encoding': 'chunked',
      Trailer: [ERROR_TYPE_TRAILER, ERROR_BODY_TRAILER],
      'Content-Type': 'application/octet-stream',
    },
    highWaterMark,
    agent: false,
  });
  const done = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  let started = false;
  const write = req.write.bind(req);
  const end = req.end.bind(req);
  const start = () => {
    if (started) return;
    started = true;
    if (typeof req._onBeforeFirstWrite === 'function') req._onBeforeFirstWrite((c) => write(c));
  };
  req.setContentType = (contentType) => {
    if (started) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    req.setHeader('Content-Type', contentType);
  };
  req.write = (chunk, encoding, callback) => {
    if (typeof chunk !== 'string' && !Buffer.isBuffer(chunk) && !(chunk instanceof Uint8Array)) {
      chunk = JSON.stringify(chunk);
    }
    start();
    return write(chunk, encoding, callback);
  };
  req.end = (...args) => {
    // A stream ended without a write still starts with its prelude, if it has one.
    if (typeof args[0] !== 'function' && args[0] !== undefined) req.write(args.shift());
    start();
    return end(...args);
  };
  // After its end a stream can no longer say it failed: the error is only logged.
  const fail = (error) => {
    if (req.writableEnded) return;
    const body = toRapidResponse(error);
    const errorType = String(body.errorType).replace(/[^\x20-\x7e]/g, '?');
    req.addTrailers({
      [ERROR_TYPE_TRAILER]: errorType,
      [ERROR_BODY_TRAILER]: Buffer.from(JSON.stringify(body)).toString('base64'),
    });
    end();
  };
  return { stream: req, done, fail };
}

async function invokeStreaming(headers, body) {
  const idPath = begin(headers);
  http ??= await import('node:http');
  const { stream, done, fail } = createResponseStream(idPath, handler[HANDLER_HIGHWATERMARK]);
  const failWith = (error) => {
    logError('Invoke Error', error);
    fail(error);
  };
  try {
    const deadline = Number(headers['lambda-runtime-deadline-ms']);
    const context = {
      callbackWaitsForEmptyEventLoop: true,
      ...ENV,
      clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: headers['lambda-runtime-aws-request-id'],
      getRemainingTimeInMillis: () => deadline - Date.now(),
    };
    const result = handler(JSON.parse(body), stream, context);
    if (!result || typeof result.then !== 'function') {
      failWith(new Error('Streaming does not support non-async handlers.'));
    } else {
      const value = await result;
      if (value !== undefined) console.warn('Streaming handlers ignore return values.');
      if (!stream.writableEnded) failWith(new Error('Response stream is not finished.'));
    }
  } catch (err) {
    failWith(err);
  }
  try {
    const status = await done;
    if (status >= 300) process.stderr.write(`Runtime API rejected the streamed response: ${status}\n`);
  } catch (err) {
    process.stderr.write(`Runtime API failed during the streamed response: ${err?.stack ?? err}\n`);
  }
  inFlight = null;
}

// An error nothing caught: report it against whatever is in progress, then exit as AWS does
// (129 for an exception, 128 for a rejection) so the platform replaces the environment.
function crash(label, error, exitCode) {
  if (crashing) return;
  crashing = true;
  logError(label, error);
  let target = null;
  if (inFlight !== null) target = `${API}/invocation/${encodeURIComponent(inFlight)}/error`;
  else if (handler === undefined) target = `${API}/init/error`;
  (target ? postError(target, error) : Promise.resolve())
    .catch(() => {})
    .then(() => process.exit(exitCode));
}

async function main() {
  patchConsole();
  installAwsLambdaGlobal();
  try {
    handler = await loadHandler(TASK_ROOT, process.env._HANDLER ?? '');
  } catch (err) {
    if (crashing) return;
    crashing = true;
    logError('Uncaught Exception', err);
    await postError(`${API}/init/error`, err);
    process.exit(129);
  }
  const isAsync = handler.constructor?.name === 'AsyncFunction';
  let streaming;
  try {
    streaming = isStreaming(handler);
  } catch (err) {
    crashing = true;
    logError('Uncaught Exception', err);
    await postError(`${API}/init/error`, err);
    process.exit(129);
  }
  for (;;) {
    const next = await api.request('GET', `${API}/invocation/next`);
    if (next.status !== 200) {
      throw new Error(`GET /invocation/next answered ${next.status}: ${next.body}`);
    }
    if (streaming) await invokeStreaming(next.headers, next.body);
    else await invoke(next.headers, next.body, isAsync);
  }
}

process.on('uncaughtException', (err) => crash('Uncaught Exception', err, 129));
process.on('unhandledRejection', (reason, promise) =>
  crash('Unhandled Promise Rejection', new UnhandledPromiseRejection(reason, promise), 128),
);
process.on('beforeExit', () => onEmptyLoop?.());

main().catch((err) => {
  const address = process.env.AWS_LAMBDA_RUNTIME_API;
  process.stderr.write(`bootstrap: Runtime API at ${address} failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
