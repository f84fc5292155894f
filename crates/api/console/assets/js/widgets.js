// Small controls the data pages share: a destructive button that asks first (in the page, not
// in a dialog, so keyboards and screen readers reach it like any other control), and paging
// over AWS list operations.

import { h, mount, showError } from './ui.js';

/** A button that asks before it acts: the first press shows `question` with a confirming
 * button (focused) and Cancel; only the confirming button runs `run`. Errors go to `slot`. */
export function confirmButton(label, question, run, slot, { yes = 'Yes, delete', attrs = {} } = {}) {
  const wrap = h('span', { class: 'confirm' });
  const ask = h('button', { type: 'button', class: 'danger', ...attrs }, label);
  const idle = () => mount(wrap, ask);
  ask.addEventListener('click', () => {
    const ok = h('button', { type: 'button', class: 'danger confirm-yes' }, yes);
    const no = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    no.addEventListener('click', () => { idle(); ask.focus(); });
    ok.addEventListener('click', async () => {
      ok.disabled = true;
      no.disabled = true;
      try { await run(); } catch (e) { showError(slot, e); idle(); }
    });
    mount(wrap, h('span', { role: 'alert' }, `${question} `), ok, ' ', no);
    ok.focus();
  });
  return idle();
}

/** Every page of a list call: `fetchPage(token)` returns [items, nextToken]. Stops after
 * `max` items, so a huge account still renders. */
export async function collect(fetchPage, max = 1000) {
  const out = [];
  let token;
  do {
    const [items, next] = await fetchPage(token);
    out.push(...items);
    token = next;
  } while (token && out.length < max);
  return out;
}

/** A short status line (`role=status`) that later messages replace. */
export function statusLine(id) {
  return h('div', { id, class: 'status-slot', 'aria-live': 'polite' });
}
