// SQS: the queue list (`#/queues`) and one queue (`#/queues/<name>`): its attributes, send a
// message, peek (ReceiveMessage with a visibility timeout of 0, so the messages stay
// visible), purge after a confirmation.

import { h, mount, notice, table, field, fmt, showError } from '../ui.js';
import * as api from '../api.js';
import { collect, confirmButton, statusLine } from '../widgets.js';

export async function render(root, params) {
  return params.name ? one(root, params.name) : list(root);
}

const nameOf = url => url.split('/').pop();

async function list(root) {
  const urls = await collect(async (token) => {
    const page = await api.sqs('ListQueues', token ? { NextToken: token } : {});
    return [page.QueueUrls || [], page.NextToken];
  });
  mount(root,
    h('h1', {}, 'Queues'),
    table([
      { title: 'Name', get: u => h('a', { href: `#/queues/${encodeURIComponent(nameOf(u))}` }, nameOf(u)) },
      { title: 'URL', get: u => h('code', {}, u) },
    ], urls, { empty: 'No queues yet.', caption: `${urls.length} queue(s)` }));
}

async function one(root, name) {
  const { QueueUrl: url } = await api.sqs('GetQueueUrl', { QueueName: name });
  const attrs = h('div', { id: 'queue-attributes' });
  const slot = statusLine('queue-message');
  const peeked = h('div', { id: 'peeked' });
  const refresh = async () => {
    const { Attributes: a = {} } = await api.sqs('GetQueueAttributes', { QueueUrl: url, AttributeNames: ['All'] });
    mount(attrs, table([{ title: 'Attribute', get: r => r[0] }, { title: 'Value', get: r => r[1] }],
      Object.entries(a).sort(), { caption: 'Attributes' }));
  };
  const peek = async () => {
    const page = await api.sqs('ReceiveMessage', {
      QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'],
    });
    const msgs = page.Messages || [];
    mount(peeked, h('h2', {}, 'Peeked messages'), table([
      { title: 'Message ID', get: m => h('code', {}, m.MessageId) },
      { title: 'Sent', get: m => m.Attributes && m.Attributes.SentTimestamp ? fmt.time(Number(m.Attributes.SentTimestamp)) : '' },
      { title: 'Receives', get: m => (m.Attributes || {}).ApproximateReceiveCount || '' },
      { title: 'Body', get: m => h('pre', { class: 'body' }, m.Body) },
    ], msgs, { empty: 'No message is visible now.' }));
    await refresh();
  };
  mount(root,
    h('p', {}, h('a', { href: '#/queues' }, '← Queues')),
    h('h1', { id: 'queue-name' }, name),
    h('p', {}, h('code', {}, url)),
    sendForm(url, name.endsWith('.fifo'), slot, refresh),
    h('div', { class: 'row' },
      h('button', { type: 'button', id: 'peek', class: 'secondary', onclick: () => peek().catch(e => showError(slot, e)) }, 'Peek (visibility 0)'),
      confirmButton('Purge', `Delete every message in ${name}?`, async () => {
        await api.sqs('PurgeQueue', { QueueUrl: url });
        mount(slot, notice('Purged.', 'ok'));
        mount(peeked);
        await refresh();
      }, slot, { yes: 'Yes, purge', attrs: { id: 'purge' } })),
    h('small', { class: 'muted' }, 'Peeking receives the messages with a visibility timeout of 0: they stay in the queue, but each peek counts as a receive (ApproximateReceiveCount, and a redrive policy\'s maxReceiveCount).'),
    slot, peeked, attrs);
  await refresh();
}

function sendForm(url, fifo, slot, refresh) {
  const body = h('textarea', { id: 'send-body', rows: '4' });
  const delay = h('input', { id: 'send-delay', type: 'number', min: '0', max: '900', value: '0' });
  const group = fifo ? h('input', { id: 'send-group', type: 'text' }) : null;
  const submit = h('button', { type: 'submit', id: 'send-submit' }, 'Send');
  const form = h('form', { class: 'card', 'aria-label': 'Send a message' },
    h('h2', {}, 'Send a message'),
    field('Body', body),
    h('div', { class: 'row' }, fifo ? field('Message group ID', group) : field('Delay (seconds)', delay), submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const req = { QueueUrl: url, MessageBody: body.value };
    if (fifo) req.MessageGroupId = group.value;
    else if (Number(delay.value)) req.DelaySeconds = Number(delay.value);
    submit.disabled = true;
    try {
      const r = await api.sqs('SendMessage', req);
      mount(slot, notice(`Sent: message ${r.MessageId}.`, 'ok'));
      body.value = '';
      await refresh();
    } catch (err) {
      showError(slot, err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
