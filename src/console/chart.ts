// A small SVG line chart: one or more series of (time, value) points, a y axis from zero to
// the largest value, time labels at both ends. No library: the console loads nothing external.
import { h } from './dom.js';
import { num } from './format.js';

export interface Series { label: string; color: string; points: Array<[number, number]> }

const NS = 'http://www.w3.org/2000/svg';
const W = 600, H = 180, L = 54, R = 8, T = 8, B = 22;

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export function lineChart(title: string, series: Series[], unit = ''): HTMLElement {
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
  const all = series.flatMap((s) => s.points);
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]));
  const vmax = Math.max(1, ...all.map((p) => p[1]));
  const x = (t: number) => L + (t1 > t0 ? ((t - t0) / (t1 - t0)) * (W - L - R) : 0);
  const y = (v: number) => T + (1 - v / vmax) * (H - T - B);
  for (const f of [0, 0.5, 1]) {
    root.appendChild(svg('line', { x1: L, x2: W - R, y1: y(vmax * f), y2: y(vmax * f), stroke: '#e3e7ec', 'stroke-width': 1 }));
    const label = svg('text', { x: L - 6, y: y(vmax * f) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#697586' });
    label.textContent = num(vmax * f) + unit;
    root.appendChild(label);
  }
  if (all.length > 0) {
    const ends: Array<[number, string]> = t1 > t0 ? [[t0, 'start'], [t1, 'end']] : [[t1, 'end']];
    for (const [t, anchor] of ends) {
      const label = svg('text', { x: x(t), y: H - 6, 'text-anchor': anchor, 'font-size': 11, fill: '#697586' });
      label.textContent = new Date(t).toLocaleTimeString();
      root.appendChild(label);
    }
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    if (s.points.length === 1) {
      root.appendChild(svg('circle', { cx: x(s.points[0][0]) || W - R, cy: y(s.points[0][1]), r: 3, fill: s.color }));
      continue;
    }
    const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    root.appendChild(svg('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' }));
  }
  const legend = h('div', { class: 'legend' }, h('strong', {}, title), ...series.map((s) => {
    const last = s.points.length > 0 ? `${num(s.points[s.points.length - 1][1])}${unit}` : '';
    // a swatch drawn in SVG: the page's CSP allows no inline styles
    const sw = svg('svg', { width: 10, height: 10, viewBox: '0 0 10 10', class: 'swatch' });
    sw.appendChild(svg('rect', { width: 10, height: 10, rx: 2, fill: s.color }));
    return h('span', {}, sw, ` ${s.label} ${last}`);
  }));
  const box = h('div', { class: 'chart' }, legend);
  box.appendChild(root);
  return box;
}

// RabbitMQ's *_details.samples (newest first): for a counter, the rate between neighbours;
// for a length, the values themselves.
export function fromSamples(details: unknown, isRate: boolean): Array<[number, number]> {
  const samples = (details as { samples?: Array<{ sample: number; timestamp: number }> } | undefined)?.samples ?? [];
  const pts = [...samples].reverse();
  if (!isRate) return pts.map((s) => [s.timestamp, s.sample]);
  const out: Array<[number, number]> = [];
  for (let i = 1; i < pts.length; i++) {
    const dt = (pts[i].timestamp - pts[i - 1].timestamp) / 1000;
    out.push([pts[i].timestamp, dt > 0 ? Math.max(0, (pts[i].sample - pts[i - 1].sample) / dt) : 0]);
  }
  return out;
}

export const COLORS = ['#d96c00', '#1f77b4', '#2e7d32', '#8e24aa', '#b3261e', '#00838f'];

export const RANGES: Array<{ label: string; age: number; incr: number }> = [
  { label: '1 min', age: 60, incr: 5 }, { label: '10 min', age: 600, incr: 5 }, { label: '1 hour', age: 3600, incr: 60 },
  { label: '8 hours', age: 28800, incr: 600 }, { label: '1 day', age: 86400, incr: 1800 },
];
