// CodeDeploy deployments of Lambda aliases (`#/rollouts`, `#/rollouts/<id>`): the list with
// each one's status, and one deployment's progress (the target version's share of the alias,
// its lifecycle hooks, its error) with a button that stops it and rolls the alias back.
// The page reads on demand (Refresh), not on a timer: the platform drives the rollout.

import { h, mount, notice, table, fmt, showError } from '../ui.js';
import * as api from '../api.js';
import { collect, confirmButton, statusLine } from '../widgets.js';

const ACTIVE = new Set(['Created', 'Queued', 'InProgress', 'Baking', 'Ready']);

export async function render(root, params) {
  return params.id ? one(root, params.id) : list(root);
}

const when = (s) => (s ? fmt.time(Number(s) * 1000) : '');

async function list(root) {
  const ids = await collect(async (token) => {
    const page = await api.codedeploy('ListDeployments', token ? { nextToken: token } : {});
    return [page.deployments || [], page.nextToken];
  }, 100);
  const infos = [];
  for (let i = 0; i < ids.length; i += 25) { // BatchGetDeployments takes 25 ids at most
    const page = await api.codedeploy('BatchGetDeployments', { deploymentIds: ids.slice(i, i + 25) });
    infos.push(...(page.deploymentsInfo || []));
  }
  infos.sort((a, b) => (b.createTime || 0) - (a.createTime || 0));
  mount(root,
    h('h1', {}, 'Rollouts'),
    h('p', { class: 'muted' }, 'CodeDeploy deployments of Lambda aliases. Start one with `stratus rollout` or `aws deploy create-deployment`.'),
    table([
      { title: 'Deployment', get: d => h('a', { href: `#/rollouts/${encodeURIComponent(d.deploymentId)}` }, d.deploymentId) },
      { title: 'Application', get: d => d.applicationName },
      { title: 'Group', get: d => d.deploymentGroupName },
      { title: 'Status', get: d => h('span', { class: 'rollout-status' }, d.status) },
      { title: 'Created', get: d => when(d.createTime) },
    ], infos, { empty: 'No deployments yet.', caption: `${infos.length} deployment(s)` }));
}

async function one(root, id) {
  const slot = statusLine('rollout-message');
  const body = h('div', { id: 'rollout' });
  const refresh = async () => {
    const { deploymentInfo: d } = await api.codedeploy('GetDeployment', { deploymentId: id });
    const { targetIds = [] } = await api.codedeploy('ListDeploymentTargets', { deploymentId: id });
    const target = targetIds.length
      ? (await api.codedeploy('GetDeploymentTarget', { deploymentId: id, targetId: targetIds[0] }))
        .deploymentTarget.lambdaTarget
      : null;
    mount(body, ...view(d, target, slot, refresh));
  };
  mount(root,
    h('p', {}, h('a', { href: '#/rollouts' }, '← Rollouts')),
    h('h1', {}, 'Rollout ', h('code', {}, id)),
    h('button', { type: 'button', id: 'rollout-refresh', class: 'secondary', onclick: () => refresh().catch(e => showError(slot, e)) }, 'Refresh'),
    slot, body);
  await refresh();
}

function view(d, target, slot, refresh) {
  const info = target && target.lambdaFunctionInfo;
  const share = info ? Math.round((info.targetVersionWeight || 0) * 1000) / 10 : 0;
  const parts = [
    h('p', {}, 'Status: ', h('strong', { id: 'rollout-status' }, d.status),
      ` · ${d.applicationName} / ${d.deploymentGroupName} · ${d.deploymentConfigName || ''}`),
  ];
  if (info) {
    parts.push(
      h('p', {}, 'Function ', h('a', { href: `#/functions/${encodeURIComponent(info.functionName)}` }, info.functionName),
        `, alias ${info.functionAlias}: version ${info.currentVersion} → ${info.targetVersion}`),
      h('label', { for: 'rollout-progress' }, `Traffic on version ${info.targetVersion}: `,
        h('span', { id: 'rollout-weight' }, `${share}%`)),
      h('progress', { id: 'rollout-progress', max: '100', value: String(share) }),
      table([
        { title: 'Lifecycle event', get: e => e.lifecycleEventName },
        { title: 'Status', get: e => e.status },
        { title: 'Ended', get: e => (e.endTime ? when(e.endTime) : '') },
      ], target.lifecycleEvents || [], { caption: 'Lifecycle events' }));
  }
  if (d.errorInformation) {
    parts.push(notice(`${d.errorInformation.code}: ${d.errorInformation.message}`, 'error'));
  }
  if (d.rollbackInfo && d.rollbackInfo.rollbackMessage) {
    parts.push(h('p', { id: 'rollout-rollback' }, d.rollbackInfo.rollbackMessage));
  }
  if (ACTIVE.has(d.status)) {
    parts.push(confirmButton('Stop and roll back',
      'Stop this deployment and put the alias back on the current version?', async () => {
        await api.codedeploy('StopDeployment', { deploymentId: d.deploymentId, autoRollbackEnabled: true });
        mount(slot, notice('Stopping: the alias goes back to the current version.', 'ok'));
        await refresh();
      }, slot, { yes: 'Yes, stop and roll back', attrs: { id: 'rollout-stop' } }));
  }
  return parts;
}
