// The HeliosDB dashboard: reads the observability API every 2 seconds and draws the panels.
// No framework and no build step; everything it loads comes from HeliosDB itself.
import { lineChart } from './charts.js';
import { fill, fmtAgo, fmtAttr, fmtBytes, fmtMs, fmtNum, fmtPct, fmtTime, fmtUnit, h, setText } from './dom.js';

const API = '/api/v1/observability';
const WINDOW_SECONDS = 300;
const REFRESH_MS = 2000;
const CLOSED_ANOMALIES_SHOWN = 10;

const state = {
  /** Top-queries row whose traces are shown: { fingerprint, database, query } or null. */
  selected: null,
  traceId: null,
  paused: false,
  busy: false,
  /** Bumped on every selection change, so a late answer for an old selection is dropped. */
  traceGen: 0,
  /** The traces API answered 404 (no tracing here): ask again only after this time. */
  tracesOffUntil: 0,
};

const $ = (sel, root = document) => root.querySelector(sel);
const panel = (name) => $(`[data-panel="${name}"]`);
const setValue = (name, text) => document.querySelectorAll(`[data-value="${name}"]`).forEach((el) => setText(el, text));

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: reported by status below
  }
  if (!res.ok) throw new HttpError(res.status, (body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

/** Shows a panel's "no data" line (with `text`) or its content; marks an error. */
function setEmpty(el, empty, text, which) {
  const p = which ? el.querySelector(`.empty[data-empty="${which}"]`) : el.querySelector('.empty');
  if (!p) return;
  p.hidden = !empty;
  if (text) setText(p, text);
  const wrap = p.previousElementSibling;
  if (wrap && (wrap.classList.contains('table-wrap') || wrap.tagName === 'OL')) wrap.hidden = empty;
}

function panelError(el, err) {
  el.dataset.state = err ? 'error' : 'ok';
  if (err) el.querySelectorAll('.empty').forEach((p) => (p.hidden = true));
  let p = el.querySelector(':scope > .panel-error');
  if (!err) {
    if (p) p.remove();
    return;
  }
  if (!p) {
    p = h('p', { class: 'panel-error' });
    el.querySelector('h2').after(p);
  }
  setText(p, describeError(err));
}

function describeError(err) {
  if (!(err instanceof HttpError)) return 'cannot reach HeliosDB';
  if (err.status === 503) return 'observability is not running yet';
  if (err.status === 404) return 'this HeliosDB serves no observability API';
  return `could not load: ${err.message}`;
}

const shortQuery = (q) => (q && q.length > 400 ? `${q.slice(0, 400)}…` : q || '');

function queryCell(text, kind) {
  return h('td', { class: 'q' }, h('code', { title: text }, shortQuery(text)), kind ? h('span', { class: 'kind' }, kind) : null);
}

// ---------------------------------------------------------------- summary: the four charts

function renderSummary(body) {
  const series = body.series || [];
  const to = Math.floor(Date.parse(body.now) / 1000) * 1000;
  const from = to - WINDOW_SECONDS * 1000;
  const times = series.map((p) => p.t);
  const latest = body.latest || series.at(-1) || null;
  const pick = (k) => series.map((p) => p[k]);

  let sumQ = 0;
  let peakQ = 0;
  let sumE = 0;
  let peakC = 0;
  for (const p of series) {
    sumQ += p.qps;
    sumE += p.errors;
    if (p.qps > peakQ) peakQ = p.qps;
    if (p.clients > peakC) peakC = p.clients;
  }
  const n = series.length;
  let lat = null;
  for (let i = series.length - 1; i >= 0 && !lat; i--) if (series[i].p50 !== null) lat = series[i];

  setValue('qps', latest ? fmtNum(latest.qps) : '—');
  setValue('qps-avg', n ? fmtNum(Math.round((sumQ / n) * 10) / 10) : '—');
  setValue('qps-peak', n ? fmtNum(peakQ) : '—');
  setValue('p50', lat ? fmtMs(lat.p50) : '—');
  setValue('p95', lat ? fmtMs(lat.p95) : '—');
  setValue('p99', lat ? fmtMs(lat.p99) : '—');
  setValue('errors', n ? fmtNum(sumE) : '—');
  setValue('error-rate', latest ? fmtPct(latest.errorRate) : '—');
  setValue('error-rate-avg', sumQ ? fmtPct(sumE / sumQ) : '—');
  setValue('clients', latest ? fmtNum(latest.clients) : '—');
  setValue('upstreams', latest ? fmtNum(latest.upstreams) : '—');
  setValue('clients-peak', n ? fmtNum(peakC) : '—');
  setValue('rows', latest ? fmtNum(latest.rows) : '—');
  setValue('bytes', latest ? fmtBytes(latest.bytes) : '—');
  setValue('fingerprints', fmtNum(body.fingerprints ?? 0));
  setValue('anomalies-open', fmtNum(body.anomaliesOpen ?? 0));
  document.querySelector('[data-value="anomalies-open"]')?.classList.toggle('alarm', (body.anomaliesOpen ?? 0) > 0);
  panel('errors').classList.toggle('has-errors', sumE > 0);

  const axisMs = (v) => (v >= 1000 ? `${v / 1000}s` : `${+v.toFixed(3)}ms`);
  const chart = (name, series_, format, axisFormat, minMax) =>
    lineChart($(`[data-chart="${name}"]`), { from, to, times, series: series_, format, axisFormat, minMax, integer: format === fmtNum });
  chart('throughput', [{ key: 'qps', label: 'stmt/s', cls: 's1', values: pick('qps') }], fmtNum, fmtNum, 1);
  chart(
    'latency',
    [
      { key: 'p50', label: 'p50', cls: 's1', values: pick('p50') },
      { key: 'p95', label: 'p95', cls: 's2', values: pick('p95') },
      { key: 'p99', label: 'p99', cls: 's3', values: pick('p99') },
    ],
    fmtMs,
    axisMs,
    0.001,
  );
  chart(
    'errors',
    [{ key: 'rate', label: 'error rate', cls: 's4', values: series.map((p) => (p.qps ? p.errorRate : null)) }],
    fmtPct,
    (v) => `${+(v * 100).toFixed(2)}%`,
    0.01,
  );
  chart(
    'connections',
    [
      { key: 'clients', label: 'clients', cls: 's1', values: pick('clients') },
      { key: 'upstreams', label: 'upstream', cls: 's2', values: pick('upstreams') },
    ],
    fmtNum,
    fmtNum,
    1,
  );
}

// ---------------------------------------------------------------- top and slowest queries

function selectQuery(q) {
  const same = state.selected && state.selected.fingerprint === q.fingerprint && state.selected.database === q.database;
  state.selected = same ? null : { fingerprint: q.fingerprint, database: q.database, query: q.query };
  state.traceId = null;
  state.traceGen++;
  markSelected();
  showTraceDetail(null);
  void loadTraces();
  if (!same) panel('traces').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
}

function markSelected() {
  const sel = state.selected;
  document.querySelectorAll('tr[data-fingerprint]').forEach((tr) => {
    tr.classList.toggle('selected', !!sel && tr.dataset.fingerprint === sel.fingerprint && tr.dataset.database === sel.database);
  });
  const tp = panel('traces');
  setText(tp.querySelector('[data-value="trace-filter"]'), sel ? `of ${sel.query.length > 80 ? `${sel.query.slice(0, 80)}…` : sel.query}` : 'recent');
  tp.querySelector('.clear-filter').hidden = !sel;
}

function clickableRow(q, cells) {
  return h(
    'tr',
    {
      class: 'clickable',
      tabindex: 0,
      dataset: { fingerprint: q.fingerprint, database: q.database },
      title: 'show traces of this statement',
      onclick: () => selectQuery(q),
      onkeydown: (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          selectQuery(q);
        }
      },
    },
    cells,
  );
}

function renderTop(body) {
  const el = panel('top-queries');
  const rows = body.queries || [];
  fill(
    el.querySelector('tbody'),
    rows.map((q) =>
      clickableRow(q, [
        queryCell(q.query, q.kind),
        h('td', { class: 'db' }, q.database),
        h('td', { class: 'n', dataset: { col: 'calls' } }, fmtNum(q.calls)),
        h('td', { class: q.errors ? 'n bad' : 'n', dataset: { col: 'errors' } }, fmtNum(q.errors)),
        h('td', { class: 'n', dataset: { col: 'total' } }, fmtMs(q.total_ms)),
        h('td', { class: 'n' }, fmtMs(q.mean_ms)),
        h('td', { class: 'n' }, fmtMs(q.p50_ms)),
        h('td', { class: 'n' }, fmtMs(q.p95_ms)),
        h('td', { class: 'n' }, fmtMs(q.p99_ms)),
        h('td', { class: 'n' }, fmtNum(q.rows)),
      ]),
    ),
  );
  setEmpty(el, rows.length === 0, 'no data yet');
  markSelected();
}

function renderSlowest(body) {
  const el = panel('slow-queries');
  const rows = body.queries || [];
  fill(
    el.querySelector('table.slowest tbody'),
    rows.map((q) =>
      clickableRow(q, [
        queryCell(q.query, q.kind),
        h('td', { class: 'db' }, q.database),
        h('td', { class: 'n' }, fmtNum(q.calls)),
        h('td', { class: 'n' }, fmtMs(q.p95_ms)),
        h('td', { class: 'n' }, fmtMs(q.p99_ms)),
        h('td', { class: 'n' }, fmtMs(q.max_ms)),
      ]),
    ),
  );
  setEmpty(el, rows.length === 0, 'no data yet', 'slowest');
  markSelected();
}

function renderSlowLog(body) {
  const el = panel('slow-queries');
  const rows = body.statements || [];
  setValue('slow-threshold', `statements ≥ ${fmtMs(body.thresholdMs)}`);
  fill(
    el.querySelector('table.slowlog tbody'),
    rows.map((s) =>
      clickableRow(s, [
        h('td', { class: 'when', title: s.at }, fmtTime(s.at)),
        h('td', { class: 'n', dataset: { col: 'duration' } }, fmtMs(s.durationMs)),
        queryCell(s.query),
        h('td', { class: 'db' }, s.database),
        h('td', { class: 'who', title: s.clientAddress || '' }, s.user, s.applicationName ? h('span', { class: 'app' }, ` · ${s.applicationName}`) : null),
        s.sqlstate ? h('td', { class: 'bad' }, `error ${s.sqlstate}`) : h('td', {}, `${fmtNum(s.rows)} row${s.rows === 1 ? '' : 's'}`),
      ]),
    ),
  );
  setEmpty(el, rows.length === 0, `no statements slower than ${fmtMs(body.thresholdMs)} yet`, 'slowlog');
  markSelected();
}

// ---------------------------------------------------------------- anomalies

const METRICS = {
  throughput: 'throughput',
  latency_p95: 'p95 latency',
  error_rate: 'error rate',
  connections: 'client connections',
  active_statements: 'statements in flight',
  query_latency_p95: 'statement p95 latency',
  query_error_rate: 'statement error rate',
};
const CAUSES = {
  new_slow_fingerprint: 'new slow statement',
  plan_change: 'plan change',
  lock_waits: 'lock waits',
  volume_spike: 'volume spike',
  error_burst: 'error burst',
  upstream_saturation: 'upstream saturation',
  unknown: 'cause unknown',
};

function renderAnomaly(a, now) {
  const open = a.closedAt === null;
  const sev = open ? a.severity : 'resolved';
  const arrow = a.direction === 'down' ? '↓' : '↑';
  const opened = Date.parse(a.openedAt);
  const lasted = open ? `open for ${fmtAgo(opened, now).replace(' ago', '')}` : `resolved ${fmtAgo(a.closedAt, now)}, lasted ${fmtAgo(opened, Date.parse(a.closedAt)).replace(' ago', '')}`;
  return h(
    'li',
    { class: `anomaly ${open ? 'open' : 'closed'} sev-${sev}`, dataset: { anomalyId: a.id, severity: a.severity, metric: a.metric, state: open ? 'open' : 'closed' } },
    h(
      'div',
      { class: 'a-head' },
      h('span', { class: `badge sev-${sev}` }, sev),
      h('b', { class: 'a-metric' }, `${METRICS[a.metric] || a.metric} ${arrow}`),
      h('span', { class: 'a-when', title: a.openedAt }, `${fmtTime(a.openedAt)} · ${lasted}`),
    ),
    a.query ? h('div', { class: 'a-query' }, h('code', { title: a.query }, shortQuery(a.query)), a.database ? h('span', { class: 'db' }, ` on ${a.database}`) : null) : null,
    h(
      'div',
      { class: 'a-values' },
      'expected ',
      h('b', {}, fmtUnit(a.expected, a.unit)),
      ', actual ',
      h('b', { class: 'actual' }, fmtUnit(a.actual, a.unit)),
      a.peak !== a.actual ? [', peak ', h('b', {}, fmtUnit(a.peak, a.unit))] : null,
      h('span', { class: 'score' }, ` · score ${fmtNum(Math.round(a.score * 10) / 10)}`),
    ),
    h('div', { class: 'a-cause' }, 'likely cause: ', h('b', {}, CAUSES[a.cause] || a.cause)),
    a.evidence && a.evidence.length
      ? h(
          'ul',
          { class: 'evidence' },
          a.evidence.map((e) =>
            h(
              'li',
              {},
              h('details', {}, h('summary', {}, h('span', { class: 'weight' }, `${Math.round(e.weight * 100)}%`), ` ${CAUSES[e.cause] || e.cause}: ${e.summary}`), h('pre', {}, JSON.stringify(e.details, null, 2))),
            ),
          ),
        )
      : null,
  );
}

function renderAnomalies(body) {
  const el = panel('anomalies');
  const all = body.anomalies || [];
  const open = all.filter((a) => a.closedAt === null);
  const closed = all.filter((a) => a.closedAt !== null).slice(0, CLOSED_ANOMALIES_SHOWN);
  const now = Date.now();
  fill(
    el.querySelector('ol'),
    open.map((a) => renderAnomaly(a, now)),
    closed.length ? h('li', { class: 'sep' }, 'recently resolved') : null,
    closed.map((a) => renderAnomaly(a, now)),
  );
  el.classList.toggle('alarm', open.length > 0);
  setEmpty(el, all.length === 0, 'no anomalies: everything looks normal');
}

// ---------------------------------------------------------------- traces

async function loadTraces() {
  const el = panel('traces');
  const gen = state.traceGen;
  const sel = state.selected;
  const qs = new URLSearchParams({ limit: '25' });
  if (sel) qs.set('fingerprint', sel.fingerprint);
  try {
    const body = await getJson(`${API}/traces?${qs}`);
    state.tracesOffUntil = 0;
    if (gen !== state.traceGen) return;
    panelError(el, null);
    renderTraces(body, sel);
  } catch (err) {
    if (gen !== state.traceGen) return;
    if (err instanceof HttpError && err.status === 404) {
      // This HeliosDB keeps no traces (or has no traces API): nothing to show, not an error.
      panelError(el, null);
      state.tracesOffUntil = Date.now() + 30_000;
      el.dataset.tracing = 'off';
      fill(el.querySelector('tbody'));
      setEmpty(el, true, 'no traces yet');
      return;
    }
    panelError(el, err);
  }
}

function renderTraces(body, sel) {
  const el = panel('traces');
  el.dataset.tracing = 'on';
  const rows = body.traces || [];
  fill(
    el.querySelector('tbody'),
    rows.map((t) =>
      h(
        'tr',
        {
          class: `clickable${t.error ? ' error' : ''}${t.traceId === state.traceId ? ' selected' : ''}`,
          tabindex: 0,
          dataset: { traceId: t.traceId },
          onclick: () => openTrace(t.traceId),
          onkeydown: (e) => {
            if (e.key === 'Enter' || e.key === ' ') {
              e.preventDefault();
              openTrace(t.traceId);
            }
          },
        },
        h('td', { class: 'when', title: t.startTime }, fmtTime(t.startTime)),
        queryCell(t.statement || t.rootName),
        h('td', { class: 'db' }, t.database || ''),
        h('td', { class: 'n' }, fmtMs(t.durationMs)),
        h('td', { class: 'n' }, fmtNum(t.spanCount), t.error ? h('span', { class: 'badge sev-critical' }, 'error') : null),
      ),
    ),
  );
  setEmpty(el, rows.length === 0, sel ? 'no traces yet for this statement' : 'no traces yet');
}

async function openTrace(traceId) {
  state.traceId = traceId;
  document.querySelectorAll('[data-panel="traces"] tr[data-trace-id]').forEach((tr) => tr.classList.toggle('selected', tr.dataset.traceId === traceId));
  const gen = state.traceGen;
  try {
    const t = await getJson(`${API}/traces/${encodeURIComponent(traceId)}`);
    if (gen !== state.traceGen || state.traceId !== traceId) return;
    showTraceDetail(t);
  } catch (err) {
    if (gen !== state.traceGen || state.traceId !== traceId) return;
    showTraceDetail(null, err instanceof HttpError && err.status === 404 ? 'this trace is no longer kept' : `could not load the trace: ${err.message}`);
  }
}

/** helios.plan is EXPLAIN (FORMAT JSON) text, maybe truncated: indented when it parses. */
function prettyPlan(v) {
  if (typeof v !== 'string') return fmtAttr(v);
  try {
    return JSON.stringify(JSON.parse(v), null, 2);
  } catch {
    return v;
  }
}

function showTraceDetail(t, message) {
  const box = panel('traces').querySelector('.trace-detail');
  if (!t) {
    box.dataset.traceId = '';
    fill(box, h('p', { class: message ? 'panel-error' : 'hint' }, message || 'click a trace to see its spans'));
    return;
  }
  box.dataset.traceId = t.traceId;
  const spans = t.spans || [];
  const start = spans.length ? Math.min(...spans.map((sp) => Date.parse(sp.startTime))) : 0;
  const total = Math.max(t.durationMs || 0, ...spans.map((sp) => Date.parse(sp.startTime) - start + sp.durationMs), 0.001);
  const byId = new Map(spans.map((sp) => [sp.spanId, sp]));
  const depth = (sp) => {
    let d = 0;
    for (let p = sp; p.parentSpanId && byId.has(p.parentSpanId) && d < 20; p = byId.get(p.parentSpanId)) d++;
    return d;
  };
  fill(
    box,
    h(
      'div',
      { class: 'trace-head' },
      h('b', {}, t.rootName || 'trace'),
      ` · ${fmtMs(t.durationMs)} · ${spans.length} span${spans.length === 1 ? '' : 's'}`,
      t.droppedSpans ? ` (+${t.droppedSpans} dropped)` : '',
      t.error ? h('span', { class: 'badge sev-critical' }, 'error') : null,
      h('div', { class: 'trace-id' }, `trace ${t.traceId}`),
    ),
    h(
      'ol',
      { class: 'spans' },
      spans.map((sp, i) => {
        const offset = Date.parse(sp.startTime) - start;
        const bar = h('span', { class: `bar${sp.status && sp.status.code === 'ERROR' ? ' error' : ''}` });
        bar.style.left = `${(Math.max(0, offset) / total) * 100}%`;
        bar.style.width = `${Math.max(0.5, (sp.durationMs / total) * 100)}%`;
        const name = h('span', { class: 'span-name' }, sp.name, h('small', {}, ` ${String(sp.kind || '').toLowerCase()}`));
        name.style.paddingLeft = `${depth(sp) * 14}px`;
        const attrs = Object.entries(sp.attributes || {});
        const plan = sp.attributes && sp.attributes['helios.plan'];
        return h(
          'li',
          { class: 'span', dataset: { spanId: sp.spanId } },
          h(
            'details',
            { open: i === 0 || plan !== undefined },
            h('summary', {}, name, h('span', { class: 'track' }, bar), h('span', { class: 'n dur' }, fmtMs(sp.durationMs))),
            h(
              'div',
              { class: 'span-body' },
              sp.status && sp.status.code !== 'UNSET' ? h('p', { class: sp.status.code === 'ERROR' ? 'bad' : '' }, `status ${sp.status.code}${sp.status.message ? `: ${sp.status.message}` : ''}`) : null,
              attrs.length
                ? h(
                    'table',
                    { class: 'attrs' },
                    h(
                      'tbody',
                      {},
                      attrs.map(([k, v]) =>
                        h('tr', { dataset: { attr: k } }, h('th', {}, k), h('td', {}, k === 'helios.plan' || (typeof v === 'string' && v.includes('\n')) ? h('pre', { class: 'plan' }, k === 'helios.plan' ? prettyPlan(v) : fmtAttr(v)) : fmtAttr(v))),
                      ),
                    ),
                  )
                : h('p', { class: 'hint' }, 'no attributes'),
              sp.events && sp.events.length
                ? h(
                    'ul',
                    { class: 'events' },
                    sp.events.map((ev) => h('li', {}, h('b', {}, ev.name), ` at ${fmtTime(ev.time)} `, Object.keys(ev.attributes || {}).length ? h('code', {}, fmtAttr(ev.attributes)) : null)),
                  )
                : null,
            ),
          ),
        );
      }),
    ),
  );
}

// ---------------------------------------------------------------- cost

/** Dollars with enough digits that one cheap statement is not shown as $0.00. */
function fmtUsd(v) {
  if (v === null || v === undefined) return '—';
  if (v === 0) return '$0';
  const a = Math.abs(v);
  const digits = a >= 100 ? 2 : a >= 1 ? 4 : Math.min(10, 2 - Math.floor(Math.log10(a)) + 2);
  return `$${v.toFixed(digits)}`;
}

function renderTenants(body) {
  const el = panel('costs');
  setText(el.querySelector('[data-value="rate-card"]'), `per tenant · rate card ${body.rateCard}`);
  const rows = body.tenants || [];
  fill(
    el.querySelector('table.tenants tbody'),
    rows.map((t) =>
      h('tr', { dataset: { tenant: t.tenant } },
        h('td', {}, t.tenant),
        h('td', { class: 'n', dataset: { col: 'statements' } }, fmtNum(t.month.statements)),
        h('td', { class: 'n' }, fmtUsd(t.day.total)),
        h('td', { class: 'n', dataset: { col: 'month' } }, fmtUsd(t.month.total)),
        h('td', { class: 'n' }, t.budget ? `${fmtUsd(t.budget.limitUsd)}/${t.budget.period}` : '—'),
        h('td', { class: t.status === 'exhausted' ? 'n bad' : 'n' }, t.percent === null ? '—' : `${t.percent.toFixed(1)}%`),
        h('td', { class: t.status === 'exhausted' ? 'bad' : '' }, t.status ?? ''),
      ),
    ),
  );
  setEmpty(el, rows.length === 0, 'no statements priced yet', 'tenants');
}

function renderCostly(body) {
  const el = panel('costs');
  const rows = body.queries || [];
  fill(
    el.querySelector('table.costly tbody'),
    rows.map((q) =>
      h('tr', {},
        queryCell(q.query),
        h('td', { class: 'db' }, q.database),
        h('td', { class: 'n' }, fmtNum(q.calls)),
        h('td', { class: 'n' }, fmtUsd(q.actual.total)),
        h('td', { class: 'n' }, fmtUsd(q.meanUsd)),
        h('td', { class: 'n' }, q.estimateErrorFactor ? `${q.estimateErrorFactor.toFixed(2)}×` : '—'),
      ),
    ),
  );
  setEmpty(el, rows.length === 0, 'no statements priced yet', 'costly');
}

// ---------------------------------------------------------------- refresh loop

const loaders = [
  ['throughput', () => getJson(`${API}/summary?seconds=${WINDOW_SECONDS}`).then(renderSummary), ['latency', 'errors', 'connections']],
  ['top-queries', () => getJson(`${API}/queries?sort=total&limit=15`).then(renderTop)],
  ['slow-queries', () => Promise.all([getJson(`${API}/queries?sort=p95&limit=10`).then(renderSlowest), getJson(`${API}/slow-queries?limit=30`).then(renderSlowLog)])],
  ['anomalies', () => getJson(`${API}/anomalies?state=all&limit=${50 + CLOSED_ANOMALIES_SHOWN}`).then(renderAnomalies)],
  ['costs', () => Promise.all([getJson('/api/v1/cost/tenants').then(renderTenants), getJson('/api/v1/cost/queries?limit=10').then(renderCostly)])],
];

async function refresh() {
  if (state.busy || state.paused || document.hidden) return;
  state.busy = true;
  try {
    const results = await Promise.allSettled([...loaders.map(([, load]) => load()), Date.now() >= state.tracesOffUntil ? loadTraces() : null]);
    let failed = 0;
    let firstError = null;
    loaders.forEach(([name, , also], i) => {
      const r = results[i];
      const err = r.status === 'rejected' ? r.reason : null;
      if (err) {
        failed++;
        firstError ??= err;
      }
      for (const p of [name, ...(also || [])]) panelError(panel(p), err);
    });
    const status = $('#status');
    if (failed === loaders.length) {
      status.dataset.status = 'error';
      setText(status, describeError(firstError));
    } else {
      status.dataset.status = failed ? 'partial' : 'ok';
      setText(status, `live · updated ${new Date().toLocaleTimeString(undefined, { hour12: false })}`);
    }
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  } finally {
    state.busy = false;
  }
}

function start() {
  panel('traces')
    .querySelector('.clear-filter')
    .addEventListener('click', () => {
      if (state.selected) selectQuery(state.selected);
    });
  $('#pause').addEventListener('change', (e) => {
    state.paused = e.target.checked;
    const status = $('#status');
    if (state.paused) {
      status.dataset.status = 'paused';
      setText(status, 'paused');
    } else void refresh();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void refresh();
  });
  void refresh();
  setInterval(() => void refresh(), REFRESH_MS);
}

start();
