// The console's shell: the session, the navigation, and a hash router. Each page is an ES
// module in ./pages exporting `async function render(root, params)`; a page is one entry in
// PAGES (and NAV, to show in the menu).

import { h, mount, notice } from './ui.js';
import * as api from './api.js';

/** Every page: `path` is a hash path whose `:name` segments become params. */
export const PAGES = [
  { path: 'signin', module: './pages/signin.js', title: 'Sign in', public: true },
  { path: '', module: './pages/dashboard.js', title: 'Dashboard' },
  { path: 'functions', module: './pages/functions.js', title: 'Functions' },
  { path: 'functions/new', module: './pages/create_function.js', title: 'Create function' },
  { path: 'functions/:name', module: './pages/function.js', title: 'Function' },
  { path: 'buckets', module: './pages/buckets.js', title: 'Buckets' },
  { path: 'buckets/:bucket', module: './pages/buckets.js', title: 'Bucket' },
  { path: 'tables', module: './pages/tables.js', title: 'Tables' },
  { path: 'tables/:table', module: './pages/tables.js', title: 'Table' },
  { path: 'topics', module: './pages/topics.js', title: 'Topics' },
  { path: 'topics/:arn', module: './pages/topics.js', title: 'Topic' },
  { path: 'queues', module: './pages/queues.js', title: 'Queues' },
  { path: 'queues/:name', module: './pages/queues.js', title: 'Queue' },
  { path: 'rules', module: './pages/rules.js', title: 'Rules and schedules' },
  { path: 'apis', module: './pages/apis.js', title: 'HTTP APIs' },
  { path: 'apis/:id', module: './pages/apis.js', title: 'HTTP API' },
  { path: 'rollouts', module: './pages/rollouts.js', title: 'Rollouts' },
  { path: 'rollouts/:id', module: './pages/rollouts.js', title: 'Rollout' },
  { path: 'usage', module: './pages/usage.js', title: 'Usage and cost' },
];

/** The main menu: [label, hash path]. */
export const NAV = [
  ['Dashboard', ''],
  ['Functions', 'functions'],
  ['Buckets', 'buckets'],
  ['Tables', 'tables'],
  ['Topics', 'topics'],
  ['Queues', 'queues'],
  ['Rules', 'rules'],
  ['APIs', 'apis'],
  ['Rollouts', 'rollouts'],
  ['Usage', 'usage'],
];

/** Splits `#/functions/f?tab=test` into a path and its query. */
function location() {
  const raw = decodeURI(window.location.hash.replace(/^#\/?/, ''));
  const [path, q] = raw.split('?', 2);
  return { path: path.replace(/\/$/, ''), query: Object.fromEntries(new URLSearchParams(q || '')) };
}

function match(path) {
  const parts = path ? path.split('/') : [];
  for (const page of PAGES) {
    const want = page.path ? page.path.split('/') : [];
    if (want.length !== parts.length) continue;
    const params = {};
    const ok = want.every((w, i) => {
      if (w.startsWith(':')) { params[w.slice(1)] = decodeURIComponent(parts[i]); return true; }
      return w === parts[i];
    });
    if (ok) return { page, params };
  }
  return null;
}

/** Goes to a hash path (`go('functions/f', {tab: 'test'})`). */
export function go(path, query) {
  const qs = query && Object.keys(query).length ? `?${new URLSearchParams(query)}` : '';
  window.location.hash = `#/${path}${qs}`;
}

let rendering = 0;

async function route() {
  const { path, query } = location();
  const found = match(path);
  const main = document.getElementById('main');
  if (!found) { mount(main, notice(`No page at #/${path}.`, 'error')); return; }
  if (!found.page.public && !api.currentSession()) {
    if (!(await loadSession())) { go('signin', path ? { next: path } : {}); return; }
  }
  const ticket = ++rendering;
  document.title = `${found.page.title} · Stratus console`;
  renderChrome(path);
  // A page may hold live views (an EventSource): it returns a function that ends them.
  if (typeof main.cleanup === 'function') { main.cleanup(); main.cleanup = null; }
  mount(main, h('p', { class: 'muted' }, 'Loading…'));
  try {
    const mod = await import(found.page.module);
    if (ticket !== rendering) return;
    const root = h('div', { class: 'page' });
    mount(main, root);
    main.cleanup = await mod.render(root, { ...query, ...found.params }) || null;
    // For bench/console.py: when the page's content is on screen, on the page's own clock.
    if (ticket === rendering) performance.mark('stratus:rendered', { detail: found.page.path });
  } catch (e) {
    if (ticket === rendering && !(e instanceof api.ApiError && e.code === 'SignedOut')) {
      mount(main, notice(e.message || String(e), 'error'));
    }
  }
}

/** Asks the server who is signed in; false when nobody is. */
export async function loadSession() {
  try {
    const resp = await api.send('session');
    if (!resp.ok) return false;
    api.setSession(await resp.json());
    return true;
  } catch {
    return false;
  }
}

function renderChrome(path) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const s = api.currentSession();
  if (!s) { mount(nav); mount(who); return; }
  const top = path.split('/')[0];
  mount(nav, h('ul', {}, NAV.map(([label, p]) => h('li', {},
    h('a', { href: `#/${p}`, 'aria-current': p === top ? 'page' : false }, label)))));
  mount(who,
    h('span', { class: 'muted', title: s.arn }, `${s.accessKeyId} · ${s.region}`),
    h('button', { type: 'button', id: 'signout', class: 'link', onclick: signOut }, 'Sign out'));
}

async function signOut() {
  try { await api.send('session', 'DELETE'); } catch { /* signed out either way */ }
  api.setSession(null);
  go('signin');
}

api.whenSignedOut(() => {
  const { path } = location();
  if (path !== 'signin') go('signin', path ? { next: path } : {});
});
window.addEventListener('hashchange', route);
route();
