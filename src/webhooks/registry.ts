// The webhooks defined in helios.webhooks, compiled for matching change events: by table, by
// operation, then by condition. Reloaded whenever a sidecar or SQL client changes one (NOTIFY
// helios_webhooks), and on a timer as a fallback.
import type pg from 'pg';
import type { ChangeEvent, ChangeOp } from '../cdc/event.ts';
import { compileConditionSync, ensureParser, type CompiledCondition } from '../cdc/condition/index.ts';

export type WebhookState = 'active' | 'paused' | 'disabled';

export interface WebhookDefinition {
  name: string;
  url: string;
  tables: string[];
  operations: ChangeOp[];
  condition: string | null;
  secrets: string[];
  batchSize: number;
  rateLimit: number | null;
  maxAttempts: number;
  maxAgeSeconds: number;
  state: WebhookState;
  stateReason: string | null;
}

export interface Webhook extends WebhookDefinition {
  compiled: CompiledCondition | null;
  /** Set when the stored condition does not compile (created around the sidecar): it matches nothing. */
  invalid: string | null;
}

export const WEBHOOK_CHANNEL = 'helios_webhooks';

export async function readWebhooks(client: pg.Client): Promise<WebhookDefinition[]> {
  const { rows } = await client.query<{
    name: string; url: string; tables: string[]; operations: ChangeOp[]; condition: string | null; secrets: string[];
    batch_size: number; rate_limit: number | null; max_attempts: number; max_age_s: number; state: WebhookState; state_reason: string | null;
  }>(
    `SELECT name, url, tables, operations, condition, secrets, batch_size, rate_limit, max_attempts,
            extract(epoch FROM max_age)::float8 AS max_age_s, state, state_reason
     FROM helios.webhooks ORDER BY name`,
  );
  return rows.map((r) => ({
    name: r.name,
    url: r.url,
    tables: r.tables,
    operations: r.operations,
    condition: r.condition,
    secrets: r.secrets,
    batchSize: r.batch_size,
    rateLimit: r.rate_limit,
    maxAttempts: r.max_attempts,
    maxAgeSeconds: r.max_age_s,
    state: r.state,
    stateReason: r.state_reason,
  }));
}

export class WebhookRegistry {
  private all: Webhook[] = [];
  private byName = new Map<string, Webhook>();
  /** Per table: the webhooks that name it plus those that take every table. */
  private byTable = new Map<string, Webhook[]>();
  private anyTable: Webhook[] = [];
  version = 0;

  list(): readonly Webhook[] {
    return this.all;
  }

  get(name: string): Webhook | undefined {
    return this.byName.get(name);
  }

  get size(): number {
    return this.all.length;
  }

  async load(client: pg.Client): Promise<void> {
    await ensureParser();
    this.replace(await readWebhooks(client));
  }

  replace(defs: readonly WebhookDefinition[]): void {
    const hooks: Webhook[] = defs.map((d) => {
      const prev = this.byName.get(d.name);
      if (prev && prev.condition === d.condition) return { ...d, compiled: prev.compiled, invalid: prev.invalid };
      try {
        return { ...d, compiled: d.condition ? compileConditionSync(d.condition) : null, invalid: null };
      } catch (err) {
        return { ...d, compiled: null, invalid: (err as Error).message };
      }
    });
    this.all = hooks;
    this.byName = new Map(hooks.map((h) => [h.name, h]));
    this.anyTable = hooks.filter((h) => h.tables.length === 0);
    this.byTable = new Map();
    for (const h of hooks) {
      for (const t of h.tables) {
        let list = this.byTable.get(t);
        if (!list) this.byTable.set(t, (list = [...this.anyTable]));
        list.push(h);
      }
    }
    this.version++;
  }

  /**
   * Webhooks that want this event, paused ones included (their events wait in the outbox for
   * the resume); disabled ones and those with an invalid condition take none.
   */
  matching(e: ChangeEvent, out: Webhook[]): Webhook[] {
    out.length = 0;
    const candidates = this.byTable.get(e.table) ?? this.anyTable;
    for (const h of candidates) {
      if (h.state === 'disabled' || h.invalid !== null || !h.operations.includes(e.op)) continue;
      // TRUNCATE has no rows for a condition to look at: it goes to every webhook that asked for truncate.
      if (h.compiled !== null && e.op !== 'truncate' && !h.compiled.matches(e)) continue;
      out.push(h);
    }
    return out;
  }
}
