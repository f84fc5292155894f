// EventBridge rules (per event bus) and EventBridge Scheduler schedules (`#/rules`): listed,
// each with a button that enables or disables it (EnableRule/DisableRule; UpdateSchedule
// with the schedule as GetSchedule returned it and the other State).

import { h, mount, notice, table, field, showError } from '../ui.js';
import * as api from '../api.js';
import { collect, statusLine } from '../widgets.js';

export async function render(root, params) {
  const bus = params.bus || 'default';
  const buses = await collect(async (token) => {
    const page = await api.events('ListEventBuses', token ? { NextToken: token } : {});
    return [(page.EventBuses || []).map(b => b.Name), page.NextToken];
  });
  const slot = statusLine('rules-message');
  const rules = h('section', { id: 'rules', 'aria-label': 'Rules' });
  const schedules = h('section', { id: 'schedules', 'aria-label': 'Schedules' });
  const pick = h('select', { id: 'bus' }, buses.map(b => h('option', { value: b, selected: b === bus }, b)));
  pick.addEventListener('change', () => showRules(rules, pick.value, slot).catch(e => showError(slot, e)));
  mount(root,
    h('h1', {}, 'Rules and schedules'),
    slot,
    h('h2', {}, 'EventBridge rules'),
    field('Event bus', pick),
    rules,
    h('h2', {}, 'Schedules (EventBridge Scheduler)'),
    schedules);
  await Promise.all([showRules(rules, bus, slot), showSchedules(schedules, slot)]);
}

/** A button switching `state` (ENABLED/DISABLED) of `name` with `flip(enable)`. */
function toggle(name, state, flip, slot, redraw) {
  const enabled = state === 'ENABLED';
  const b = h('button', { type: 'button', class: 'secondary toggle', 'aria-label': `${enabled ? 'Disable' : 'Enable'} ${name}` }, enabled ? 'Disable' : 'Enable');
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await flip(!enabled);
      mount(slot, notice(`${name} is now ${enabled ? 'disabled' : 'enabled'}.`, 'ok'));
      await redraw();
    } catch (e) {
      showError(slot, e);
      b.disabled = false;
    }
  });
  return b;
}

async function showRules(into, bus, slot) {
  const rules = await collect(async (token) => {
    const page = await api.events('ListRules', { EventBusName: bus, ...(token ? { NextToken: token } : {}) });
    return [page.Rules || [], page.NextToken];
  });
  const redraw = () => showRules(into, bus, slot);
  mount(into, table([
    { title: 'Name', get: r => r.Name },
    { title: 'State', get: r => r.State },
    { title: 'Schedule or pattern', get: r => h('code', {}, r.ScheduleExpression || r.EventPattern || '') },
    { title: 'Description', get: r => r.Description || '' },
    {
      title: 'Action', get: r => toggle(r.Name, r.State, on => api.events(on ? 'EnableRule' : 'DisableRule', { Name: r.Name, EventBusName: bus }), slot, redraw),
    },
  ], rules, { empty: `No rules on ${bus}.`, caption: `${rules.length} rule(s)` }));
}

async function showSchedules(into, slot) {
  const list = await collect(async (token) => {
    const page = await api.scheduler('GET', `/schedules${token ? `?NextToken=${encodeURIComponent(token)}` : ''}`);
    return [page.Schedules || [], page.NextToken];
  });
  const redraw = () => showSchedules(into, slot);
  mount(into, table([
    { title: 'Name', get: s => s.Name },
    { title: 'Group', get: s => s.GroupName },
    { title: 'State', get: s => s.State },
    { title: 'Target', get: s => h('code', {}, (s.Target || {}).Arn || '') },
    { title: 'Action', get: s => toggle(s.Name, s.State, on => setSchedule(s, on), slot, redraw) },
  ], list, { empty: 'No schedules.', caption: `${list.length} schedule(s)` }));
}

/** UpdateSchedule replaces the whole schedule: send back what GetSchedule gave, State changed. */
const UPDATABLE = ['ActionAfterCompletion', 'ClientToken', 'Description', 'EndDate', 'FlexibleTimeWindow',
  'GroupName', 'KmsKeyArn', 'ScheduleExpression', 'ScheduleExpressionTimezone', 'StartDate', 'Target'];

async function setSchedule(s, enable) {
  const path = `/schedules/${encodeURIComponent(s.Name)}?groupName=${encodeURIComponent(s.GroupName || 'default')}`;
  const full = await api.scheduler('GET', path);
  const body = Object.fromEntries(UPDATABLE.filter(k => full[k] !== undefined && full[k] !== null).map(k => [k, full[k]]));
  body.State = enable ? 'ENABLED' : 'DISABLED';
  await api.scheduler('PUT', `/schedules/${encodeURIComponent(s.Name)}`, body);
}
