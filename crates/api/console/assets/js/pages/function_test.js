// The Test tab (saved test events, invoke with the log tail, the REPORT line) and the Logs
// tab (a live tail over server-sent events, with a filter pattern).

import { h, mount, notice, field, action } from '../ui.js';
import * as api from '../api.js';

const enc = encodeURIComponent;

// Saved test events live in this browser (localStorage), per region and function.
function storeKey(name) { return `stratus.tests.${(api.currentSession() || {}).region}.${name}`; }
function loadEvents(name) {
  try { return JSON.parse(localStorage.getItem(storeKey(name)) || '{}'); } catch { return {}; }
}
function saveEvents(name, events) { localStorage.setItem(storeKey(name), JSON.stringify(events)); }

/** The fields of a REPORT line (`Duration: 1.2 ms\tBilled Duration: 2 ms...`). */
export function reportFields(log) {
  const line = log.split('\n').find(l => l.startsWith('REPORT')) || '';
  const out = {};
  for (const part of line.split('\t')) {
    const m = part.match(/^\s*([A-Za-z ]+):\s*(.+?)\s*$/);
    if (m && m[1] !== 'REPORT RequestId') out[m[1].trim()] = m[2];
  }
  return out;
}

function decodeLog(b64) {
  if (!b64) return '';
  const bytes = Uint8Array.from(atob(b64), ch => ch.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export async function test(panel, fn) {
  const name = fn.Configuration.FunctionName;
  let saved = loadEvents(name);
  const picker = h('select', { id: 'test-saved' });
  const eventName = h('input', { id: 'test-name', value: 'test', spellcheck: 'false' });
  const payload = h('textarea', { id: 'test-payload', spellcheck: 'false' }, '{\n  "key": "value"\n}');
  const qualifier = h('input', { id: 'test-qualifier', placeholder: '$LATEST', spellcheck: 'false' });
  const message = h('div', { id: 'test-message', 'aria-live': 'polite' });
  const result = h('div', { id: 'test-result' });
  const fill = () => mount(picker, h('option', { value: '' }, 'New event'), Object.keys(saved).sort().map(k => h('option', { value: k }, k)));
  fill();
  picker.addEventListener('change', () => {
    if (!picker.value) return;
    eventName.value = picker.value;
    payload.value = saved[picker.value];
  });
  const parsed = () => {
    try { return JSON.stringify(JSON.parse(payload.value)); } catch (e) { throw new Error(`The event is not valid JSON: ${e.message}`); }
  };
  const save = action('Save event', async () => {
    mount(message);
    parsed();
    if (!eventName.value.trim()) throw new Error('Name the event.');
    saved = { ...saved, [eventName.value.trim()]: payload.value };
    saveEvents(name, saved);
    fill();
    picker.value = eventName.value.trim();
    mount(message, notice('Saved in this browser.', 'ok'));
  }, message, { class: 'secondary', id: 'test-save' });
  const remove = action('Delete event', async () => {
    delete saved[picker.value];
    saveEvents(name, saved);
    fill();
  }, message, { class: 'secondary', id: 'test-delete' });
  const invoke = action('Invoke', async () => {
    mount(message);
    const body = parsed();
    const query = qualifier.value.trim() ? { Qualifier: qualifier.value.trim() } : {};
    const resp = await api.aws('lambda', 'POST', `/2015-03-31/functions/${enc(name)}/invocations`, {
      query, headers: { 'content-type': 'application/json', 'x-amz-log-type': 'Tail' }, body,
    });
    const text = await resp.text();
    if (!resp.ok) { await api.json(new Response(text, { status: resp.status, headers: resp.headers })); return; }
    showResult(result, resp, text);
  }, message, { id: 'test-invoke' });
  mount(panel, h('div', { class: 'card' },
    h('div', { class: 'row' }, field('Saved events', picker), field('Event name', eventName), field('Qualifier (version or alias)', qualifier)),
    field('Event (JSON)', payload),
    h('div', { class: 'row' }, invoke, save, remove), message, result));
}

function showResult(slot, resp, text) {
  const fnError = resp.headers.get('x-amz-function-error');
  const log = decodeLog(resp.headers.get('x-amz-log-result'));
  const report = reportFields(log);
  let pretty = text;
  try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON: as it is */ }
  mount(slot,
    fnError ? notice(`The function failed (${fnError}).`, 'error') : notice(`Succeeded; executed version ${resp.headers.get('x-amz-executed-version') || '?'}.`, 'ok'),
    h('h3', {}, 'Report'),
    h('div', { class: 'report', id: 'test-report' }, Object.entries(report).map(([k, v]) =>
      h('div', { class: 'tile', 'data-field': k }, h('span', { class: 'label' }, k), h('strong', {}, v)))),
    h('h3', {}, 'Response'), h('pre', { id: 'test-response' }, pretty),
    h('h3', {}, 'Log of this request'), h('pre', { id: 'test-log', class: 'log' }, log || '(no log)'));
}

export async function logs(panel, fn) {
  const name = fn.Configuration.FunctionName;
  const filter = h('input', { id: 'tail-filter', placeholder: 'e.g. ERROR or "timed out"', spellcheck: 'false' });
  const out = h('pre', { id: 'log-tail', class: 'log', 'aria-live': 'polite' }, '');
  const state = h('p', { id: 'tail-state', class: 'muted' }, 'Not tailing.');
  let source = null;
  const stop = () => { if (source) source.close(); source = null; state.textContent = 'Stopped.'; };
  const start = () => {
    stop();
    out.textContent = '';
    const qs = new URLSearchParams({ function: name, filter: filter.value });
    source = new EventSource(`events/logs?${qs}`);
    state.textContent = 'Tailing: new lines appear as they are written.';
    source.addEventListener('logs', (e) => {
      for (const ev of JSON.parse(e.data)) {
        out.append(`${new Date(ev.timestamp).toISOString()}  ${ev.message.replace(/\n$/, '')}\n`);
      }
      out.scrollTop = out.scrollHeight;
    });
    const ended = (e) => {
      const why = JSON.parse(e.data).message;
      if (why === 'reconnect') return; // EventSource reconnects by itself
      stop();
      state.replaceChildren(notice(why, 'error'));
    };
    source.addEventListener('end', ended);
    source.addEventListener('failure', ended);
    source.addEventListener('error', () => {
      if (source && source.readyState === EventSource.CLOSED) { stop(); state.replaceChildren(notice('The log tail was refused: sign in again.', 'error')); }
    });
  };
  filter.addEventListener('keydown', (e) => { if (e.key === 'Enter') start(); });
  mount(panel, h('div', { class: 'card' },
    h('div', { class: 'row' }, field('Filter pattern', filter),
      action('Start tail', async () => start(), null, { id: 'tail-start' }),
      action('Stop', async () => stop(), null, { id: 'tail-stop', class: 'secondary' })),
    state, out));
  start();
  return stop;
}
