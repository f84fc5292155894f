// Charts drawn as inline SVG: a line chart of time series and a bar chart. Each series is a
// <path> (class `series series-<i>`) whose `d` has one point per datapoint, so a test or a
// screen reader's summary can see the data; the figure's caption says what it shows.

import { h } from './ui.js';

const W = 420, H = 180, PAD = { l: 44, r: 10, t: 10, b: 26 };

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function label(v) {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(v < 1 ? 3 : 1);
}

function clock(ms, span) {
  const d = new Date(ms);
  if (span > 2 * 86400e3) return `${d.getMonth() + 1}/${d.getDate()}`;
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** A count series with its empty periods as zeros (CloudWatch leaves periods without
 * datapoints out; for a sum, none means zero), on the grid of its own timestamps. */
export function zeroFilled(points, from, to, periodMs) {
  const have = new Map(points.map(p => [p[0], p[1]]));
  const phase = points.length ? ((points[0][0] % periodMs) + periodMs) % periodMs : 0;
  const first = Math.ceil((from - phase) / periodMs) * periodMs + phase;
  const out = [];
  for (let t = first; t <= to; t += periodMs) out.push([t, have.get(t) || 0]);
  for (const p of points) if (!out.some(q => q[0] === p[0])) out.push(p);
  return out.sort((a, b) => a[0] - b[0]);
}

/** A line chart: `series` is [{name, points: [[ms, value]...]}] over [from, to] ms. */
export function lineChart(title, series, from, to, unit = '') {
  const max = niceMax(Math.max(0, ...series.flatMap(s => s.points.map(p => p[1]))));
  const x = t => PAD.l + ((t - from) / Math.max(1, to - from)) * (W - PAD.l - PAD.r);
  const y = v => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const grid = [0, 0.5, 1].map(f => h('g', { class: 'grid' },
    h('line', { x1: PAD.l, x2: W - PAD.r, y1: y(max * f), y2: y(max * f) }),
    h('text', { x: PAD.l - 6, y: y(max * f) + 4, 'text-anchor': 'end' }, label(max * f))));
  const ticks = [0, 0.5, 1].map(f => {
    const t = from + f * (to - from);
    return h('text', { x: x(t), y: H - 8, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' }, clock(t, to - from));
  });
  const lines = series.map((s, i) => {
    if (!s.points.length) return null;
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    const dots = s.points.length === 1 ? h('circle', { class: `series-${i}`, cx: x(s.points[0][0]), cy: y(s.points[0][1]), r: 3 }) : null;
    return h('g', {}, h('path', { class: `series series-${i}`, d, 'data-points': s.points.length, 'data-max': Math.max(...s.points.map(p => p[1])) }), dots);
  });
  const total = series.reduce((n, s) => n + s.points.filter(p => p[1]).length, 0);
  const svg = h('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}${unit ? ` (${unit})` : ''}` },
    grid, ticks, lines);
  return h('figure', { class: 'chart' },
    h('figcaption', {}, title, unit ? h('span', { class: 'muted' }, ` ${unit}`) : null,
      series.length > 1 ? legend(series) : null),
    svg,
    total ? null : h('p', { class: 'muted empty' }, 'Nothing in this window.'));
}

function legend(series) {
  return h('span', { class: 'legend' }, series.map((s, i) =>
    h('span', { class: `key key-${i}` }, s.name)));
}

/** A bar chart of labelled values (cost per day). */
export function barChart(title, bars, format = label) {
  const max = niceMax(Math.max(0, ...bars.map(b => b.value)));
  const bw = (W - PAD.l - PAD.r) / Math.max(1, bars.length);
  const y = v => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const rects = bars.map((b, i) => h('g', {},
    h('rect', { class: 'bar', x: PAD.l + i * bw + 2, y: y(b.value), width: Math.max(1, bw - 4), height: H - PAD.b - y(b.value) },
      h('title', {}, `${b.label}: ${format(b.value)}`)),
    h('text', { x: PAD.l + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle' }, b.label)));
  const grid = [0, 1].map(f => h('g', { class: 'grid' },
    h('line', { x1: PAD.l, x2: W - PAD.r, y1: y(max * f), y2: y(max * f) }),
    h('text', { x: PAD.l - 6, y: y(max * f) + 4, 'text-anchor': 'end' }, format(max * f))));
  return h('figure', { class: 'chart' }, h('figcaption', {}, title),
    h('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title }, grid, rects));
}
