// A small SVG line chart: one or more series over a time window, gaps where a value is null,
// a y axis with round ticks, minute marks on the x axis, and a hover readout in the legend.
import { h, s, fill, setText } from './dom.js';

const HEIGHT = 130;
const PAD = { left: 48, right: 10, top: 8, bottom: 18 };

/** A round step near `raw`: 1, 2, 2.5 or 5 times a power of ten. */
function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
}

/**
 * Draws (or redraws) a chart into `box`.
 * data = { from, to (epoch ms), times: number[], series: [{ key, label, cls, values: (number|null)[] }],
 *          format: (v) => string, axisFormat?: (v) => string, minMax?: number, integer?: boolean }
 */
export function lineChart(box, data) {
  let st = box._chart;
  if (!st) {
    const svg = s('svg', { class: 'chart-svg', height: HEIGHT, role: 'img' });
    const legend = h('div', { class: 'legend' });
    box.append(svg, legend);
    st = box._chart = { svg, legend, data, hover: null };
    svg.addEventListener('mousemove', (e) => {
      const r = svg.getBoundingClientRect();
      st.hover = e.clientX - r.left;
      draw(box, st);
    });
    svg.addEventListener('mouseleave', () => {
      st.hover = null;
      draw(box, st);
    });
    if (typeof ResizeObserver === 'function') {
      let lastWidth = 0;
      new ResizeObserver(() => {
        if (box.clientWidth !== lastWidth) {
          lastWidth = box.clientWidth;
          draw(box, st);
        }
      }).observe(box);
    }
  }
  st.data = data;
  draw(box, st);
}

function draw(box, st) {
  const { svg, legend, data } = st;
  const width = Math.max(160, box.clientWidth || 320);
  svg.setAttribute('width', String(width));
  svg.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
  const { from, to, times, series, format } = data;
  const axisFormat = data.axisFormat ?? format;
  const plotW = width - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const span = Math.max(1, to - from);
  const x = (t) => PAD.left + ((t - from) / span) * plotW;

  let max = data.minMax ?? 0;
  for (const se of series) for (const v of se.values) if (v !== null && v > max) max = v;
  if (!(max > 0)) max = 1;
  const step = data.integer ? Math.max(1, niceStep(max / 3)) : niceStep(max / 3);
  const top = Math.ceil(max / step) * step;
  const y = (v) => PAD.top + plotH - (v / top) * plotH;

  const nodes = [];
  // Y grid and labels.
  for (let v = 0; v <= top + step / 2; v += step) {
    const yy = y(v).toFixed(1);
    nodes.push(s('line', { class: 'grid', x1: PAD.left, x2: width - PAD.right, y1: yy, y2: yy }));
    nodes.push(s('text', { class: 'axis', x: PAD.left - 5, y: Number(yy) + 3, 'text-anchor': 'end' }, axisFormat(v)));
  }
  // X marks: every minute back from the right edge.
  const minute = 60_000;
  for (let t = to, i = 0; t >= from; t -= minute, i++) {
    const xx = x(t).toFixed(1);
    nodes.push(s('line', { class: 'tick', x1: xx, x2: xx, y1: PAD.top + plotH, y2: PAD.top + plotH + 3 }));
    nodes.push(s('text', { class: 'axis', x: xx, y: HEIGHT - 4, 'text-anchor': i === 0 ? 'end' : 'middle' }, i === 0 ? 'now' : `-${i}m`));
  }
  // Series.
  for (const se of series) {
    let d = '';
    let pen = false;
    let last = -1;
    for (let i = 0; i < times.length; i++) {
      const v = se.values[i];
      if (v === null || v === undefined || times[i] < from) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(times[i]).toFixed(1)} ${y(v).toFixed(1)}`;
      pen = true;
      last = i;
    }
    if (d) nodes.push(s('path', { class: `line ${se.cls}`, d }));
    if (last >= 0) nodes.push(s('circle', { class: `dot ${se.cls}`, cx: x(times[last]).toFixed(1), cy: y(se.values[last]).toFixed(1), r: 2.5 }));
  }

  // Hover: the nearest second under the pointer.
  let at = -1;
  if (st.hover !== null && times.length) {
    const t = from + ((st.hover - PAD.left) / plotW) * span;
    let best = Infinity;
    for (let i = 0; i < times.length; i++) {
      const dist = Math.abs(times[i] - t);
      if (dist < best) {
        best = dist;
        at = i;
      }
    }
    if (at >= 0) {
      const xx = x(times[at]).toFixed(1);
      nodes.push(s('line', { class: 'cursor', x1: xx, x2: xx, y1: PAD.top, y2: PAD.top + plotH }));
    }
  }
  if (!times.length) nodes.push(s('text', { class: 'empty', x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle' }, 'no data yet'));
  fill(svg, nodes);

  // Legend: hovered values, or the latest.
  const idx = at >= 0 ? at : times.length - 1;
  if (legend.childElementCount !== series.length + 1) {
    fill(
      legend,
      series.map((se) => h('span', { class: 'key', dataset: { key: se.key } }, h('i', { class: `swatch ${se.cls}` }), `${se.label} `, h('b'))),
      h('span', { class: 'when' }),
    );
  }
  series.forEach((se, i) => {
    const v = idx >= 0 ? se.values[idx] : null;
    setText(legend.children[i].querySelector('b'), v === null || v === undefined ? '—' : format(v));
  });
  setText(legend.lastElementChild, at >= 0 ? new Date(times[at]).toLocaleTimeString(undefined, { hour12: false }) : '');
}
