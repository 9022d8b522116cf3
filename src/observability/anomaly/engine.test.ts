// The engine on synthetic traffic: statements recorded through the hub as the metrics plugin
// would, seconds closed by hand, so each test controls exactly what the detectors see.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ClientView, ProxyCounters, ProxyView, ResultInfo } from '../../../plugins/contract.ts';
import { DEFAULT_OBSERVABILITY_OPTIONS, Observability } from '../index.ts';

const T0 = Date.UTC(2026, 0, 1);
const UPSTREAM = { host: '127.0.0.1', port: 5432 };

interface Harness {
  obs: Observability;
  active: number;
  clients: number;
  logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  second(i: number, calls: number, opts?: { latencyMs?: number; errorShare?: number; sqlstate?: string }): void;
}

function harness(): Harness {
  const h = { active: 0, clients: 4, logs: [] } as unknown as Harness;
  const view: ProxyView = {
    clients: () =>
      Array.from({ length: h.clients }, (_, i) => ({ state: i < h.active ? 'active' : 'idle', session: { database: 'app' } }) as unknown as ClientView),
    servers: () => [],
    stats: () => ({ clientsActive: h.clients, serversActive: h.clients, upstreamConnectErrors: 0 }) as ProxyCounters,
  };
  h.obs = new Observability(
    { registry: new Registry(), view: () => view, control: () => undefined, upstream: () => UPSTREAM, log: (level, msg, fields) => void h.logs.push({ level, msg, fields }) },
    { ...DEFAULT_OBSERVABILITY_OPTIONS, slowQueryMs: 10_000, maxFingerprints: 100, anomalies: false },
  );
  let seed = 7;
  const noise = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  h.second = (i, calls, opts = {}) => {
    for (let c = 0; c < calls; c++) {
      const failed = noise() < (opts.errorShare ?? 0);
      h.obs.record({
        query: {
          kind: 'SELECT',
          fingerprint: 'a1b2c3d4e5f60718',
          normalized: 'SELECT abalance FROM accounts WHERE aid = $1',
          reads: ['accounts'],
          writes: [],
          session: { database: 'app', user: 'app', applicationName: 'bench', clientAddress: '127.0.0.1:1' },
        },
        durationSeconds: ((opts.latencyMs ?? 1) * (0.8 + 0.4 * noise())) / 1000,
        rows: failed ? 0 : 1,
        bytes: 20,
        commandTag: failed ? '' : 'SELECT 1',
        denied: false,
        ...(failed && { sqlstate: opts.sqlstate ?? '42P01', errorMessage: 'relation "accounts" does not exist' }),
      } as unknown as ResultInfo);
    }
    h.obs.anomalies.tick(T0 + i * 1000);
  };
  return h;
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('AnomalyEngine', () => {
  it('raises nothing on steady noisy traffic with a stray error now and then', async () => {
    const h = harness();
    for (let i = 0; i < 900; i++) h.second(i, 40 + (i % 7), { errorShare: i % 60 === 59 ? 0.04 : 0 });
    await settle();
    expect(h.obs.anomalies.list()).toEqual([]);
  });

  it('opens one error-rate alert per episode with the error burst as cause, and closes it after recovery', async () => {
    const h = harness();
    let i = 0;
    for (; i < 300; i++) h.second(i, 40);
    const burstAt = i;
    for (; i < burstAt + 10; i++) h.second(i, 40, { errorShare: 0.5 });
    await settle();
    const open = h.obs.anomalies.list({ openOnly: true });
    const errorRate = open.filter((a) => a.metric === 'error_rate');
    expect(errorRate).toHaveLength(1);
    const a = errorRate[0]!;
    expect(a).toMatchObject({ direction: 'up', cause: 'error_burst', closedAt: null });
    // Judged on the last five seconds' error share, so the alert opens on the way up.
    expect(a.actual).toBeGreaterThan(0.05);
    expect(a.expected).toBeLessThan(0.05);
    expect(a.evidence[0]!.summary).toMatch(/42P01/);
    expect(Date.parse(a.openedAt) - (T0 + burstAt * 1000)).toBeLessThanOrEqual(5000);
    // The fingerprint's own alert joins the same incident, so the incident pages once.
    const fp = open.find((x) => x.metric === 'query_error_rate');
    if (fp) expect(fp.incident).toBe(a.incident);
    expect(h.logs.filter((l) => l.msg === 'anomaly detected')).toHaveLength(1);

    for (; i < burstAt + 200; i++) h.second(i, 40);
    await settle();
    expect(h.obs.anomalies.list({ openOnly: true })).toEqual([]);
    const closed = h.obs.anomalies.list().find((x) => x.id === a.id)!;
    expect(closed.closedAt).not.toBeNull();
    expect(closed.peak).toBeGreaterThan(0.35);
    expect(h.obs.anomalies.list().filter((x) => x.metric === 'error_rate')).toHaveLength(1);
  });

  it('flags a latency regression on the p95, overall and for the fingerprint', async () => {
    const h = harness();
    let i = 0;
    for (; i < 300; i++) h.second(i, 40, { latencyMs: 1 });
    for (const end = i + 10; i < end; i++) h.second(i, 40, { latencyMs: 60 });
    await settle();
    const metrics = h.obs.anomalies.list({ openOnly: true }).map((a) => a.metric);
    expect(metrics).toContain('latency_p95');
    const lat = h.obs.anomalies.list().find((a) => a.metric === 'latency_p95')!;
    expect(lat.actual).toBeGreaterThan(40);
    expect(lat.expected).toBeLessThan(2);
    expect(lat.unit).toBe('ms');
  });

  it('treats a throughput drop as an incident only while clients wait on statements', async () => {
    const idle = harness();
    let i = 0;
    for (; i < 300; i++) idle.second(i, 40);
    idle.active = 0;
    for (const end = i + 15; i < end; i++) idle.second(i, 0);
    await settle();
    expect(idle.obs.anomalies.list().filter((a) => a.metric === 'throughput')).toEqual([]);

    const stuck = harness();
    i = 0;
    for (; i < 300; i++) stuck.second(i, 40);
    stuck.active = 4;
    for (const end = i + 15; i < end; i++) stuck.second(i, 0);
    await settle();
    const drop = stuck.obs.anomalies.list().filter((a) => a.metric === 'throughput');
    expect(drop).toHaveLength(1);
    expect(drop[0]).toMatchObject({ direction: 'down', actual: 0 });
  });

  it('sees statements piling up in flight', async () => {
    const h = harness();
    h.clients = 8;
    let i = 0;
    for (; i < 300; i++) {
      h.active = i % 3 === 0 ? 1 : 0;
      h.second(i, 40);
    }
    h.active = 8;
    for (const end = i + 6; i < end; i++) h.second(i, 5);
    await settle();
    const pile = h.obs.anomalies.list().find((a) => a.metric === 'active_statements');
    expect(pile).toMatchObject({ direction: 'up', actual: 8, unit: 'statements' });
  });

  it('still sees a second incident soon after a long first one', async () => {
    const h = harness();
    h.clients = 8;
    let i = 0;
    const steady = (n: number) => {
      h.active = 0;
      for (const end = i + n; i < end; i++) h.second(i, 40 + (i % 7));
    };
    const stuck = (n: number) => {
      h.active = 8;
      for (const end = i + n; i < end; i++) h.second(i, 0);
    };
    steady(300);
    stuck(45);
    steady(90);
    stuck(45);
    steady(60);
    await settle();
    const drops = h.obs.anomalies.list().filter((a) => a.metric === 'throughput');
    expect(drops).toHaveLength(2);
  });

  it('counts alerts in Prometheus with metric, severity and cause, and shows open ones in the gauge', async () => {
    const h = harness();
    let i = 0;
    for (; i < 300; i++) h.second(i, 40);
    for (const end = i + 10; i < end; i++) h.second(i, 40, { errorShare: 0.5 });
    await settle();
    const text = await h.obs.sources.registry.metrics();
    expect(text).toMatch(/helios_anomalies_total\{metric="error_rate",severity="(warning|critical)",cause="error_burst"\} 1/);
    expect(text).toMatch(/helios_anomalies_active\{metric="error_rate",severity="(warning|critical)"\} 1/);
  });
});
