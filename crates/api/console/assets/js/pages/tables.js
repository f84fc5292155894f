// DynamoDB: the table list (`#/tables`) and one table (`#/tables/<name>`): Scan or Query (a key
// condition on the partition key, an optional sort key condition) a page at a time, and an
// item opened in the editor (item_editor.js).

import { h, mount, notice, table, field, showError } from '../ui.js';
import * as api from '../api.js';
import { collect, statusLine } from '../widgets.js';
import { itemToPlain, plainable, keyValue } from '../dynamo_json.js';
import { openEditor } from './item_editor.js';

export async function render(root, params) {
  return params.table ? one(root, params.table) : list(root);
}

async function list(root) {
  const names = await collect(async (start) => {
    const page = await api.dynamodb('ListTables', start ? { ExclusiveStartTableName: start } : {});
    return [page.TableNames || [], page.LastEvaluatedTableName];
  });
  mount(root,
    h('h1', {}, 'Tables'),
    table([{ title: 'Name', get: n => h('a', { href: `#/tables/${encodeURIComponent(n)}` }, n) }],
      names, { empty: 'No tables yet.', caption: `${names.length} table(s)` }));
}

/** The key attributes ([{name, type, role}]) of the table or of one of its indexes. */
function keysOf(desc, index) {
  const types = Object.fromEntries((desc.AttributeDefinitions || []).map(a => [a.AttributeName, a.AttributeType]));
  const all = [...(desc.GlobalSecondaryIndexes || []), ...(desc.LocalSecondaryIndexes || [])];
  const schema = index ? (all.find(i => i.IndexName === index) || {}).KeySchema : desc.KeySchema;
  return (schema || []).map(k => ({ name: k.AttributeName, type: types[k.AttributeName] || 'S', role: k.KeyType }));
}

async function one(root, name) {
  const { Table: desc } = await api.dynamodb('DescribeTable', { TableName: name });
  const keys = keysOf(desc, '');
  const slot = statusLine('item-message');
  const results = h('div', { id: 'items' });
  const editor = h('section', { id: 'editor-slot' });
  const state = { desc, keys, results, editor, slot, request: null };
  mount(root,
    h('p', {}, h('a', { href: '#/tables' }, '← Tables')),
    h('h1', { id: 'table-name' }, name),
    h('p', { class: 'muted' }, `Key: ${keys.map(k => `${k.name} (${k.type}, ${k.role === 'HASH' ? 'partition' : 'sort'})`).join(', ')} · ${desc.ItemCount ?? 0} item(s) · ${desc.TableStatus}`),
    queryForm(state),
    h('div', { class: 'row' },
      h('button', { type: 'button', id: 'new-item', class: 'secondary', onclick: () => openEditor(state, null) }, 'New item')),
    slot, editor, results);
  await run(state, { TableName: name });
}

/** Scan with the table's own key, or Query with a key condition, both with a page size. */
function queryForm(state) {
  const { desc } = state;
  const indexes = [...(desc.GlobalSecondaryIndexes || []), ...(desc.LocalSecondaryIndexes || [])].map(i => i.IndexName);
  const index = h('select', { id: 'q-index' }, h('option', { value: '' }, 'The table'), indexes.map(i => h('option', { value: i }, i)));
  const pk = h('input', { id: 'q-pk', type: 'text' });
  const op = h('select', { id: 'q-op' }, ['', '=', '<', '<=', '>', '>=', 'begins_with', 'between'].map(o => h('option', { value: o }, o || '(none)')));
  const sk1 = h('input', { id: 'q-sk1', type: 'text' });
  const sk2 = h('input', { id: 'q-sk2', type: 'text' });
  const limit = h('input', { id: 'q-limit', type: 'number', min: '1', max: '1000', value: '25' });
  const pkField = field('Partition key value', pk);
  const skField = h('div', { class: 'row' }, field('Sort key condition', op), field('Value', sk1), field('And (between)', sk2));
  const labels = () => {
    const keys = keysOf(desc, index.value);
    pkField.querySelector('label').textContent = `Partition key ${keys[0].name} (${keys[0].type})`;
    const sort = keys.find(k => k.role === 'RANGE');
    skField.hidden = !sort;
    if (sort) skField.querySelector('label').textContent = `Sort key ${sort.name} (${sort.type}) condition`;
  };
  index.addEventListener('change', labels);
  labels();
  const base = () => {
    const r = { TableName: desc.TableName, Limit: Number(limit.value) || 25 };
    if (index.value) r.IndexName = index.value;
    return r;
  };
  const scan = h('button', { type: 'button', id: 'scan', class: 'secondary' }, 'Scan');
  scan.addEventListener('click', () => run(state, base()));
  const form = h('form', { class: 'card', 'aria-label': 'Scan or query' },
    h('h2', {}, 'Scan or query'),
    h('div', { class: 'row' }, field('Index', index), field('Page size', limit)),
    pkField, skField,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'query' }, 'Query'), scan));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const keys = keysOf(desc, index.value);
    const sort = keys.find(k => k.role === 'RANGE');
    if (!pk.value) { mount(state.slot, notice('Query needs a partition key value (or use Scan).', 'error')); return; }
    const r = { ...base(), ExpressionAttributeNames: { '#pk': keys[0].name }, ExpressionAttributeValues: { ':pk': keyValue(keys[0].type, pk.value) } };
    let cond = '#pk = :pk';
    if (sort && op.value) {
      r.ExpressionAttributeNames['#sk'] = sort.name;
      r.ExpressionAttributeValues[':a'] = keyValue(sort.type, sk1.value);
      if (op.value === 'between') {
        r.ExpressionAttributeValues[':b'] = keyValue(sort.type, sk2.value);
        cond += ' AND #sk BETWEEN :a AND :b';
      } else if (op.value === 'begins_with') {
        cond += ' AND begins_with(#sk, :a)';
      } else {
        cond += ` AND #sk ${op.value} :a`;
      }
    }
    r.KeyConditionExpression = cond;
    run(state, r);
  });
  return form;
}

/** Runs a Scan (no key condition) or a Query and shows one page, with a next-page button
 * while LastEvaluatedKey comes back. */
export async function run(state, request, start) {
  state.request = request;
  const r = start ? { ...request, ExclusiveStartKey: start } : request;
  let page;
  try {
    page = await api.dynamodb(request.KeyConditionExpression ? 'Query' : 'Scan', r);
  } catch (e) {
    showError(state.slot, e);
    return;
  }
  const items = page.Items || [];
  const keys = state.keys;
  const preview = item => {
    const text = JSON.stringify(plainable(item) ? itemToPlain(item) : item);
    return h('code', {}, text.length > 120 ? `${text.slice(0, 117)}…` : text);
  };
  mount(state.results,
    h('h2', {}, `${request.KeyConditionExpression ? 'Query' : 'Scan'}: ${items.length} item(s)${start ? ' (a later page)' : ''}`),
    table([
      ...keys.map(k => ({ title: k.name, get: it => it[k.name] ? Object.values(it[k.name])[0] : '' })),
      { title: 'Item', get: preview },
      {
        title: 'Open', get: it => h('button', {
          type: 'button', class: 'secondary open-item', 'aria-label': `Open item ${keys.map(k => Object.values(it[k.name] || {})[0]).join(' ')}`,
          onclick: () => openEditor(state, it),
        }, 'Open'),
      },
    ], items, { empty: 'No items.' }),
    page.LastEvaluatedKey ? h('button', {
      type: 'button', id: 'next-page', class: 'secondary', onclick: () => run(state, request, page.LastEvaluatedKey),
    }, 'Next page') : null,
    start ? h('button', { type: 'button', class: 'secondary', onclick: () => run(state, request) }, 'First page') : null);
}
