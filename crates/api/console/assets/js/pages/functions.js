// The functions list.

import { h, mount, fmt, table } from '../ui.js';
import * as api from '../api.js';

export async function render(root) {
  const functions = await api.lambdaAll('/functions/', 'Functions');
  functions.sort((a, b) => a.FunctionName.localeCompare(b.FunctionName));
  mount(root,
    h('div', { class: 'title-row' },
      h('h1', {}, 'Functions'),
      h('a', { class: 'button', href: '#/functions/new', id: 'create-function' }, 'Create function')),
    table([
      { title: 'Name', get: f => h('a', { href: `#/functions/${encodeURIComponent(f.FunctionName)}` }, f.FunctionName) },
      { title: 'Runtime', get: f => f.Runtime || f.PackageType },
      { title: 'Memory', get: f => `${f.MemorySize} MB` },
      { title: 'Timeout', get: f => `${f.Timeout} s` },
      { title: 'Code size', get: f => fmt.bytes(f.CodeSize || 0) },
      { title: 'Last modified', get: f => f.LastModified },
    ], functions, { empty: 'No functions yet: create one from a zip.', caption: `${functions.length} function(s)` }));
}
