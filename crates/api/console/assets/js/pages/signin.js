// Sign-in: an access key pair (the root key from the server's configuration, or an IAM
// user's key) and the region the console works in.

import { h, mount, notice, field } from '../ui.js';
import * as api from '../api.js';
import { go } from '../app.js';

export async function render(root, params) {
  const key = h('input', { name: 'accessKeyId', id: 'access-key-id', autocomplete: 'username', required: true, spellcheck: 'false' });
  const secret = h('input', { name: 'secretAccessKey', id: 'secret-access-key', type: 'password', autocomplete: 'current-password', required: true });
  const region = h('input', { name: 'region', id: 'region', value: 'us-east-1', required: true, spellcheck: 'false' });
  const message = h('div', { id: 'signin-message', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'card narrow', id: 'signin-form' },
    h('h1', {}, 'Sign in to Stratus'),
    h('p', { class: 'muted' }, 'Use an access key pair the server accepts: the one `stratus serve` printed, or an IAM user\'s key.'),
    field('Access key ID', key),
    field('Secret access key', secret),
    field('Region', region),
    message,
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    mount(message);
    try {
      const resp = await fetch('session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ accessKeyId: key.value.trim(), secretAccessKey: secret.value, region: region.value.trim() }),
        credentials: 'same-origin',
      });
      const data = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        mount(message, notice(data.message || `Sign-in failed (HTTP ${resp.status}).`, 'error'));
        secret.focus();
        return;
      }
      api.setSession(data);
      go(params.next || '');
    } catch (err) {
      mount(message, notice(err.message, 'error'));
    } finally {
      submit.disabled = false;
    }
  });
  mount(root, form);
  key.focus();
}
