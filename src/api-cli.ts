// What the `helios budget|cost|webhook|cdc|ledger` commands share: they talk to a running
// sidecar's REST API (--http, the same HOST:PORT it serves on) and print plain tables.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from './errors.ts';

const COMMON = { http: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a command's arguments with --http and --help added; prints the usage and returns null
 * for --help. `base` is the sidecar's API address (--http, $HELIOS_HTTP, or 127.0.0.1:9187).
 */
export function parseApiCommand<const O extends Options>(args: string[], options: O, usage: string) {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { ...options, ...COMMON } as O & typeof COMMON });
  } catch (err) {
    throw new UserError(`${(err as Error).message}\n${usage}`);
  }
  const common = parsed.values as { help?: boolean; http?: string };
  if (common.help) {
    process.stdout.write(usage);
    return null;
  }
  const http = common.http;
  return { values: parsed.values, positionals: parsed.positionals, base: `http://${http ?? process.env.HELIOS_HTTP ?? '127.0.0.1:9187'}` };
}

/** A plain table with a header rule. */
export function table(columns: string[], rows: unknown[][]): string {
  const cells = rows.map((r) => r.map((v) => (v === null || v === undefined ? '' : String(v))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

/** One REST call to the running sidecar; a non-2xx answer becomes a UserError with its message. */
export async function call(base: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<any> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new UserError(`cannot reach HeliosDB at ${base}: ${(err as Error).message} (is it running? pass --http HOST:PORT)`);
  }
  const payload = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new UserError(`${method} ${path}: ${payload.error ?? `HTTP ${res.status}`}`);
  return payload;
}
