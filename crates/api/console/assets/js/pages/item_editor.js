// The item editor of the table page: an item as JSON, plain (converted) or DynamoDB's typed
// JSON, saved with PutItem; invalid JSON, a non-object or a missing key attribute is refused
// on the page before anything is sent. Delete asks first.

import { h, mount, notice, field, showError } from '../ui.js';
import * as api from '../api.js';
import { confirmButton } from '../widgets.js';
import { itemToPlain, itemToTyped, plainable } from '../dynamo_json.js';
import { run } from './tables.js';

const HELP = {
  plain: 'Plain JSON, converted on save: strings → S, numbers → N, true/false → BOOL, null → NULL, arrays → L, objects → M. It has no sets or binary: use typed JSON for those.',
  typed: 'DynamoDB typed JSON, as PutItem takes it: {"name": {"S": "text"}, "n": {"N": "1"}}.',
};

/** Shows `item` (typed, from the API) in the editor, or an empty one for a new item. */
export function openEditor(state, item) {
  const { keys, editor } = state;
  const slot = h('div', { id: 'editor-message', 'aria-live': 'polite' });
  let mode = !item || plainable(item) ? 'plain' : 'typed';
  const start = item ? (mode === 'plain' ? itemToPlain(item) : item)
    : Object.fromEntries(keys.map(k => [k.name, k.type === 'N' ? 0 : '']));
  const text = h('textarea', { id: 'item-json', rows: '12', spellcheck: 'false' });
  text.value = JSON.stringify(start, null, 2);
  const help = h('small', { class: 'muted', id: 'format-help' }, HELP[mode]);
  const radio = (value, label) => h('label', { class: 'inline' },
    h('input', { type: 'radio', name: 'item-format', value, id: `format-${value}`, checked: mode === value, onchange: () => switchTo(value) }), ` ${label}`);
  const switchTo = (next) => {
    try {
      const parsed = JSON.parse(text.value);
      text.value = JSON.stringify(next === 'typed' ? itemToTyped(parsed) : itemToPlain(parsed), null, 2);
      mode = next;
      help.textContent = HELP[mode];
      mount(slot);
    } catch (e) {
      editor.querySelector(`#format-${mode}`).checked = true;
      mount(slot, notice(`Cannot switch: ${e.message}.`, 'error'));
    }
  };
  const save = h('button', { type: 'button', id: 'item-save' }, 'Save item');
  save.addEventListener('click', async () => {
    const typed = parse(text.value, mode, keys, slot);
    if (!typed) return;
    save.disabled = true;
    try {
      await api.dynamodb('PutItem', { TableName: state.desc.TableName, Item: typed });
      mount(slot, notice('Saved.', 'ok'));
      await run(state, state.request);
    } catch (e) {
      showError(slot, e);
    } finally {
      save.disabled = false;
    }
  });
  const del = item ? confirmButton('Delete item', 'Delete this item?', async () => {
    const Key = Object.fromEntries(keys.map(k => [k.name, item[k.name]]));
    await api.dynamodb('DeleteItem', { TableName: state.desc.TableName, Key });
    mount(editor);
    mount(state.slot, notice('Item deleted.', 'ok'));
    await run(state, state.request);
  }, slot, { attrs: { id: 'item-delete' } }) : null;
  mount(editor, h('div', { class: 'card', role: 'region', 'aria-label': 'Item editor' },
    h('h2', {}, item ? 'Item' : 'New item'),
    h('fieldset', { class: 'row' }, h('legend', {}, 'Format'), radio('plain', 'Plain JSON'), radio('typed', 'DynamoDB JSON')),
    help,
    field('Item JSON', text),
    h('div', { class: 'row' }, save, del,
      h('button', { type: 'button', class: 'secondary', onclick: () => mount(editor) }, 'Close')),
    slot));
  text.focus();
}

/** The typed item in `source`, or null after showing why it cannot be saved. */
function parse(source, mode, keys, slot) {
  let value;
  try {
    value = JSON.parse(source);
  } catch (e) {
    mount(slot, notice(`Invalid JSON: ${e.message}. Nothing was saved.`, 'error'));
    return null;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    mount(slot, notice('The item must be a JSON object. Nothing was saved.', 'error'));
    return null;
  }
  const missing = keys.filter(k => !(k.name in value)).map(k => k.name);
  if (missing.length) {
    mount(slot, notice(`The item needs its key attribute(s): ${missing.join(', ')}. Nothing was saved.`, 'error'));
    return null;
  }
  return mode === 'plain' ? itemToTyped(value) : value;
}
