// The function page's tabs: configuration, code, versions and aliases, triggers, metrics and
// cost. (Test and Logs are in function_test.js.)

import { h, mount, notice, field, table, fmt, action, showError, fileToBase64 } from '../ui.js';
import * as api from '../api.js';
import { lineChart, barChart, zeroFilled } from '../chart.js';
import { triggerGraph } from '../graph.js';
import { go } from '../app.js';

const enc = encodeURIComponent;
const reload = (name, tab) => { go(`functions/${enc(name)}`, { tab, t: Date.now() }); };

// ---- Configuration -------------------------------------------------------------------

/** `KEY=value` lines ⇄ Lambda's Environment.Variables. */
function envText(vars) { return Object.entries(vars || {}).map(([k, v]) => `${k}=${v}`).join('\n'); }
function envParse(text) {
  const vars = {};
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`Environment line ${i + 1} is not KEY=value.`);
    vars[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return vars;
}

export async function config(panel, fn) {
  const c = fn.Configuration;
  const name = c.FunctionName;
  const memory = h('input', { id: 'cfg-memory', type: 'number', min: 128, max: 10240, value: c.MemorySize });
  const timeout = h('input', { id: 'cfg-timeout', type: 'number', min: 1, max: 900, value: c.Timeout });
  const handler = h('input', { id: 'cfg-handler', value: c.Handler || '' });
  const description = h('input', { id: 'cfg-description', value: c.Description || '' });
  const env = h('textarea', { id: 'cfg-env', spellcheck: 'false' }, envText(c.Environment && c.Environment.Variables));
  const reserved = h('input', { id: 'cfg-reserved', type: 'number', min: 0, value: fn.Concurrency ? fn.Concurrency.ReservedConcurrentExecutions : '' });
  const message = h('div', { id: 'cfg-message', 'aria-live': 'polite' });
  const save = action('Save configuration', async () => {
    mount(message);
    const body = {
      MemorySize: Number(memory.value), Timeout: Number(timeout.value),
      Handler: handler.value, Description: description.value,
      Environment: { Variables: envParse(env.value) },
    };
    await api.lambda('PUT', `/functions/${enc(name)}/configuration`, body);
    const path = `/2017-10-31/functions/${enc(name)}/concurrency`;
    if (reserved.value === '') {
      if (fn.Concurrency) await api.lambda('DELETE', path);
    } else {
      await api.lambda('PUT', path, { ReservedConcurrentExecutions: Number(reserved.value) });
    }
    mount(message, notice('Saved.', 'ok'));
  }, message, { id: 'cfg-save' });
  mount(panel, h('div', { class: 'card' },
    h('div', { class: 'row' }, field('Memory (MB)', memory), field('Timeout (s)', timeout), field('Reserved concurrency', reserved, 'Empty: use the account\'s pool.')),
    field('Handler', handler), field('Description', description),
    field('Environment variables', env, 'One KEY=value per line.'),
    message, save));
}

// ---- Code ----------------------------------------------------------------------------

export async function code(panel, fn) {
  const c = fn.Configuration;
  const zip = h('input', { id: 'code-zip', type: 'file', accept: '.zip,application/zip' });
  const message = h('div', { id: 'code-message', 'aria-live': 'polite' });
  const upload = action('Upload new code', async () => {
    mount(message);
    const file = zip.files[0];
    if (!file) throw new Error('Choose a .zip file first.');
    if (file.size > 50 * 1024 * 1024) throw new Error('At most 50 MB can be uploaded here.');
    const out = await api.lambda('PUT', `/functions/${enc(c.FunctionName)}/code`, { ZipFile: await fileToBase64(file) });
    mount(message, notice(`Uploaded: ${fmt.bytes(out.CodeSize)}, SHA-256 ${out.CodeSha256}.`, 'ok'));
  }, message, { id: 'code-upload' });
  const location = fn.Code && fn.Code.Location;
  mount(panel, h('div', { class: 'card' },
    h('p', {}, `Package: ${fmt.bytes(c.CodeSize || 0)}, SHA-256 `, h('code', {}, c.CodeSha256)),
    location ? h('p', {}, h('a', { class: 'button', id: 'code-download', href: location, download: `${c.FunctionName}.zip` }, 'Download the zip'),
      h('small', { class: 'muted' }, ' (the link is valid for 10 minutes)')) : notice('This function has no downloadable package.'),
    h('h3', {}, 'Replace the code'), field('New package (.zip)', zip), message, upload));
}

// ---- Versions and aliases ------------------------------------------------------------

export async function versions(panel, fn) {
  const name = fn.Configuration.FunctionName;
  const [vers, aliases] = await Promise.all([
    api.lambdaAll(`/functions/${enc(name)}/versions`, 'Versions'),
    api.lambdaAll(`/functions/${enc(name)}/aliases`, 'Aliases'),
  ]);
  const numbered = vers.map(v => v.Version).filter(v => v !== '$LATEST');
  const message = h('div', { id: 'versions-message', 'aria-live': 'polite' });
  const publish = action('Publish a version', async () => {
    const v = await api.lambda('POST', `/functions/${enc(name)}/versions`, {});
    mount(message, notice(`Published version ${v.Version}.`, 'ok'));
    reload(name, 'versions');
  }, message, { id: 'publish-version' });
  const aliasList = h('div', {}, aliases.map(a => aliasCard(name, a, numbered)));
  mount(panel,
    h('div', { class: 'card' }, h('h2', {}, 'Versions'),
      table([
        { title: 'Version', get: v => v.Version }, { title: 'Description', get: v => v.Description || '' },
        { title: 'SHA-256', get: v => h('code', {}, (v.CodeSha256 || '').slice(0, 16)) }, { title: 'Modified', get: v => v.LastModified },
      ], vers), message, publish),
    h('div', { class: 'card' }, h('h2', {}, 'Aliases'), aliasList, newAlias(name, numbered)));
}

function newAlias(name, numbered) {
  const aliasName = h('input', { id: 'alias-new-name', spellcheck: 'false' });
  const version = h('select', { id: 'alias-new-version' }, ['$LATEST', ...numbered].map(v => h('option', { value: v }, v)));
  const message = h('div', { 'aria-live': 'polite' });
  const create = action('Create alias', async () => {
    await api.lambda('POST', `/functions/${enc(name)}/aliases`, { Name: aliasName.value.trim(), FunctionVersion: version.value });
    reload(name, 'versions');
  }, message, { id: 'alias-create' });
  return h('div', {}, h('h3', {}, 'New alias'), h('div', { class: 'row' }, field('Name', aliasName), field('Version', version), create), message);
}

/** An alias with its routing: a second version and a 0–100 % weight slider. */
function aliasCard(name, alias, numbered) {
  const id = alias.Name;
  const weights = (alias.RoutingConfig && alias.RoutingConfig.AdditionalVersionWeights) || {};
  const [extraVersion, extraWeight] = Object.entries(weights)[0] || [numbered.filter(v => v !== alias.FunctionVersion).pop() || '', 0];
  const others = numbered.filter(v => v !== alias.FunctionVersion);
  const second = h('select', { id: `alias-${id}-second` }, others.map(v => h('option', { value: v, selected: v === extraVersion }, `version ${v}`)));
  const pct = Math.round(extraWeight * 100);
  const out = h('output', { id: `alias-${id}-weight-value`, for: `alias-${id}-weight` }, `${pct} %`);
  const slider = h('input', { id: `alias-${id}-weight`, type: 'range', min: 0, max: 100, step: 1, value: pct, disabled: !others.length });
  slider.addEventListener('input', () => { out.textContent = `${slider.value} %`; });
  const message = h('div', { id: `alias-${id}-message`, 'aria-live': 'polite' });
  const split = h('div', { id: `alias-${id}-split` });
  const save = action('Save routing', async () => {
    mount(message);
    const w = Number(slider.value) / 100;
    const routing = w > 0 && second.value ? { [second.value]: w } : {};
    const updated = await api.lambda('PUT', `/functions/${enc(name)}/aliases/${enc(id)}`, {
      FunctionVersion: alias.FunctionVersion, RoutingConfig: { AdditionalVersionWeights: routing },
    });
    const got = (updated.RoutingConfig && updated.RoutingConfig.AdditionalVersionWeights) || {};
    mount(message, notice(`Routing saved: ${describe(updated.FunctionVersion, got)}.`, 'ok'));
  }, message, { id: `alias-${id}-save`, disabled: !others.length });
  const refresh = action('Show invocations by version', () => showSplit(split, name, id, [alias.FunctionVersion, ...others]), split, { class: 'secondary', id: `alias-${id}-refresh` });
  return h('div', { class: 'card', id: `alias-${id}` },
    h('h3', {}, `${id} → version ${alias.FunctionVersion}`),
    h('p', { class: 'muted' }, describe(alias.FunctionVersion, weights)),
    others.length ? h('div', { class: 'slider' },
      field('Second version', second),
      h('div', { class: 'field' }, h('label', { for: slider.id }, 'Weight of the second version'), h('div', { class: 'slider' }, slider, out)),
      save) : h('p', { class: 'muted' }, 'Publish another version to split traffic.'),
    message, refresh, split);
}

function describe(main, weights) {
  const extra = Object.entries(weights);
  const rest = 1 - extra.reduce((n, [, w]) => n + w, 0);
  return [`version ${main}: ${Math.round(rest * 100)} %`, ...extra.map(([v, w]) => `version ${v}: ${Math.round(w * 100)} %`)].join(', ');
}

/** Invocations of the last hour through an alias, by the version that ran them. */
async function showSplit(slot, name, alias, versionsShown) {
  const now = Date.now();
  const queries = versionsShown.map((v, i) => ({
    id: `v${i}`, name: 'Invocations',
    dims: { FunctionName: name, Resource: `${name}:${alias}`, ExecutedVersion: v },
  }));
  const series = await api.metrics(queries, now - 3600e3, now, 3600);
  const rows = versionsShown.map((v, i) => ({ version: v, count: (series[`v${i}`] || []).reduce((n, p) => n + p[1], 0) }));
  mount(slot, table([{ title: 'Version', get: r => r.version }, { title: 'Invocations (1 h)', get: r => h('span', { class: 'split-count', 'data-version': r.version }, fmt.int(r.count)) }], rows));
}

// ---- Triggers and destinations -------------------------------------------------------

/** Whether `arn` names this function (any qualifier). */
function isThis(arn, fnArn) { return !!arn && (arn === fnArn || arn.startsWith(`${fnArn}:`)); }

/** Each finder returns [{kind, label}] and may fail alone (a key without that permission, a
 * service with nothing in it): its failure becomes a note, not a broken page. */
const FINDERS = {
  async url(name) {
    try {
      const u = await api.lambda('GET', `/2021-10-31/functions/${enc(name)}/url`);
      return [{ kind: 'Function URL', label: u.FunctionUrl }];
    } catch (e) { if (e.status === 404) return []; throw e; }
  },
  async httpApis(name, arn) {
    const out = [];
    const apis = (await api.apigw('GET', '/v2/apis')).Items || [];
    for (const a of apis) {
      const ints = (await api.apigw('GET', `/v2/apis/${a.ApiId}/integrations`)).Items || [];
      const mine = new Set(ints.filter(i => isThis(i.IntegrationUri, arn) || i.IntegrationUri === name).map(i => `integrations/${i.IntegrationId}`));
      if (!mine.size) continue;
      const routes = (await api.apigw('GET', `/v2/apis/${a.ApiId}/routes`)).Items || [];
      for (const r of routes) if (mine.has(r.Target)) out.push({ kind: `HTTP API ${a.Name}`, label: r.RouteKey });
    }
    return out;
  },
  async mappings(name) {
    const ms = await api.lambdaAll('/event-source-mappings/', 'EventSourceMappings', { FunctionName: name });
    return ms.map(m => ({ kind: `Mapping (${m.State})`, label: (m.EventSourceArn || '').split(':').slice(-2).join(':') }));
  },
  async buckets(name, arn) {
    const resp = await api.s3('GET', '/');
    if (!resp.ok) throw new Error(`S3 answered ${resp.status}`);
    const doc = new DOMParser().parseFromString(await resp.text(), 'application/xml');
    const names = [...doc.getElementsByTagName('Bucket')].map(b => api.xmlText(b, 'Name'));
    const out = [];
    for (const b of names) {
      const r = await api.s3('GET', `/${enc(b)}`, { query: { notification: '' } });
      if (!r.ok) continue;
      const n = new DOMParser().parseFromString(await r.text(), 'application/xml');
      for (const c of n.getElementsByTagName('CloudFunctionConfiguration')) {
        if (isThis(api.xmlText(c, 'CloudFunction'), arn)) out.push({ kind: 'S3 bucket', label: `${b} (${api.xmlText(c, 'Event')})` });
      }
    }
    return out;
  },
  async topics(name, arn) {
    const doc = await api.sns('ListSubscriptions');
    return api.xmlList(doc, 'member')
      .filter(s => s.Protocol === 'lambda' && isThis(s.Endpoint, arn))
      .map(s => ({ kind: 'SNS topic', label: (s.TopicArn || '').split(':').pop() }));
  },
  async rules(name, arn) {
    const out = [];
    const rules = (await api.events('ListRules', {})).Rules || [];
    for (const r of rules) {
      const targets = (await api.events('ListTargetsByRule', { Rule: r.Name, EventBusName: r.EventBusName })).Targets || [];
      if (targets.some(t => isThis(t.Arn, arn))) out.push({ kind: r.ScheduleExpression ? 'Schedule rule' : 'EventBridge rule', label: r.Name });
    }
    return out;
  },
  async schedules(name, arn) {
    const list = (await api.scheduler('GET', '/schedules')).Schedules || [];
    return list.filter(s => s.Target && isThis(s.Target.Arn, arn)).map(s => ({ kind: 'Schedule', label: s.Name }));
  },
};

async function destinations(fn) {
  const c = fn.Configuration;
  const out = [];
  if (c.DeadLetterConfig && c.DeadLetterConfig.TargetArn) out.push({ kind: 'Dead-letter queue', label: c.DeadLetterConfig.TargetArn.split(':').pop() });
  try {
    const cfg = await api.lambda('GET', `/2019-09-25/functions/${enc(c.FunctionName)}/event-invoke-config`);
    const d = cfg.DestinationConfig || {};
    if (d.OnSuccess && d.OnSuccess.Destination) out.push({ kind: 'On success', label: d.OnSuccess.Destination.split(':').slice(-1)[0] });
    if (d.OnFailure && d.OnFailure.Destination) out.push({ kind: 'On failure', label: d.OnFailure.Destination.split(':').slice(-1)[0] });
  } catch (e) { if (e.status !== 404) throw e; }
  return out;
}

export async function triggers(panel, fn) {
  const c = fn.Configuration;
  const unqualified = c.FunctionArn.replace(/:(\$LATEST|[0-9]+)$/, '');
  const notes = [];
  const found = await Promise.all(Object.entries(FINDERS).map(([what, find]) =>
    find(c.FunctionName, unqualified).catch(e => { notes.push(`${what}: ${e.message}`); return []; })));
  const sources = found.flat();
  const targets = await destinations(fn).catch(e => { notes.push(`destinations: ${e.message}`); return []; });
  mount(panel, h('div', { class: 'card' },
    h('h2', {}, 'Triggers and destinations'),
    triggerGraph(c.FunctionName, sources, targets),
    table([{ title: 'Trigger', get: s => s.kind }, { title: 'Source', get: s => s.label }], sources, { empty: 'Nothing invokes this function yet.' }),
    notes.length ? h('details', {}, h('summary', {}, `${notes.length} source(s) could not be read`), h('ul', {}, notes.map(n => h('li', {}, n)))) : null));
}

// ---- Metrics -------------------------------------------------------------------------

const WINDOWS = [['1h', 3600e3, 60], ['3h', 3 * 3600e3, 60], ['12h', 12 * 3600e3, 300], ['24h', 24 * 3600e3, 300], ['7d', 7 * 86400e3, 3600]];

export async function metrics(panel, fn, params) {
  const name = fn.Configuration.FunctionName;
  const chosen = WINDOWS.find(w => w[0] === params.window) || WINDOWS[0];
  const select = h('select', { id: 'metrics-window' }, WINDOWS.map(w => h('option', { value: w[0], selected: w === chosen }, `Last ${w[0]}`)));
  select.addEventListener('change', () => go(`functions/${enc(name)}`, { tab: 'metrics', window: select.value }));
  const charts = h('div', { class: 'charts', id: 'metric-charts' }, h('p', { class: 'muted' }, 'Loading…'));
  mount(panel, h('div', { class: 'row' }, field('Window', select)), charts);
  const [, span, period] = chosen;
  const now = Date.now(), from = now - span;
  const dims = { FunctionName: name };
  const s = await api.metrics([
    { id: 'inv', name: 'Invocations', dims }, { id: 'err', name: 'Errors', dims },
    { id: 'p50', name: 'Duration', stat: 'p50', dims }, { id: 'p99', name: 'Duration', stat: 'p99', dims },
    { id: 'thr', name: 'Throttles', dims }, { id: 'conc', name: 'ConcurrentExecutions', stat: 'Maximum', dims },
    { id: 'init', name: 'InitDuration', stat: 'Average', dims },
  ], from, now, period);
  for (const id of ['inv', 'err', 'thr']) s[id] = zeroFilled(s[id] || [], from, now, period * 1000);
  const per = period >= 3600 ? 'per hour' : period >= 300 ? 'per 5 minutes' : 'per minute';
  mount(charts,
    lineChart('Invocations', [{ name: 'Invocations', points: s.inv || [] }], from, now, per),
    lineChart('Errors', [{ name: 'Errors', points: s.err || [] }], from, now, per),
    lineChart('Duration', [{ name: 'p50', points: s.p50 || [] }, { name: 'p99', points: s.p99 || [] }], from, now, 'ms'),
    lineChart('Throttles', [{ name: 'Throttles', points: s.thr || [] }], from, now, per),
    lineChart('Concurrent executions', [{ name: 'Maximum', points: s.conc || [] }], from, now, 'maximum'),
    lineChart('Init duration', [{ name: 'Average', points: s.init || [] }], from, now, 'ms, cold starts'));
}

// ---- Cost ----------------------------------------------------------------------------

export async function cost(panel, fn) {
  const name = fn.Configuration.FunctionName;
  const day = 86400e3;
  const today = Math.floor(Date.now() / day) * day;
  const days = [...Array(7).keys()].reverse().map(i => today - i * day);
  const reports = await Promise.all(days.map(d => api.usage({ from: d, to: d + day, group_by: 'function' })));
  const rows = days.map((d, i) => {
    const g = (reports[i].groups || []).find(x => (x.function || x.key) === name) || {};
    return { day: new Date(d).toISOString().slice(0, 10), cost: g.cost || 0, invocations: g.invocations || 0, gbs: g.gb_seconds || 0 };
  });
  mount(panel, h('div', { class: 'card' },
    barChart('Cost per day (UTC)', rows.map(r => ({ label: r.day.slice(5), value: r.cost })), v => fmt.money(v)),
    table([{ title: 'Day', get: r => r.day }, { title: 'Invocations', get: r => fmt.int(r.invocations) },
      { title: 'GB-seconds', get: r => r.gbs.toFixed(3) }, { title: 'Cost', get: r => fmt.money(r.cost) }], rows)));
}

export { showError };
