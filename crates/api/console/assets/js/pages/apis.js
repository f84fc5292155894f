// API Gateway HTTP APIs: the list (`#/apis`) and one API (`#/apis/<id>`): its routes and the
// integration each goes to, its stages, and a try-it box that sends a request to the route
// through the gateway's own endpoint on this port (`/_aws/execute-api/<id>/...`), unsigned,
// as any client would.

import { h, mount, notice, table, field, showError } from '../ui.js';
import * as api from '../api.js';
import { collect, statusLine } from '../widgets.js';

export async function render(root, params) {
  return params.id ? one(root, params.id) : list(root);
}

/** Every item of a v2 list (`Items`, `NextToken`). */
const all = path => collect(async (token) => {
  const page = await api.apigw('GET', `${path}${token ? `?nextToken=${encodeURIComponent(token)}` : ''}`);
  return [page.items || [], page.nextToken];
});

async function list(root) {
  const apis = await all('/v2/apis');
  mount(root,
    h('h1', {}, 'HTTP APIs'),
    table([
      { title: 'Name', get: a => h('a', { href: `#/apis/${encodeURIComponent(a.apiId)}` }, a.name) },
      { title: 'ID', get: a => h('code', {}, a.apiId) },
      { title: 'Protocol', get: a => a.protocolType },
      { title: 'Endpoint', get: a => h('code', {}, a.apiEndpoint || '') },
    ], apis, { empty: 'No APIs yet.', caption: `${apis.length} API(s)` }));
}

/** An integration's target, linked to the function when it is one. */
function target(i) {
  if (!i) return '';
  const fn = /:function:([^:/]+)/.exec(i.integrationUri || '');
  const uri = fn ? h('a', { href: `#/functions/${encodeURIComponent(fn[1])}` }, fn[1]) : (i.integrationUri || '');
  return h('span', {}, `${i.integrationType} → `, uri);
}

async function one(root, id) {
  const base = `/v2/apis/${encodeURIComponent(id)}`;
  const [a, routes, integrations, stages] = await Promise.all([
    api.apigw('GET', base), all(`${base}/routes`), all(`${base}/integrations`), all(`${base}/stages`),
  ]);
  const byId = Object.fromEntries(integrations.map(i => [i.integrationId, i]));
  routes.sort((x, y) => x.routeKey.localeCompare(y.routeKey));
  mount(root,
    h('p', {}, h('a', { href: '#/apis' }, '← HTTP APIs')),
    h('h1', { id: 'api-name' }, a.name),
    h('p', { class: 'muted' }, `${a.protocolType} · `, h('code', {}, a.apiEndpoint || '')),
    h('h2', {}, 'Routes'),
    table([
      { title: 'Route', get: r => h('code', {}, r.routeKey) },
      { title: 'Authorization', get: r => r.authorizationType || 'NONE' },
      { title: 'Integration', get: r => target(byId[String(r.target || '').replace(/^integrations\//, '')]) },
    ], routes, { empty: 'No routes.', caption: `${routes.length} route(s)` }),
    tryIt(id, routes, stages));
}

function tryIt(id, routes, stages) {
  const stage = h('select', { id: 'try-stage' },
    stages.map(s => h('option', { value: s.stageName }, s.stageName)));
  const method = h('select', { id: 'try-method' },
    ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'].map(m => h('option', { value: m }, m)));
  const first = routes.map(r => r.routeKey.split(' ')).find(([, p]) => p && !p.includes('{'));
  if (first && first[0] !== 'ANY') method.value = first[0];
  const path = h('input', { id: 'try-path', type: 'text', value: first ? first[1] : '/', spellcheck: 'false' });
  const body = h('textarea', { id: 'try-body', rows: '4' });
  const out = statusLine('try-result');
  const submit = h('button', { type: 'submit', id: 'try-submit' }, 'Send');
  const form = h('form', { class: 'card', 'aria-label': 'Try it' },
    h('h2', {}, 'Try it'),
    stages.length ? null : notice('The API has no stage yet: requests answer 404 until it has one.', 'info'),
    h('div', { class: 'row' }, field('Stage', stage), field('Method', method), field('Path and query', path)),
    field('Body', body),
    submit, out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const p = path.value.startsWith('/') ? path.value : `/${path.value}`;
    const prefix = stage.value && stage.value !== '$default' ? `/${encodeURIComponent(stage.value)}` : '';
    const url = `/_aws/execute-api/${encodeURIComponent(id)}${prefix}${p}`;
    const withBody = !['GET', 'HEAD'].includes(method.value) && body.value;
    submit.disabled = true;
    try {
      const resp = await fetch(url, { method: method.value, body: withBody ? body.value : undefined, credentials: 'omit' });
      const text = await resp.text();
      mount(out,
        h('p', { id: 'try-status' }, h('strong', {}, `${resp.status} ${resp.statusText}`), ` · ${method.value} ${url}`),
        h('pre', { id: 'try-headers' }, [...resp.headers].map(([k, v]) => `${k}: ${v}`).join('\n')),
        h('pre', { id: 'try-response' }, text));
    } catch (err) {
      showError(out, err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
