// SNS: the topic list (`#/topics`) and one topic (`#/topics/<arn>`): its subscriptions and a
// form that publishes a message.

import { h, mount, notice, table, field, showError } from '../ui.js';
import * as api from '../api.js';
import { collect, statusLine } from '../widgets.js';

export async function render(root, params) {
  return params.arn ? one(root, params.arn) : list(root);
}

const nameOf = arn => arn.split(':').pop();

async function list(root) {
  const topics = await collect(async (token) => {
    const doc = await api.sns('ListTopics', token ? { NextToken: token } : {});
    return [api.xmlList(doc, 'member').map(m => m.TopicArn), api.xmlText(doc, 'NextToken')];
  });
  mount(root,
    h('h1', {}, 'Topics'),
    table([
      { title: 'Name', get: a => h('a', { href: `#/topics/${encodeURIComponent(a)}` }, nameOf(a)) },
      { title: 'ARN', get: a => h('code', {}, a) },
    ], topics, { empty: 'No topics yet.', caption: `${topics.length} topic(s)` }));
}

async function one(root, arn) {
  const subs = await collect(async (token) => {
    const doc = await api.sns('ListSubscriptionsByTopic', { TopicArn: arn, ...(token ? { NextToken: token } : {}) });
    return [api.xmlList(doc, 'member'), api.xmlText(doc, 'NextToken')];
  });
  const endpoint = s => {
    const fn = s.Protocol === 'lambda' && /:function:([^:]+)/.exec(s.Endpoint);
    return fn ? h('a', { href: `#/functions/${encodeURIComponent(fn[1])}` }, s.Endpoint) : s.Endpoint;
  };
  mount(root,
    h('p', {}, h('a', { href: '#/topics' }, '← Topics')),
    h('h1', { id: 'topic-name' }, nameOf(arn)),
    h('p', {}, h('code', {}, arn)),
    publishForm(arn),
    h('h2', {}, 'Subscriptions'),
    table([
      { title: 'Protocol', get: s => s.Protocol },
      { title: 'Endpoint', get: endpoint },
      { title: 'Subscription', get: s => h('code', {}, s.SubscriptionArn) },
    ], subs, { empty: 'No subscriptions.', caption: `${subs.length} subscription(s)` }));
}

function publishForm(arn) {
  const fifo = arn.endsWith('.fifo');
  const subject = h('input', { id: 'publish-subject', type: 'text' });
  const message = h('textarea', { id: 'publish-message', rows: '5' });
  const group = fifo ? h('input', { id: 'publish-group', type: 'text' }) : null;
  const slot = statusLine('publish-result');
  const submit = h('button', { type: 'submit', id: 'publish-submit' }, 'Publish');
  const form = h('form', { class: 'card', 'aria-label': 'Publish' },
    h('h2', {}, 'Publish a message'),
    field('Subject (optional)', subject),
    field('Message', message),
    fifo ? field('Message group ID', group, 'A FIFO topic needs one; deduplication uses the content if the topic allows it.') : null,
    submit, slot);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!message.value) { mount(slot, notice('Write a message to publish.', 'error')); return; }
    const params = { TopicArn: arn, Message: message.value };
    if (subject.value) params.Subject = subject.value;
    if (group && group.value) params.MessageGroupId = group.value;
    submit.disabled = true;
    try {
      const doc = await api.sns('Publish', params);
      mount(slot, notice(`Published: message ${api.xmlText(doc, 'MessageId')}.`, 'ok'));
    } catch (err) {
      showError(slot, err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
