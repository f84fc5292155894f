// Usage and cost (`#/usage`): the usage report (`/_stratus/usage`) over a chosen window, per
// function and per day.

import { h, mount, table, field, fmt } from '../ui.js';
import * as api from '../api.js';
import { go } from '../app.js';

const WINDOWS = [['1h', 'Last hour', 3600e3], ['1d', 'Last day', 86400e3], ['7d', 'Last 7 days', 7 * 86400e3], ['30d', 'Last 30 days', 30 * 86400e3]];

const COLUMNS = [
  { title: 'Invocations', get: g => fmt.int(g.invocations) },
  { title: 'Errors', get: g => fmt.int(g.errors) },
  { title: 'Throttles', get: g => fmt.int(g.throttles) },
  { title: 'Cold starts', get: g => fmt.int(g.cold_starts) },
  { title: 'Duration p50 / p99', get: g => `${fmt.ms(g.duration_ms.p50)} / ${fmt.ms(g.duration_ms.p99)}` },
  { title: 'GB-seconds', get: g => Number(g.gb_seconds || 0).toFixed(3) },
  { title: 'Cost', get: g => fmt.money(g.cost) },
];

export async function render(root, params) {
  const win = WINDOWS.find(w => w[0] === params.window) || WINDOWS[1];
  const now = Date.now();
  const range = { from: now - win[2], to: now + 1 };
  const [byFunction, byDay] = await Promise.all([
    api.usage({ ...range, group_by: 'function' }),
    api.usage({ ...range, group_by: 'day' }),
  ]);
  const pick = h('select', { id: 'usage-window' }, WINDOWS.map(w => h('option', { value: w[0], selected: w === win }, w[1])));
  pick.addEventListener('change', () => go('usage', { window: pick.value }));
  const t = byFunction.total;
  const fnLink = g => h('a', { href: `#/functions/${encodeURIComponent(g.function || g.key)}` }, g.function || g.key);
  mount(root,
    h('h1', {}, 'Usage and cost'),
    field('Window', pick),
    h('p', { id: 'usage-total' }, `${fmt.int(t.invocations)} invocation(s), ${fmt.int(t.errors)} error(s), ${Number(t.gb_seconds || 0).toFixed(3)} GB-s, `,
      h('strong', {}, fmt.money(t.cost)), ` (${byFunction.currency}) from ${byFunction.from} to ${byFunction.to}`),
    h('h2', {}, 'Per function'),
    table([{ title: 'Function', get: fnLink }, ...COLUMNS],
      [...byFunction.groups].sort((a, b) => b.cost - a.cost), { empty: 'No invocations in this window.', caption: 'Most expensive first' }),
    h('h2', {}, 'Per day'),
    table([{ title: 'Day (UTC)', get: g => g.key }, ...COLUMNS], byDay.groups, { empty: 'No invocations in this window.' }),
    h('p', { class: 'muted' }, 'Prices: ', h('code', {}, JSON.stringify(byFunction.prices))));
}
