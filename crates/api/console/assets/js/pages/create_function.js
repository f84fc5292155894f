// Create a function from an uploaded zip.

import { h, mount, notice, field, fileToBase64 } from '../ui.js';
import * as api from '../api.js';
import { go } from '../app.js';

const RUNTIMES = ['python3.14', 'python3.13', 'python3.12', 'python3.11', 'python3.10', 'nodejs24.x', 'nodejs22.x',
  'nodejs20.x', 'nodejs18.x', 'provided.al2023', 'provided.al2', 'java25', 'java21', 'java17', 'ruby3.4', 'ruby3.3', 'dotnet10'];

/** CreateFunction takes a zip of at most 50 MB in the request (larger ones go through S3). */
const MAX_ZIP = 50 * 1024 * 1024;

async function roleArns() {
  try {
    const doc = await api.iam('ListRoles', { MaxItems: '200' });
    return api.xmlList(doc, 'member').map(r => r.Arn).filter(Boolean);
  } catch {
    return []; // a key that may not list roles can still type one
  }
}

export async function render(root) {
  const roles = await roleArns();
  const name = h('input', { id: 'fn-name', required: true, pattern: '[A-Za-z0-9_-]{1,64}', spellcheck: 'false' });
  const runtime = h('select', { id: 'fn-runtime' }, RUNTIMES.map(r => h('option', { value: r, selected: r === 'python3.12' }, r)));
  const handler = h('input', { id: 'fn-handler', value: 'lambda_function.lambda_handler', required: true, spellcheck: 'false' });
  const role = h('input', { id: 'fn-role', list: 'fn-roles', required: true, value: roles[0] || '', spellcheck: 'false' });
  const memory = h('input', { id: 'fn-memory', type: 'number', min: 128, max: 10240, value: 128 });
  const timeout = h('input', { id: 'fn-timeout', type: 'number', min: 1, max: 900, value: 3 });
  const zip = h('input', { id: 'fn-zip', type: 'file', accept: '.zip,application/zip', required: true });
  const message = h('div', { id: 'create-message', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', id: 'create-submit' }, 'Create function');
  const form = h('form', { class: 'card' },
    h('h1', {}, 'Create a function'),
    field('Name', name, 'Letters, digits, hyphens and underscores; at most 64.'),
    field('Runtime', runtime),
    field('Handler', handler, 'file.function for Python, file.export for Node.js.'),
    field('Execution role ARN', role),
    h('datalist', { id: 'fn-roles' }, roles.map(r => h('option', { value: r }))),
    h('div', { class: 'row' }, field('Memory (MB)', memory), field('Timeout (s)', timeout)),
    field('Code (.zip)', zip, 'At most 50 MB.'),
    message, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    mount(message);
    const file = zip.files[0];
    if (!file) { mount(message, notice('Choose a .zip file.', 'error')); return; }
    if (file.size > MAX_ZIP) { mount(message, notice(`The zip is ${(file.size / 1048576).toFixed(1)} MB: at most 50 MB can be uploaded here.`, 'error')); return; }
    submit.disabled = true;
    try {
      const created = await api.lambda('POST', '/functions', {
        FunctionName: name.value.trim(), Runtime: runtime.value, Handler: handler.value.trim(),
        Role: role.value.trim(), MemorySize: Number(memory.value), Timeout: Number(timeout.value),
        Code: { ZipFile: await fileToBase64(file) },
      });
      go(`functions/${encodeURIComponent(created.FunctionName)}`);
    } catch (err) {
      mount(message, notice(err.message, 'error'));
    } finally {
      submit.disabled = false;
    }
  });
  mount(root, form);
  name.focus();
}
