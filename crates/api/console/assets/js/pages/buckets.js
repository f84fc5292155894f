// S3: the bucket list (`#/buckets`) and one bucket browsed by prefix (`#/buckets/<name>?prefix=`):
// ListObjectsV2 with a `/` delimiter, upload (PutObject), download through the console's
// proxy, delete after a confirmation.

import { h, mount, notice, fmt, table, field, showError } from '../ui.js';
import * as api from '../api.js';
import { confirmButton, statusLine } from '../widgets.js';

/** The largest body the console's proxy forwards (the server's whole-request limit). S3 takes
 * up to 5 GB in one PutObject; larger files go through the aws CLI or an SDK. */
export const UPLOAD_LIMIT = 70_167_211;

/** An S3 answer as an XML document, or an ApiError from its `<Error>` body. */
async function xml(resp) {
  const text = await resp.text();
  if (resp.status === 413) {
    throw new api.ApiError(413, 'EntityTooLarge', `Too large: the console forwards at most ${UPLOAD_LIMIT} bytes in one request. Nothing was uploaded.`);
  }
  const doc = new DOMParser().parseFromString(text || '<x/>', 'application/xml');
  if (!resp.ok) {
    const code = api.xmlText(doc, 'Code');
    throw new api.ApiError(resp.status, code, api.xmlText(doc, 'Message') || code || `HTTP ${resp.status}`);
  }
  return doc;
}

/** `/bucket/a/b c` with each key segment encoded and the slashes kept. */
export function objectPath(bucket, key = '') {
  return `/${encodeURIComponent(bucket)}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export async function render(root, params) {
  return params.bucket ? browse(root, params.bucket, params.prefix || '') : list(root);
}

async function list(root) {
  const doc = await xml(await api.s3('GET', '/'));
  const buckets = api.xmlList(doc, 'Bucket');
  mount(root,
    h('h1', {}, 'Buckets'),
    table([
      { title: 'Name', get: b => h('a', { href: `#/buckets/${encodeURIComponent(b.Name)}` }, b.Name) },
      { title: 'Created', get: b => fmt.time(b.CreationDate) },
    ], buckets, { empty: 'No buckets yet.', caption: `${buckets.length} bucket(s)` }));
}

/** The breadcrumb of a prefix: each folder links to its listing. */
function crumbs(bucket, prefix) {
  const parts = prefix.split('/').filter(Boolean);
  const link = (label, p) => h('a', { href: `#/buckets/${encodeURIComponent(bucket)}${p ? `?prefix=${encodeURIComponent(p)}` : ''}` }, label);
  return h('nav', { 'aria-label': 'Folder', class: 'crumbs' },
    link(bucket, ''), parts.map((p, i) => [' / ', link(p, parts.slice(0, i + 1).join('/') + '/')]));
}

async function browse(root, bucket, prefix) {
  const slot = statusLine('object-message');
  const listing = h('div', { id: 'object-list' });
  mount(root,
    h('p', {}, h('a', { href: '#/buckets' }, '← Buckets')),
    h('h1', { id: 'bucket-name' }, bucket),
    crumbs(bucket, prefix),
    uploadForm(bucket, prefix, slot, () => show(bucket, prefix, listing, slot)),
    slot,
    listing);
  await show(bucket, prefix, listing, slot);
}

async function show(bucket, prefix, into, slot, token) {
  const q = { 'list-type': '2', delimiter: '/', prefix, 'max-keys': '200' };
  if (token) q['continuation-token'] = token;
  const doc = await xml(await api.s3('GET', `/${encodeURIComponent(bucket)}`, { query: q }));
  const folders = api.xmlList(doc, 'CommonPrefixes').map(p => ({ folder: p.Prefix }));
  const objects = api.xmlList(doc, 'Contents');
  const next = api.xmlText(doc, 'NextContinuationToken');
  const name = key => key.slice(prefix.length) || key;
  const rows = [...folders, ...objects];
  mount(into,
    table([
      {
        title: 'Name', get: r => r.folder
          ? h('a', { href: `#/buckets/${encodeURIComponent(bucket)}?prefix=${encodeURIComponent(r.folder)}` }, `${name(r.folder)}`)
          : h('span', { class: 'key' }, name(r.Key)),
      },
      { title: 'Size', get: r => r.folder ? 'folder' : fmt.bytes(Number(r.Size)) },
      { title: 'Last modified', get: r => r.folder ? '' : fmt.time(r.LastModified) },
      {
        title: 'Actions', get: r => r.folder ? '' : h('span', { class: 'row' },
          h('a', {
            class: 'button secondary download', href: `aws/s3${objectPath(bucket, r.Key)}`,
            download: r.Key.split('/').pop(), 'aria-label': `Download ${r.Key}`,
          }, 'Download'),
          confirmButton('Delete', `Delete ${r.Key}?`, async () => {
            await xml(await api.s3('DELETE', objectPath(bucket, r.Key)));
            mount(slot, api_ok(`Deleted ${r.Key}.`));
            await show(bucket, prefix, into, slot);
          }, slot, { attrs: { 'aria-label': `Delete ${r.Key}` } })),
      },
    ], rows, { empty: prefix ? 'This folder is empty.' : 'This bucket is empty.', caption: `${objects.length} object(s), ${folders.length} folder(s)` }),
    next ? h('button', {
      type: 'button', class: 'secondary', onclick: () => show(bucket, prefix, into, slot, next).catch(e => showError(slot, e)),
    }, 'More') : null);
}

const api_ok = message => notice(message, 'ok');

function uploadForm(bucket, prefix, slot, refresh) {
  const file = h('input', { type: 'file', id: 'upload-file' });
  const key = h('input', { type: 'text', id: 'upload-key', value: prefix, spellcheck: 'false' });
  file.addEventListener('change', () => {
    if (file.files[0]) key.value = prefix + file.files[0].name;
  });
  const submit = h('button', { type: 'submit', id: 'upload-submit' }, 'Upload');
  const form = h('form', { class: 'card', 'aria-label': 'Upload' },
    h('h2', {}, 'Upload a file'),
    h('div', { class: 'row' },
      field('File', file),
      field('Key', key, `The console uploads up to ${fmt.bytes(UPLOAD_LIMIT)} (${UPLOAD_LIMIT} bytes) in one PutObject; S3 takes up to 5 GB, for which use the aws CLI.`),
      submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) { mount(slot, notice('Choose a file to upload.', 'error')); return; }
    if (!key.value || key.value.endsWith('/')) { mount(slot, notice('Give the object a key (a name after the folder).', 'error')); return; }
    if (f.size > UPLOAD_LIMIT) {
      mount(slot, notice(`${f.name} is ${fmt.bytes(f.size)}: the console uploads at most ${fmt.bytes(UPLOAD_LIMIT)} in one request. Nothing was uploaded; use the aws CLI (aws s3 cp) for larger files.`, 'error'));
      return;
    }
    submit.disabled = true;
    try {
      await xml(await api.s3('PUT', objectPath(bucket, key.value), {
        headers: { 'content-type': f.type || 'application/octet-stream' }, body: f,
      }));
      mount(slot, api_ok(`Uploaded ${key.value} (${fmt.bytes(f.size)}).`));
      file.value = '';
      key.value = prefix;
      await refresh();
    } catch (err) {
      showError(slot, err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
