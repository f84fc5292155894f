// The dashboard: the account's functions and what they did over the last hour and day
// (from the usage report), the busiest and most expensive functions, and the invocations
// and errors of the last hour (CloudWatch's AWS/Lambda metrics).

import { h, mount, fmt, table, notice } from '../ui.js';
import * as api from '../api.js';
import { lineChart, zeroFilled } from '../chart.js';

const HOUR = 3600e3, DAY = 24 * HOUR;

function tile(label, value, id) {
  return h('div', { class: 'tile', id }, h('span', { class: 'label' }, label), h('strong', {}, value));
}

function totals(title, t, prefix) {
  return h('section', { class: 'card', 'aria-label': title },
    h('h2', {}, title),
    h('div', { class: 'tiles' },
      tile('Invocations', fmt.int(t.invocations), `${prefix}-invocations`),
      tile('Errors', fmt.int(t.errors), `${prefix}-errors`),
      tile('Throttles', fmt.int(t.throttles), `${prefix}-throttles`),
      tile('Cold starts', fmt.int(t.cold_starts), `${prefix}-cold-starts`),
      tile('Cost', fmt.money(t.cost), `${prefix}-cost`)));
}

const link = name => h('a', { href: `#/functions/${encodeURIComponent(name)}` }, name);

export async function render(root) {
  const now = Date.now();
  const [functions, hour, day] = await Promise.all([
    api.lambdaAll('/functions/', 'Functions'),
    api.usage({ from: now - HOUR, to: now + 1 }),
    api.usage({ from: now - DAY, to: now + 1 }),
  ]);
  const groups = day.groups || [];
  const busiest = [...groups].sort((a, b) => b.invocations - a.invocations).slice(0, 5);
  const costly = [...groups].sort((a, b) => b.cost - a.cost).slice(0, 5);
  const charts = h('div', { class: 'charts' });
  mount(root,
    h('h1', {}, 'Dashboard'),
    h('div', { class: 'tiles' }, tile('Functions', fmt.int(functions.length), 'dash-functions')),
    h('div', { class: 'grid2' }, totals('Last hour', hour.total, 'hour'), totals('Last 24 hours', day.total, 'day')),
    h('div', { class: 'grid2' },
      h('section', { class: 'card' }, h('h2', {}, 'Busiest functions (24 h)'),
        table([{ title: 'Function', get: g => link(g.function || g.key) }, { title: 'Invocations', get: g => fmt.int(g.invocations) }, { title: 'Errors', get: g => fmt.int(g.errors) }], busiest, { empty: 'No invocations in the last day.' })),
      h('section', { class: 'card' }, h('h2', {}, 'Most expensive (24 h)'),
        table([{ title: 'Function', get: g => link(g.function || g.key) }, { title: 'Cost', get: g => fmt.money(g.cost) }, { title: 'GB-s', get: g => Number(g.gb_seconds).toFixed(3) }], costly, { empty: 'No cost in the last day.' }))),
    h('section', { class: 'card' }, h('h2', {}, 'Last hour'), charts));
  try {
    const series = await api.metrics([
      { id: 'inv', name: 'Invocations' }, { id: 'err', name: 'Errors' }, { id: 'thr', name: 'Throttles' },
    ], now - HOUR, now, 60);
    mount(charts,
      lineChart('Invocations and errors', [
        { name: 'Invocations', points: zeroFilled(series.inv || [], now - HOUR, now, 60e3) },
        { name: 'Errors', points: zeroFilled(series.err || [], now - HOUR, now, 60e3) },
        { name: 'Throttles', points: zeroFilled(series.thr || [], now - HOUR, now, 60e3) },
      ], now - HOUR, now, 'per minute'));
  } catch (e) {
    mount(charts, notice(`Metrics: ${e.message}`, 'error'));
  }
}
