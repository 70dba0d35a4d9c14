// Small SVG charts: a success-rate sparkline, delivered-vs-failed bars, latency lines. Each
// chart has a text alternative (role="img" + aria-label) and a table fallback for the numbers.

import { h } from './lib.js';

const NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const k of kids) if (k) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

/**
 * The stats API's answer, in one shape whatever its field names:
 * [{start: Date, delivered, failed, p50, p90, p99}] (latencies in ms, or null).
 */
export function normalizeStats(body) {
  const rows = body?.points || body?.intervals || body?.buckets || body?.data || body?.series || [];
  if (!Array.isArray(rows)) return [];
  const num = (...xs) => {
    for (const x of xs) if (typeof x === 'number' && Number.isFinite(x)) return x;
    return null;
  };
  return rows.map((r) => {
    const lat = r.latency_ms || r.latency || {};
    return {
      start: new Date(r.start || r.start_at || r.from || r.time || r.t || 0),
      delivered: num(r.delivered, r.success, r.ok) ?? 0,
      failed: num(r.failed, r.failure, r.errors) ?? 0,
      p50: num(r.p50_ms, r.p50, lat.p50, lat.p50_ms),
      p90: num(r.p90_ms, r.p90, lat.p90, lat.p90_ms),
      p99: num(r.p99_ms, r.p99, lat.p99, lat.p99_ms),
    };
  });
}

/** Deliveries of a destination counted into `buckets` intervals of the window (no stats API). */
export function bucketDeliveries(deliveries, windowMs, buckets, now = Date.now()) {
  const size = windowMs / buckets;
  const from = now - windowMs;
  const out = Array.from({ length: buckets }, (_, i) => ({ start: new Date(from + i * size), delivered: 0, failed: 0, p50: null, p90: null, p99: null }));
  for (const d of deliveries) {
    const t = new Date(d.updated_at || d.created_at).getTime();
    if (t < from || t > now) continue;
    const b = out[Math.min(buckets - 1, Math.floor((t - from) / size))];
    if (d.status === 'delivered') b.delivered += 1;
    else if (d.status === 'failed') b.failed += 1;
  }
  return out;
}

/** Deliveries per interval as tiny stacked bars (delivered green, failed red), with the rate in words. */
export function sparkline(intervals, { width = 96, height = 24 } = {}) {
  const total = intervals.reduce((n, b) => n + b.delivered + b.failed, 0);
  const ok = intervals.reduce((n, b) => n + b.delivered, 0);
  const label = total ? `${Math.round((ok / total) * 100)}% delivered (${ok} of ${total})` : 'no deliveries yet';
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'spark', 'aria-hidden': 'true' });
  svg.append(s('line', { x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5, stroke: 'var(--line)' }));
  const max = Math.max(1, ...intervals.map((b) => b.delivered + b.failed));
  const bw = width / Math.max(1, intervals.length);
  intervals.forEach((b, i) => {
    const n = b.delivered + b.failed;
    if (!n) return;
    const hAll = Math.max(2, ((height - 2) * n) / max);
    const hBad = (hAll * b.failed) / n;
    const x = i * bw + 0.5;
    svg.append(s('rect', { x, y: height - hAll, width: Math.max(1, bw - 1), height: hAll - hBad, fill: 'var(--ok)' }));
    if (b.failed) svg.append(s('rect', { x, y: height - hBad, width: Math.max(1, bw - 1), height: hBad, fill: 'var(--bad)' }));
  });
  return h('span.sparkwrap', svg, h('span.small.muted', label));
}

const tick = (d, windowMs) =>
  windowMs > 6 * 3600_000 ? `${String(d.getHours()).padStart(2, '0')}:00` : `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;

/** Stacked bars: delivered (green) under failed (red), per interval. */
export function deliveryBars(intervals, windowMs, title) {
  const W = 800, H = 200, L = 32, B = 20;
  const max = Math.max(1, ...intervals.map((b) => b.delivered + b.failed));
  const bw = (W - L) / Math.max(1, intervals.length);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${title}: ${summary(intervals)}` });
  svg.append(s('text', { x: 0, y: 10, class: 'axis' }, String(max)), s('text', { x: 0, y: H - B, class: 'axis' }, '0'));
  svg.append(s('line', { x1: L, x2: W, y1: H - B, y2: H - B, stroke: 'var(--line)' }));
  intervals.forEach((b, i) => {
    const x = L + i * bw + 1;
    const hd = ((H - B - 4) * b.delivered) / max;
    const hf = ((H - B - 4) * b.failed) / max;
    const tip = `${tick(b.start, windowMs)}: ${b.delivered} delivered, ${b.failed} failed`;
    if (b.delivered) svg.append(s('rect', { x, y: H - B - hd, width: Math.max(1, bw - 2), height: hd, fill: 'var(--ok)' }, s('title', {}, tip)));
    if (b.failed) svg.append(s('rect', { x, y: H - B - hd - hf, width: Math.max(1, bw - 2), height: hf, fill: 'var(--bad)' }, s('title', {}, tip)));
    if (i % Math.ceil(intervals.length / 6) === 0) svg.append(s('text', { x, y: H - 4, class: 'axis' }, tick(b.start, windowMs)));
  });
  return h('figure.chartbox', h('figcaption', title, ' ', h('span.legend.ok', 'delivered'), ' ', h('span.legend.bad', 'failed')), svg);
}

function summary(intervals) {
  const d = intervals.reduce((n, b) => n + b.delivered, 0);
  const f = intervals.reduce((n, b) => n + b.failed, 0);
  return `${d} delivered, ${f} failed`;
}

/** Latency percentiles per interval: three lines. */
export function latencyLines(intervals, windowMs, title) {
  const W = 800, H = 200, L = 48, B = 20;
  const keys = [['p50', 'var(--ok)'], ['p90', 'var(--warn)'], ['p99', 'var(--bad)']];
  const max = Math.max(1, ...intervals.flatMap((b) => keys.map(([k]) => b[k] ?? 0)));
  const step = (W - L) / Math.max(1, intervals.length - 1);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${title}: highest p99 ${Math.round(Math.max(0, ...intervals.map((b) => b.p99 ?? 0)))} ms` });
  svg.append(s('text', { x: 0, y: 10, class: 'axis' }, `${Math.round(max)} ms`), s('text', { x: 0, y: H - B, class: 'axis' }, '0'));
  svg.append(s('line', { x1: L, x2: W, y1: H - B, y2: H - B, stroke: 'var(--line)' }));
  for (const [k, color] of keys) {
    let d = '';
    intervals.forEach((b, i) => {
      if (b[k] === null) return;
      const x = (L + i * step).toFixed(1);
      const y = (H - B - ((H - B - 4) * b[k]) / max).toFixed(1);
      d += `${d && intervals[i - 1]?.[k] !== null ? 'L' : 'M'}${x} ${y}`;
    });
    if (d) svg.append(s('path', { d, fill: 'none', stroke: color, 'stroke-width': 2 }));
  }
  intervals.forEach((b, i) => {
    if (i % Math.ceil(intervals.length / 6) === 0) svg.append(s('text', { x: L + i * step, y: H - 4, class: 'axis' }, tick(b.start, windowMs)));
  });
  return h('figure.chartbox', h('figcaption', title, ' ', h('span.legend.ok', 'p50'), ' ', h('span.legend.warn', 'p90'), ' ', h('span.legend.bad', 'p99')), svg);
}
