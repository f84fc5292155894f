// Small DOM helpers shared by every page. Pages build elements with `h` (never innerHTML
// with data), so nothing a user stored can become markup.

/** Creates an element: `h('a', {href: '#/x', class: 'btn'}, 'text', child)`. Attributes
 * starting with `on` are listeners; `false`/`null` attributes are left out. */
export function h(tag, attrs = {}, ...children) {
  const svg = SVG_TAGS.has(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && !svg) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

const SVG_TAGS = new Set(['svg', 'path', 'line', 'rect', 'circle', 'text', 'g', 'title', 'polyline', 'marker', 'defs']);

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's content. */
export function mount(root, ...children) {
  root.replaceChildren();
  append(root, children);
  return root;
}

/** A message for the user: kind is 'error', 'ok' or 'info'. Errors are announced. */
export function notice(message, kind = 'info') {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
}

/** Shows an error (an ApiError or any Error) in `slot`. */
export function showError(slot, err) {
  mount(slot, notice(err && err.message ? err.message : String(err), 'error'));
}

/** A labelled form control: `field('Memory (MB)', h('input', {...}))`. The label is tied to
 * the control by id. */
let nextId = 0;
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++nextId}`;
  return h('div', { class: 'field' },
    h('label', { for: control.id }, label),
    control,
    hint ? h('small', { class: 'muted' }, hint) : null);
}

/** A table: columns are [{title, get: row => value or node}]. */
export function table(columns, rows, { empty = 'Nothing here yet.', caption } = {}) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map(c => h('th', { scope: 'col' }, c.title)))),
      h('tbody', {}, rows.map(r => h('tr', {}, columns.map(c => h('td', {}, c.get(r))))))));
}

/** Accessible tabs: a tablist of buttons (arrow keys move between them) over one panel.
 * `tabs` is [{id, title, render(panel)}]; `current` the selected id; `onSelect(id)` is called
 * when the user picks one. */
export function tabStrip(tabs, current, onSelect) {
  const list = h('div', { role: 'tablist', class: 'tabs', 'aria-label': 'Sections' });
  const buttons = tabs.map((t, i) => h('button', {
    role: 'tab', id: `tab-${t.id}`, type: 'button',
    'aria-selected': t.id === current ? 'true' : 'false',
    'aria-controls': 'tabpanel', tabindex: t.id === current ? '0' : '-1',
    onclick: () => onSelect(t.id),
    onkeydown: (e) => {
      const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (!step) return;
      const next = buttons[(i + step + buttons.length) % buttons.length];
      next.focus();
      next.click();
    },
  }, t.title));
  list.append(...buttons);
  return list;
}

export const fmt = {
  int: n => Number(n || 0).toLocaleString('en-US'),
  ms: n => `${Number(n || 0).toFixed(n >= 100 ? 0 : 2)} ms`,
  money: n => `$${Number(n || 0).toFixed(n && n < 0.01 ? 6 : 2)}`,
  bytes: n => n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`,
  time: t => new Date(t).toLocaleString(),
};

/** A button that runs an async action, disabled while it runs, its errors shown in `slot`. */
export function action(label, run, slot, attrs = {}) {
  const b = h('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await run(); } catch (e) { if (slot) showError(slot, e); } finally { b.disabled = false; }
  });
  return b;
}

/** Reads a File as base64 (for Lambda's ZipFile). */
export function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).split(',', 2)[1] || '');
    r.onerror = () => reject(new Error(`Could not read ${file.name}`));
    r.readAsDataURL(file);
  });
}
