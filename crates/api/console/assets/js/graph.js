// The triggers-and-destinations graph of a function: sources on the left, the function in the
// middle, destinations on the right, each an SVG box joined to the function by a line.

import { h } from './ui.js';

const BOX_W = 200, BOX_H = 34, GAP = 12, COL = 300;

function box(x, y, node, cls) {
  const text = node.label.length > 30 ? `${node.label.slice(0, 29)}…` : node.label;
  return h('g', { class: `node ${cls}` },
    h('rect', { x, y, width: BOX_W, height: BOX_H, rx: 6 }),
    h('text', { x: x + 8, y: y + 14, class: 'kind' }, node.kind),
    h('text', { x: x + 8, y: y + 28 }, text),
    h('title', {}, `${node.kind}: ${node.label}`));
}

/** `sources` and `targets` are [{kind, label}]. */
export function triggerGraph(name, sources, targets) {
  const rows = Math.max(1, sources.length, targets.length);
  const height = rows * (BOX_H + GAP) + GAP;
  const mid = height / 2 - BOX_H / 2;
  const yOf = (i, n) => (height - n * (BOX_H + GAP) + GAP) / 2 + i * (BOX_H + GAP);
  const parts = [];
  sources.forEach((s, i) => {
    const y = yOf(i, sources.length);
    parts.push(h('line', { class: 'edge', x1: BOX_W, y1: y + BOX_H / 2, x2: COL, y2: mid + BOX_H / 2, 'marker-end': 'url(#arrow)' }));
    parts.push(box(0, y, s, 'source'));
  });
  targets.forEach((t, i) => {
    const y = yOf(i, targets.length);
    parts.push(h('line', { class: 'edge', x1: COL + BOX_W, y1: mid + BOX_H / 2, x2: 2 * COL, y2: y + BOX_H / 2, 'marker-end': 'url(#arrow)' }));
    parts.push(box(2 * COL, y, t, 'target'));
  });
  parts.push(box(COL, mid, { kind: 'Function', label: name }, 'self'));
  const defs = h('defs', {}, h('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' },
    h('path', { d: 'M0,0 L10,5 L0,10 z' })));
  const desc = `${sources.length} trigger(s): ${sources.map(s => `${s.kind} ${s.label}`).join(', ') || 'none'}; ` +
    `${targets.length} destination(s): ${targets.map(t => `${t.kind} ${t.label}`).join(', ') || 'none'}`;
  return h('svg', { class: 'graph', viewBox: `-2 -2 ${2 * COL + BOX_W + 4} ${height + 4}`, role: 'img', 'aria-label': desc }, defs, parts);
}
