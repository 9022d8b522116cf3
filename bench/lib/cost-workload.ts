// The multi-tenant workload of bench:cost: a small SaaS schema (customers, orders, events, and
// an old invoices table nobody reads) with only primary keys, and a seeded statement list with
// Zipf-like skew across tenants (in the data and in the traffic) and across statement shapes:
// indexed lookups, lookups missing an index, tenant and global reports, and some writes. The
// same seed gives the same statements, in the same order, on the same connections.
import type pg from 'pg';
import { newClient, type ConnInfo } from './conn.ts';

/** mulberry32: a small, fast, seedable PRNG; returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zipf weights 1/k^s for ranks 1..n, normalized. */
export function zipfWeights(n: number, s: number): number[] {
  const w = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s);
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

/** Index drawn with the given weights (they sum to 1). */
export function pick(weights: readonly number[], u: number): number {
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i]!;
    if (u < acc) return i;
  }
  return weights.length - 1;
}

export interface WorkloadScale {
  tenants: number;
  customers: number;
  orders: number;
  events: number;
  /** Rows of the table nobody reads. */
  archive: number;
  /** Zipf exponent of tenant sizes and traffic. */
  tenantSkew: number;
}

const STATUSES = ['new', 'paid', 'shipped', 'delivered', 'cancelled'];
const KINDS = ['viewed', 'paid', 'packed', 'shipped', 'delivered', 'refund_requested'];

export const tenantName = (i: number) => `t${String(i + 1).padStart(2, '0')}`;

/** A SQL CASE giving tenant ids 1..n from a uniform u in [0,1), with Zipf shares. */
function tenantCase(u: string, scale: WorkloadScale): string {
  const w = zipfWeights(scale.tenants, scale.tenantSkew);
  let acc = 0;
  const arms = w.slice(0, -1).map((x, i) => `WHEN ${u} < ${(acc += x).toFixed(6)} THEN ${i + 1}`);
  return `CASE ${arms.join(' ')} ELSE ${scale.tenants} END`;
}

/** A deterministic uniform [0,1) from an integer column, in SQL (Knuth's multiplicative hash). */
const uniform = (g: string) => `((${g}::bigint * 2654435761) % 4294967296) / 4294967296.0`;

export async function createSchema(admin: pg.Client, scale: WorkloadScale): Promise<void> {
  await admin.query(`
    DROP TABLE IF EXISTS events, orders, customers, invoices_2019;
    CREATE TABLE customers (id int PRIMARY KEY, tenant_id int NOT NULL, email text NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL);
    INSERT INTO customers
      SELECT g, ${tenantCase(uniform('g'), scale)}, 'c' || g || '@example.com', 'Customer ' || g, now() - (g % 1000) * interval '1 day'
        FROM generate_series(1, ${scale.customers}) g;
    CREATE TABLE orders (id int PRIMARY KEY, tenant_id int NOT NULL, customer_id int NOT NULL, status text NOT NULL,
                         total numeric(10,2) NOT NULL, created_at timestamptz NOT NULL, note text);
    INSERT INTO orders
      SELECT g, c.tenant_id, c.id, (ARRAY['${STATUSES.join("','")}'])[1 + (g * 7) % ${STATUSES.length}], ((g * 37) % 50000) / 100.0,
             now() - ((g::bigint * 7919) % 31536000) * interval '1 second', md5(g::text)
        FROM generate_series(1, ${scale.orders}) g JOIN customers c ON c.id = 1 + (g::bigint * 40503) % ${scale.customers};
    CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id int NOT NULL, order_id int NOT NULL, kind text NOT NULL, created_at timestamptz NOT NULL, payload text);
    INSERT INTO events (tenant_id, order_id, kind, created_at, payload)
      SELECT o.tenant_id, o.id, (ARRAY['${KINDS.join("','")}'])[1 + (g * 5) % ${KINDS.length}], o.created_at + (g % 100) * interval '1 minute', md5(g::text)
        FROM generate_series(1, ${scale.events}) g JOIN orders o ON o.id = 1 + (g::bigint * 104729) % ${scale.orders};
    CREATE TABLE invoices_2019 AS
      SELECT g AS id, 1 + g % ${scale.tenants} AS tenant_id, md5(g::text) || md5((g * 3)::text) AS body FROM generate_series(1, ${scale.archive}) g;
    ANALYZE;`);
}

export interface Shape {
  name: string;
  sql: string;
  /** Parameters for this tenant; `r` is the workload's seeded random. */
  params: (tenant: TenantData, r: () => number) => unknown[];
}

export interface TenantData {
  id: number;
  customers: Array<{ id: number; email: string }>;
  orderIds: number[];
}

const one = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)]!;

/** Statement shapes, most frequent first: the Zipf rank of each. */
export const SHAPES: readonly Shape[] = [
  { name: 'customer by id', sql: 'SELECT id, tenant_id, email, name FROM customers WHERE id = $1', params: (t, r) => [one(t.customers, r).id] },
  { name: 'orders of a customer', sql: 'SELECT id, status, total, created_at FROM orders WHERE tenant_id = $1 AND customer_id = $2 ORDER BY created_at DESC', params: (t, r) => [t.id, one(t.customers, r).id] },
  { name: 'order by id', sql: 'SELECT id, status, total FROM orders WHERE id = $1', params: (t, r) => [one(t.orderIds, r)] },
  { name: 'recent orders by status', sql: 'SELECT id, total, created_at FROM orders WHERE tenant_id = $1 AND status = $2 ORDER BY created_at DESC LIMIT 20', params: (t, r) => [t.id, one(STATUSES, r)] },
  { name: 'update order status', sql: 'UPDATE orders SET status = $2 WHERE id = $1', params: (t, r) => [one(t.orderIds, r), one(STATUSES, r)] },
  { name: 'customer by email', sql: 'SELECT id, name FROM customers WHERE tenant_id = $1 AND email = $2', params: (t, r) => [t.id, one(t.customers, r).email] },
  { name: 'insert event', sql: 'INSERT INTO events (tenant_id, order_id, kind, created_at, payload) VALUES ($1, $2, $3, now(), $4)', params: (t, r) => [t.id, one(t.orderIds, r), one(KINDS, r), `p${Math.floor(r() * 1e9)}`] },
  { name: 'events of an order', sql: 'SELECT kind, count(*) FROM events WHERE order_id = $1 GROUP BY kind', params: (t, r) => [one(t.orderIds, r)] },
  { name: 'revenue last day', sql: "SELECT count(*), coalesce(sum(total), 0) FROM orders WHERE tenant_id = $1 AND created_at >= now() - interval '1 day'", params: (t) => [t.id] },
  { name: 'tenant status report', sql: 'SELECT status, count(*), sum(total) FROM orders WHERE tenant_id = $1 GROUP BY status', params: (t) => [t.id] },
  { name: 'global daily revenue', sql: "SELECT date_trunc('day', created_at) AS day, sum(total) FROM orders GROUP BY 1 ORDER BY 1 DESC LIMIT 30", params: () => [] },
  { name: 'orders by customer email', sql: 'SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = $1 AND c.email = $2', params: (t, r) => [t.id, one(t.customers, r).email] },
];

export async function loadTenants(admin: pg.Client, tenants: number): Promise<TenantData[]> {
  const out: TenantData[] = Array.from({ length: tenants }, (_, i) => ({ id: i + 1, customers: [], orderIds: [] }));
  const c = await admin.query<{ id: number; tenant_id: number; email: string }>('SELECT id, tenant_id, email FROM customers ORDER BY id');
  for (const row of c.rows) out[row.tenant_id - 1]!.customers.push({ id: row.id, email: row.email });
  const o = await admin.query<{ id: number; tenant_id: number }>('SELECT id, tenant_id FROM orders ORDER BY id');
  for (const row of o.rows) out[row.tenant_id - 1]!.orderIds.push(row.id);
  return out;
}

export interface Statement {
  tenant: string;
  shape: number;
  text: string;
  params: unknown[];
}

/** The seeded statement list: tenant and shape drawn with Zipf weights, the tenant's tag as a sqlcommenter comment. */
export function statements(seed: number, count: number, tenants: readonly TenantData[], tenantSkew: number, shapeSkew: number): Statement[] {
  const r = seededRandom(seed);
  const tw = zipfWeights(tenants.length, tenantSkew);
  const sw = zipfWeights(SHAPES.length, shapeSkew);
  const out: Statement[] = [];
  for (let i = 0; i < count; i++) {
    const t = tenants[pick(tw, r())]!;
    const shape = pick(sw, r());
    const s = SHAPES[shape]!;
    out.push({ tenant: tenantName(t.id - 1), shape, text: `${s.sql} /*tenant='${tenantName(t.id - 1)}'*/`, params: s.params(t, r) });
  }
  return out;
}

export interface RunResult {
  seconds: number;
  errors: number;
  firstError?: string;
}

/** Runs the list over `connections` sessions, statement i on session i mod connections, each session in order. */
export async function runStatements(conn: ConnInfo, list: readonly Statement[], connections: number): Promise<RunResult> {
  const clients = await Promise.all(Array.from({ length: connections }, async () => {
    const c = newClient(conn, 10_000);
    await c.connect();
    return c;
  }));
  let errors = 0;
  let firstError: string | undefined;
  const t0 = process.hrtime.bigint();
  try {
    await Promise.all(clients.map(async (c, k) => {
      for (let i = k; i < list.length; i += connections) {
        try {
          await c.query(list[i]!.text, list[i]!.params);
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    }));
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, errors, firstError };
}
