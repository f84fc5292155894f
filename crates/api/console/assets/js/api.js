// The page's one way to the AWS APIs: every call goes to the console's proxy,
// `/_stratus/console/aws/<service>/<path>`, which re-signs it with the session's key, so it
// passes the APIs' own authorization. State-changing calls carry the session's CSRF token.

let session = null;

/** The signed-in session ({accessKeyId, region, arn, csrfToken}), or null. */
export function currentSession() { return session; }
export function setSession(s) { session = s; }

/** An API's refusal: `code` is its error code (`ResourceNotFoundException`...). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/** Called when the server says the session has ended (the router shows the sign-in page). */
let onSignedOut = () => {};
export function whenSignedOut(f) { onSignedOut = f; }

const SAFE = new Set(['GET', 'HEAD']);

/** Sends one request to `service` (its signing name) and returns the fetch Response. */
export async function aws(service, method, path, { query, headers, body } = {}) {
  let url = `aws/${service}${path.startsWith('/') ? path : '/' + path}`;
  const qs = query instanceof URLSearchParams ? query : new URLSearchParams(query || {});
  if ([...qs.keys()].length) url += `?${qs}`;
  return send(url, method, headers, body);
}

/** A request to the console's own endpoints (session, events), with the CSRF token. */
export async function send(url, method = 'GET', headers = {}, body = undefined) {
  const h = new Headers(headers || {});
  if (!SAFE.has(method) && session) h.set('x-stratus-csrf', session.csrfToken);
  const resp = await fetch(url, { method, headers: h, body, credentials: 'same-origin' });
  if (resp.status === 401 && resp.headers.get('x-stratus-console') === 'signed-out') {
    session = null;
    onSignedOut();
    throw new ApiError(401, 'SignedOut', 'Your session has ended. Sign in again.');
  }
  return resp;
}

/** The JSON body of an answer, or an ApiError built from its error body. */
export async function json(resp) {
  const text = await resp.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { message: text }; }
  if (!resp.ok) {
    const type = resp.headers.get('x-amzn-errortype') || data.__type || data.code || '';
    const code = String(type).split(/[#:]/).filter(Boolean).pop() || '';
    throw new ApiError(resp.status, code, data.message || data.Message || code);
  }
  return data;
}

/** The Lambda API (REST-JSON): `lambda('GET', '/functions/')` under `/2015-03-31`, or a full
 * dated path (`/2017-10-31/...`). Returns the parsed JSON. */
export async function lambda(method, path, body, { query, headers } = {}) {
  const full = /^\/20\d\d-/.test(path) ? path : `/2015-03-31${path}`;
  const h = { ...(headers || {}) };
  if (body !== undefined) h['content-type'] = 'application/json';
  const resp = await aws('lambda', method, full, {
    query, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return json(resp);
}

/** An AWS JSON protocol call: `jsonTarget('dynamodb', 'DynamoDB_20120810.Scan', '1.0', {...})`. */
export async function jsonTarget(service, target, version, body = {}) {
  const resp = await aws(service, 'POST', '/', {
    headers: { 'x-amz-target': target, 'content-type': `application/x-amz-json-${version}` },
    body: JSON.stringify(body),
  });
  return json(resp);
}

export const dynamodb = (target, body) => jsonTarget('dynamodb', `DynamoDB_20120810.${target}`, '1.0', body);
export const logs = (target, body) => jsonTarget('logs', `Logs_20140328.${target}`, '1.1', body);
export const events = (target, body) => jsonTarget('events', `AWSEvents.${target}`, '1.1', body);
export const sqs = (target, body) => jsonTarget('sqs', `AmazonSQS.${target}`, '1.0', body);
export const codedeploy = (target, body) => jsonTarget('codedeploy', `CodeDeploy_20141006.${target}`, '1.1', body);
export const cloudwatch = (op, body) => jsonTarget('monitoring', `GraniteServiceVersion20100801.${op}`, '1.0', body);

/** A Query protocol call (SNS, IAM, STS, CloudFormation): returns the XML document. */
export async function query(service, action, params = {}, version) {
  const form = new URLSearchParams({ Action: action, Version: version, ...params });
  const resp = await aws(service, 'POST', '/', {
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: form.toString(),
  });
  const text = await resp.text();
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  if (!resp.ok) {
    throw new ApiError(resp.status, xmlText(doc, 'Code'), xmlText(doc, 'Message') || text);
  }
  return doc;
}

export const sns = (action, params) => query('sns', action, params, '2010-03-31');
export const iam = (action, params) => query('iam', action, params, '2010-05-08');
export const sts = (action, params) => query('sts', action, params, '2011-06-15');

/** The text of the first element named `tag` under `node`. */
export function xmlText(node, tag) {
  const el = node.getElementsByTagName(tag)[0];
  return el ? el.textContent : '';
}

/** Every element named `tag` under `node`, each as {child tag: text} of its direct children. */
export function xmlList(node, tag) {
  return [...node.getElementsByTagName(tag)].map(el => {
    const o = {};
    for (const c of el.children) o[c.tagName] = c.textContent;
    return o;
  });
}

/** S3 (REST-XML): `s3('GET', '/bucket?list-type=2')`; returns the fetch Response. */
export function s3(method, path, opts = {}) { return aws('s3', method, path, opts); }

/** API Gateway v2's management API (`/v2/apis`...), JSON. */
export async function apigw(method, path, body) {
  const resp = await aws('apigateway', method, path, {
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return json(resp);
}

/** EventBridge Scheduler (REST-JSON on `/schedules`, `/schedule-groups`). */
export async function scheduler(method, path, body) {
  const resp = await aws('scheduler', method, path, {
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return json(resp);
}

/** The usage report (`/_stratus/usage`, not an AWS API): invocations, errors, cost. */
export async function usage(params = {}) {
  const resp = await fetch(`/_stratus/usage?${new URLSearchParams(params)}`, { credentials: 'same-origin' });
  return json(resp);
}

/** Lists every page of a Lambda list operation (`Functions`, `Versions`, `Aliases`...). */
export async function lambdaAll(path, key, query = {}) {
  const out = [];
  let marker;
  do {
    const q = { ...query };
    if (marker) q.Marker = marker;
    const page = await lambda('GET', path, undefined, { query: q });
    out.push(...(page[key] || []));
    marker = page.NextMarker;
  } while (marker);
  return out;
}

/** CloudWatch metric series: `metrics([{id, name, stat, dims}], fromMs, toMs, periodS)` →
 * {id: [[ms, value]...]}, from GetMetricData. */
export async function metrics(queries, fromMs, toMs, period) {
  const body = {
    StartTime: Math.floor(fromMs / 1000),
    EndTime: Math.ceil(toMs / 1000),
    MetricDataQueries: queries.map(q => ({
      Id: q.id,
      MetricStat: {
        Metric: {
          Namespace: q.namespace || 'AWS/Lambda',
          MetricName: q.name,
          Dimensions: Object.entries(q.dims || {}).map(([Name, Value]) => ({ Name, Value })),
        },
        Period: period,
        Stat: q.stat || 'Sum',
      },
    })),
  };
  const out = {};
  let token;
  do {
    if (token) body.NextToken = token;
    const page = await cloudwatch('GetMetricData', body);
    for (const r of page.MetricDataResults || []) {
      const pts = (r.Timestamps || []).map((t, i) => [msOf(t), r.Values[i]]);
      out[r.Id] = (out[r.Id] || []).concat(pts);
    }
    token = page.NextToken;
  } while (token);
  for (const k of Object.keys(out)) out[k].sort((a, b) => a[0] - b[0]);
  return out;

  function msOf(t) { return typeof t === 'number' ? t * 1000 : Date.parse(t); }
}
