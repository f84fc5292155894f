// One function: a header and its tabs. The tab is part of the address (`?tab=test`), so each
// can be linked to and the browser's back button moves between them.

import { h, mount, tabStrip } from '../ui.js';
import * as api from '../api.js';
import { go } from '../app.js';
import * as tabs from './function_tabs.js';
import * as testing from './function_test.js';

const TABS = [
  { id: 'config', title: 'Configuration', render: tabs.config },
  { id: 'code', title: 'Code', render: tabs.code },
  { id: 'versions', title: 'Versions & aliases', render: tabs.versions },
  { id: 'triggers', title: 'Triggers', render: tabs.triggers },
  { id: 'test', title: 'Test', render: testing.test },
  { id: 'logs', title: 'Logs', render: testing.logs },
  { id: 'metrics', title: 'Metrics', render: tabs.metrics },
  { id: 'cost', title: 'Cost', render: tabs.cost },
];

export async function render(root, params) {
  const name = params.name;
  const fn = await api.lambda('GET', `/functions/${encodeURIComponent(name)}`);
  const current = TABS.find(t => t.id === params.tab) || TABS[0];
  const panel = h('section', { id: 'tabpanel', role: 'tabpanel', 'aria-labelledby': `tab-${current.id}`, tabindex: '0' });
  const c = fn.Configuration;
  mount(root,
    h('p', {}, h('a', { href: '#/functions' }, '← Functions')),
    h('h1', { id: 'function-name' }, c.FunctionName),
    h('p', { class: 'muted' }, `${c.Runtime || c.PackageType} · ${c.MemorySize} MB · ${c.Timeout} s · ${c.State || 'Active'} · `, h('code', {}, c.FunctionArn)),
    tabStrip(TABS, current.id, id => go(`functions/${encodeURIComponent(name)}`, { tab: id })),
    panel);
  return current.render(panel, fn, params);
}
