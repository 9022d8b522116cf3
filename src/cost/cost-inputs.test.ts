// Rate cards, tenant attribution, budget-exempt statements and SQL prepared statements.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SessionInfo } from '../../plugins/contract.ts';
import { budgetExempt } from './index.ts';
import { parsePrepare, preparedName } from './prepared.ts';
import { RATE_CARD_PRESETS, loadRateCard } from './rate-card.ts';
import { periodEnd, periodStart } from './spend-book.ts';
import { parseTenantSources, tenantAttribution } from './tenant.ts';
import { priceUsage } from './usage.ts';

describe('rate cards', () => {
  it('prices usage per resource on the bundled presets', () => {
    const usage = { cpuSeconds: 3600, pages: 1e6, scannedBytes: 1024 ** 4, egressBytes: 1024 ** 3 };
    const aurora = priceUsage(usage, RATE_CARD_PRESETS['aurora-standard']!);
    expect(aurora.compute).toBeCloseTo(0.13, 10);
    expect(aurora.io).toBeCloseTo(0.2, 10);
    expect(aurora.egress).toBeCloseTo(0.09, 10);
    expect(priceUsage(usage, RATE_CARD_PRESETS.bigquery!).total).toBeCloseTo(6.25, 10);
    expect(priceUsage(usage, RATE_CARD_PRESETS.neon!).compute).toBeCloseTo(0.14, 10);
  });

  it('reads a JSON card over a base preset and rejects bad ones with a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'helios-card-'));
    const good = join(dir, 'card.json');
    writeFileSync(good, JSON.stringify({ base: 'neon', computePerVcpuHour: 0.36, name: 'ours' }));
    const card = loadRateCard(good);
    expect(card).toMatchObject({ name: 'ours', storagePerGbMonth: 0.35 });
    expect(card.computePerCpuSecond).toBeCloseTo(0.0001, 12);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ioPerMillionPages: -1 }));
    expect(() => loadRateCard(bad)).toThrow(/ioPerMillionPages must be a non-negative number/);
    writeFileSync(bad, JSON.stringify({ cpu: 1 }));
    expect(() => loadRateCard(bad)).toThrow(/unknown field\(s\) cpu/);
    expect(() => loadRateCard('oracle')).toThrow(/unknown rate card "oracle"/);
  });
});

describe('tenant attribution', () => {
  const session = { user: 'app_rw', database: 'shop', applicationName: 'checkout' } as SessionInfo;
  it('takes the first source that names one', () => {
    expect(tenantAttribution(['tag', 'role'])({ tags: { tenant: 'acme' }, session })).toBe('acme');
    expect(tenantAttribution(['tag', 'role'])({ tags: {}, session })).toBe('app_rw');
    expect(tenantAttribution(['application_name'])({ tags: {}, session })).toBe('checkout');
    expect(tenantAttribution(['database'])({ tags: { tenant: 'x' }, session })).toBe('shop');
  });
  it('rejects unknown sources', () => {
    expect(() => parseTenantSources('tag,schema')).toThrow(/unknown: schema/);
  });
});

describe('budget-exempt statements', () => {
  it('lets transaction control, session settings and bare helios control calls through', () => {
    expect(budgetExempt({ kind: 'TRANSACTION', normalized: 'ROLLBACK' })).toBe(true);
    expect(budgetExempt({ kind: 'SET', normalized: 'SET search_path = $1' })).toBe(true);
    expect(budgetExempt({ kind: 'SELECT', normalized: 'SELECT * FROM helios.budget_status()' })).toBe(true);
    expect(budgetExempt({ kind: 'SELECT', normalized: 'SELECT helios.set_budget($1, $2, $3, $4, ARRAY[$5, $6])' })).toBe(true);
  });
  it('judges anything that could hide work behind a control call', () => {
    expect(budgetExempt({ kind: 'SELECT', normalized: 'SELECT helios.budget_status(), burn()' })).toBe(false);
    expect(budgetExempt({ kind: 'SELECT', normalized: 'SELECT helios.set_budget((SELECT max(x) FROM t), $1)' })).toBe(false);
    expect(budgetExempt({ kind: 'SELECT', normalized: 'SELECT $1' })).toBe(false);
  });
});

describe('SQL prepared statements', () => {
  it('reads the name and the statement of PREPARE, and the name of EXECUTE and DEALLOCATE', () => {
    const p = parsePrepare('/* app */ PREPARE "Scan"(text) AS SELECT count(*) FROM events WHERE payload LIKE $1;')!;
    expect(p).toMatchObject({ name: 'Scan', kind: 'SELECT', normalized: 'SELECT count(*) FROM events WHERE payload LIKE $1' });
    expect(p.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(preparedName("EXECUTE scan('a%')", 'EXECUTE')).toBe('scan');
    expect(preparedName('execute "Scan"(1)', 'EXECUTE')).toBe('Scan');
    expect(preparedName('DEALLOCATE PREPARE scan', 'DEALLOCATE')).toBe('scan');
    expect(preparedName('DEALLOCATE ALL', 'DEALLOCATE')).toBeNull();
  });
});

describe('budget periods', () => {
  it('are UTC days and UTC months', () => {
    const t = Date.parse('2026-02-14T23:30:00Z');
    expect(new Date(periodStart('day', t)).toISOString()).toBe('2026-02-14T00:00:00.000Z');
    expect(new Date(periodEnd('day', t)).toISOString()).toBe('2026-02-15T00:00:00.000Z');
    expect(new Date(periodStart('month', t)).toISOString()).toBe('2026-02-01T00:00:00.000Z');
    expect(new Date(periodEnd('month', t)).toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });
});
