// The configuration model: resolves every key from flags > environment > JSON file > defaults, and validates it.
import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { dirname, resolve } from 'node:path';
import type { Plugin } from '../plugins/contract.ts';
import { parsePluginSpec, type PluginSpec } from '../plugins/index.ts';
import type { ProxyOptions, TlsTermination, UpstreamTarget } from '../proxy/options.ts';
import { UserError } from './errors.ts';
import { LOG_LEVELS, type LogLevel } from './log.ts';
import { parseUpstreamUrl, type UpstreamConnection } from './upstream-url.ts';
import { DEFAULT_RATE_CARD, RATE_CARD_PRESETS, loadRateCard } from './cost/rate-card.ts';
import { DEFAULT_TENANT_SOURCES, parseTenantSources, type TenantSource } from './cost/tenant.ts';
import type { CdcSettings, DeliverySettings } from './webhooks/service.ts';
import { retryPolicy } from './webhooks/retry-schedule.ts';
import { parseCosignatureVerifierKey } from './ledger/checkpoint/cosignature.ts';
import { quorum } from './ledger/witness/client.ts';

interface KeySpec {
  flag: string;
  env: string;
  default?: string;
  /** Relative paths in the config file are taken relative to the file, not the working directory. */
  path?: boolean;
}

export const CONFIG_KEYS = {
  upstream: { flag: 'upstream', env: 'HELIOS_UPSTREAM' },
  listen: { flag: 'listen', env: 'HELIOS_LISTEN', default: '127.0.0.1:6432' },
  http: { flag: 'http', env: 'HELIOS_HTTP', default: '127.0.0.1:9187' },
  plugins: { flag: 'plugins', env: 'HELIOS_PLUGINS', default: 'all' },
  data: { flag: 'data', env: 'HELIOS_DATA', default: './.helios', path: true },
  tlsCert: { flag: 'tls-cert', env: 'HELIOS_TLS_CERT', path: true },
  tlsKey: { flag: 'tls-key', env: 'HELIOS_TLS_KEY', path: true },
  drainTimeout: { flag: 'drain-timeout', env: 'HELIOS_DRAIN_TIMEOUT', default: '30' },
  maxMessageBytes: { flag: 'max-message-bytes', env: 'HELIOS_MAX_MESSAGE_BYTES' },
  logLevel: { flag: 'log-level', env: 'HELIOS_LOG_LEVEL', default: 'info' },
  slowQueryMs: { flag: 'slow-query-ms', env: 'HELIOS_SLOW_QUERY_MS', default: '1000' },
  traceQueryText: { flag: 'trace-query-text', env: 'HELIOS_TRACE_QUERY_TEXT', default: 'normalized' },
  traceLimit: { flag: 'trace-limit', env: 'HELIOS_TRACE_LIMIT', default: '1000' },
  planThresholdMs: { flag: 'plan-threshold-ms', env: 'HELIOS_PLAN_THRESHOLD_MS' },
  rateCard: { flag: 'rate-card', env: 'HELIOS_RATE_CARD', default: DEFAULT_RATE_CARD },
  costTenant: { flag: 'cost-tenant', env: 'HELIOS_COST_TENANT', default: DEFAULT_TENANT_SOURCES.join(',') },
  costStatementLimit: { flag: 'cost-statement-limit', env: 'HELIOS_COST_STATEMENT_LIMIT' },
  cdc: { flag: 'cdc', env: 'HELIOS_CDC', default: 'on' },
  cdcSlot: { flag: 'cdc-slot', env: 'HELIOS_CDC_SLOT', default: 'helios_cdc' },
  cdcPublication: { flag: 'cdc-publication', env: 'HELIOS_CDC_PUBLICATION', default: 'helios_cdc' },
  cdcSchemas: { flag: 'cdc-schemas', env: 'HELIOS_CDC_SCHEMAS', default: 'public' },
  webhookLanes: { flag: 'webhook-lanes', env: 'HELIOS_WEBHOOK_LANES', default: '1' },
  webhookTimeout: { flag: 'webhook-timeout', env: 'HELIOS_WEBHOOK_TIMEOUT', default: '15s' },
  webhookLease: { flag: 'webhook-lease', env: 'HELIOS_WEBHOOK_LEASE', default: '30s' },
  webhookRetry: { flag: 'webhook-retry', env: 'HELIOS_WEBHOOK_RETRY', default: '5s,5m,30m,2h,5h,10h,10h' },
  webhookPoll: { flag: 'webhook-poll', env: 'HELIOS_WEBHOOK_POLL', default: '500ms' },
  ledger: { flag: 'ledger', env: 'HELIOS_LEDGER', default: 'on' },
  ledgerOrigin: { flag: 'ledger-origin', env: 'HELIOS_LEDGER_ORIGIN', default: 'heliosdb.local/ledger' },
  ledgerRows: { flag: 'ledger-rows', env: 'HELIOS_LEDGER_ROWS', default: 'on' },
  ledgerTables: { flag: 'ledger-tables', env: 'HELIOS_LEDGER_TABLES', default: '' },
  ledgerFullText: { flag: 'ledger-full-text', env: 'HELIOS_LEDGER_FULL_TEXT', default: 'off' },
  ledgerCheckpoint: { flag: 'ledger-checkpoint', env: 'HELIOS_LEDGER_CHECKPOINT', default: '10s' },
  ledgerWitnesses: { flag: 'ledger-witnesses', env: 'HELIOS_LEDGER_WITNESSES', default: '' },
  ledgerWitnessQuorum: { flag: 'ledger-witness-quorum', env: 'HELIOS_LEDGER_WITNESS_QUORUM', default: '' },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export const CONFIG_FILE_ENV = 'HELIOS_CONFIG';
export const DEFAULT_CONFIG_FILE = 'helios.json';

export interface Address {
  host: string;
  port: number;
}

export interface HeliosConfig {
  upstream?: UpstreamConnection;
  listen: Address;
  http: Address;
  plugins: PluginSpec;
  /** Absolute path of the data directory (embedded PostgreSQL lives in <data>/pg). */
  data: string;
  /** Client TLS termination material, read from tlsCert / tlsKey. */
  tls?: TlsTermination;
  drainTimeoutSeconds: number;
  maxMessageBytes?: number;
  logLevel: LogLevel;
  /** Statements at or above this go to the slow log. */
  slowQueryMs: number;
  /** What spans carry as db.query.text: the normalized statement (literals replaced by $n), or the full text. */
  traceQueryText: 'normalized' | 'full';
  /** Traces kept in memory for the API and dashboard. */
  traceLimit: number;
  /** Slow spans at or above this get the statement's plan; null turns plans off. Defaults to slowQueryMs. */
  planThresholdMs: number | null;
  /** Preset name or JSON file (src/cost/rate-card.ts). */
  rateCard: string;
  /** Where a statement's tenant comes from, first match wins. */
  costTenant: TenantSource[];
  /** Dollars above which any statement is refused by its estimate; null = no limit. */
  costStatementLimitUsd: number | null;
  /** Change capture feeding the webhooks: on/off, the slot, the publication and the schemas it covers. */
  cdc: { enabled: boolean; slot: string; publication: string; schemas: string[] };
  /** Webhook delivery: worker lanes, request timeout, row lease, delays between attempts, idle poll. */
  webhooks: { lanes: number; timeoutMs: number; leaseMs: number; retryDelaysMs: number[]; pollMs: number };
  /**
   * The audit ledger: on/off, its checkpoints' origin, row changes (starts change capture), tables,
   * full statement text, checkpoint interval, and the witnesses asked to cosign each checkpoint
   * (a checkpoint is final once `witnessQuorum` of them have).
   */
  ledger: {
    enabled: boolean; origin: string; rows: boolean; tables: string[]; fullText: boolean; checkpointMs: number;
    witnesses: { url: string; verifierKey: string }[]; witnessQuorum: number;
  };
  /** The config file that was read, if any. */
  file?: string;
}

export interface ConfigSources {
  /** Values from command-line flags, by config key. */
  flags?: Partial<Record<ConfigKey, string>>;
  /** --config FILE; wins over HELIOS_CONFIG. */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** A raw value and where it came from, so errors can point at the flag, variable or file key to fix. */
interface Raw {
  value: string;
  source: string;
}

function readConfigFile(path: string, explicit: boolean): Record<string, unknown> | undefined {
  if (!explicit && !existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UserError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UserError(`config file ${path} must contain a JSON object`);
  }
  const unknown = Object.keys(parsed).filter((k) => !(k in CONFIG_KEYS));
  if (unknown.length) {
    throw new UserError(`config file ${path}: unknown key(s) ${unknown.join(', ')}; known: ${Object.keys(CONFIG_KEYS).join(', ')}`);
  }
  return parsed as Record<string, unknown>;
}

/** Keys a config file may also give as a JSON array. */
const LIST_KEYS: readonly ConfigKey[] = ['plugins', 'cdcSchemas', 'webhookRetry', 'ledgerTables', 'ledgerWitnesses'];
const ON_OFF_KEYS: readonly ConfigKey[] = ['cdc', 'ledger', 'ledgerRows', 'ledgerFullText'];

function fileValue(file: Record<string, unknown>, key: ConfigKey, path: string): Raw | undefined {
  const v = file[key];
  const source = `${path} "${key}"`;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return { value: v, source };
  if (typeof v === 'number') return { value: String(v), source };
  const list = LIST_KEYS.includes(key);
  if (list && Array.isArray(v) && v.every((p) => typeof p === 'string' || typeof p === 'number')) return { value: v.join(','), source };
  if (ON_OFF_KEYS.includes(key) && typeof v === 'boolean') return { value: v ? 'on' : 'off', source };
  throw new UserError(`${source} must be a ${list ? 'string or array of strings' : ON_OFF_KEYS.includes(key) ? 'string or boolean' : 'string or number'}`);
}

function invalid(raw: Raw, expected: string): UserError {
  return new UserError(`${raw.source}: invalid value "${raw.value}": ${expected}`);
}

function parseAddress(raw: Raw): Address {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(raw.value) ?? /^([^:[\]]+):(\d+)$/.exec(raw.value);
  if (!m) throw invalid(raw, 'expected HOST:PORT, e.g. 127.0.0.1:6432 or [::1]:6432');
  const port = Number(m[2]);
  if (port > 65535) throw invalid(raw, 'port must be between 0 and 65535');
  return { host: m[1]!, port };
}

function parseNumber(raw: Raw, opts: { integer: boolean; min: number }): number {
  const n = Number(raw.value);
  if (raw.value.trim() === '' || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || n < opts.min) {
    throw invalid(raw, `expected ${opts.integer ? 'an integer' : 'a number'} >= ${opts.min}`);
  }
  return n;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "15s", "500ms", "2h", "1.5m"; a bare number is milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[(m[2] ?? 'ms').toLowerCase()]!;
}

function parseDuration(raw: Raw, minMs: number): number {
  const ms = parseDurationMs(raw.value);
  if (ms === undefined || ms < minMs) throw invalid(raw, `expected a duration${minMs > 0 ? ` of at least ${minMs} ms` : ''} such as 500ms, 15s, 5m or 2h (a bare number is milliseconds)`);
  return ms;
}

// The rule src/cdc/slot.ts checks again when capture starts; here it fails at startup, naming the setting.
const SLOT_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function parseCdc(get: (key: ConfigKey) => Raw): HeliosConfig['cdc'] {
  const on = get('cdc');
  if (!['on', 'off', 'true', 'false'].includes(on.value.toLowerCase())) throw invalid(on, 'expected on or off');
  const name = (key: 'cdcSlot' | 'cdcPublication') => {
    const raw = get(key);
    if (!SLOT_NAME.test(raw.value)) throw invalid(raw, 'expected lower-case letters, digits and "_", at most 63, not starting with a digit');
    return raw.value;
  };
  const schemasRaw = get('cdcSchemas');
  const schemas = schemasRaw.value.split(',').map((s) => s.trim()).filter(Boolean);
  if (schemas.length === 0) throw invalid(schemasRaw, 'expected a comma list of schema names, e.g. public,sales');
  // The outbox lives in helios: capturing it would feed every delivery back in as a change.
  if (schemas.includes('helios')) throw invalid(schemasRaw, 'the helios schema cannot be captured (its outbox writes would feed back into the change stream)');
  return { enabled: ['on', 'true'].includes(on.value.toLowerCase()), slot: name('cdcSlot'), publication: name('cdcPublication'), schemas };
}

function onOff(raw: Raw): boolean {
  const v = raw.value.toLowerCase();
  if (!['on', 'off', 'true', 'false'].includes(v)) throw invalid(raw, 'expected on or off');
  return v === 'on' || v === 'true';
}

// C2SP checkpoint origins: printable ASCII without spaces, e.g. example.com/log.
const ORIGIN = /^[\x21-\x7e]{1,200}$/;

function parseLedger(get: (key: ConfigKey) => Raw): HeliosConfig['ledger'] {
  const origin = get('ledgerOrigin');
  if (!ORIGIN.test(origin.value)) throw invalid(origin, 'expected a name without spaces, e.g. example.com/ledger');
  const tables = get('ledgerTables').value.split(',').map((t) => t.trim()).filter(Boolean);
  return {
    enabled: onOff(get('ledger')),
    origin: origin.value,
    rows: onOff(get('ledgerRows')),
    tables: tables.map((t) => (t.includes('.') ? t : `public.${t}`)),
    fullText: onOff(get('ledgerFullText')),
    checkpointMs: parseDuration(get('ledgerCheckpoint'), 1000),
    ...parseWitnesses(get('ledgerWitnesses'), get('ledgerWitnessQuorum')),
  };
}

/**
 * Witnesses as a comma list of URL=VERIFIERKEY (the witness's cosignature/v1 key, as `helios
 * witness` prints it). A key may end in '=' padding and a URL may hold '=': the split is at the
 * first '=' after which a valid key follows. The quorum defaults to the smallest k above 2n/3.
 */
function parseWitnesses(list: Raw, quorumRaw: Raw): { witnesses: { url: string; verifierKey: string }[]; witnessQuorum: number } {
  const witnesses: { url: string; verifierKey: string }[] = [];
  for (const item of list.value.split(',').map((w) => w.trim()).filter(Boolean)) {
    let found: { url: string; verifierKey: string } | undefined;
    for (let i = item.indexOf('='); i > 0 && !found; i = item.indexOf('=', i + 1)) {
      try {
        parseCosignatureVerifierKey(item.slice(i + 1));
        found = { url: item.slice(0, i), verifierKey: item.slice(i + 1) };
      } catch {
        // try the next '='
      }
    }
    if (!found) throw invalid(list, `each witness is URL=VERIFIERKEY (the key \`helios witness\` prints), got ${JSON.stringify(item)}`);
    if (!/^https?:\/\/[^\s]+$/.test(found.url)) throw invalid(list, `witness URL must be http:// or https://, got ${JSON.stringify(found.url)}`);
    witnesses.push(found);
  }
  if (new Set(witnesses.map((w) => w.verifierKey)).size !== witnesses.length) throw invalid(list, 'a witness key is listed twice');
  const n = witnesses.length;
  const k = quorumRaw.value === '' ? (n === 0 ? 0 : quorum(n)) : parseNumber(quorumRaw, { integer: true, min: 1 });
  if (k > n) throw invalid(quorumRaw, `the quorum cannot exceed the ${n} witness(es) listed in ledgerWitnesses`);
  return { witnesses, witnessQuorum: k };
}

function parseWebhookDelivery(get: (key: ConfigKey) => Raw): HeliosConfig['webhooks'] {
  const timeout = get('webhookTimeout');
  const lease = get('webhookLease');
  const timeoutMs = parseDuration(timeout, 1);
  const leaseMs = parseDuration(lease, 1000);
  // A claimed row is leased for this long; a lease that can end while its request is still
  // waiting for an answer lets another worker claim the row and deliver it a second time.
  if (leaseMs <= timeoutMs) {
    // Blame the one that was set: a default is not what the user needs to look at.
    if (lease.source === 'default') throw invalid(timeout, `must be shorter than the webhook lease (${lease.value}, --webhook-lease), or a row could be delivered twice`);
    throw invalid(lease, `must be longer than the webhook timeout (${timeout.value}), or a row could be delivered twice`);
  }
  const retry = get('webhookRetry');
  const delays = retry.value.split(',').map((s) => s.trim());
  const retryDelaysMs = delays.map((d) => parseDurationMs(d));
  if (delays.length === 0 || retryDelaysMs.some((d) => d === undefined)) {
    throw invalid(retry, 'expected a comma list of delays between attempts, e.g. 5s,5m,30m,2h,5h,10h,10h (a bare number is milliseconds)');
  }
  const lanes = parseNumber(get('webhookLanes'), { integer: true, min: 1 });
  return { lanes, timeoutMs, leaseMs, retryDelaysMs: retryDelaysMs as number[], pollMs: parseDuration(get('webhookPoll'), 1) };
}

/** The WebhookService settings a resolved config asks for. */
export function webhookServiceSettings(config: HeliosConfig): { cdc: CdcSettings; delivery: Partial<DeliverySettings> } {
  const w = config.webhooks;
  return {
    cdc: { ...config.cdc, schemas: [...config.cdc.schemas] },
    delivery: {
      lanes: w.lanes,
      timeoutMs: w.timeoutMs,
      leaseSeconds: w.leaseMs / 1000,
      pollMs: w.pollMs,
      // max_attempts comes from each webhook; the policy's own count only fills in when none is set.
      retry: retryPolicy({ delaysMs: w.retryDelaysMs }),
    },
  };
}

function readPem(raw: Raw): string {
  try {
    return readFileSync(raw.value, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${raw.source} file "${raw.value}": ${(err as Error).message}`);
  }
}

function loadTls(certRaw: Raw | undefined, keyRaw: Raw | undefined): TlsTermination | undefined {
  if (!certRaw && !keyRaw) return undefined;
  if (!certRaw || !keyRaw) throw new UserError('tlsCert and tlsKey must be set together (--tls-cert / --tls-key)');
  const tls = { cert: readPem(certRaw), key: readPem(keyRaw) };
  try {
    createSecureContext(tls);
  } catch (err) {
    throw new UserError(`TLS certificate ${certRaw.value} and key ${keyRaw.value} are not a usable PEM pair: ${(err as Error).message}`);
  }
  return tls;
}

/** Resolves and validates the whole configuration; throws UserError naming the offending flag, variable or file key. */
export function loadConfig(sources: ConfigSources = {}): HeliosConfig {
  const env = sources.env ?? process.env;
  const cwd = sources.cwd ?? process.cwd();
  const flags = sources.flags ?? {};

  const explicitFile = sources.configFile ?? (env[CONFIG_FILE_ENV] || undefined);
  const filePath = resolve(cwd, explicitFile ?? DEFAULT_CONFIG_FILE);
  const file = readConfigFile(filePath, explicitFile !== undefined);

  const get = (key: ConfigKey): Raw | undefined => {
    const spec: KeySpec = CONFIG_KEYS[key];
    const flag = flags[key];
    if (flag !== undefined) return { value: flag, source: `--${spec.flag}` };
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: spec.env };
    const fromFile = file && fileValue(file, key, filePath);
    if (fromFile) return spec.path ? { ...fromFile, value: resolve(dirname(filePath), fromFile.value) } : fromFile;
    return spec.default === undefined ? undefined : { value: spec.default, source: 'default' };
  };
  const required = (key: ConfigKey): Raw => get(key)!;

  const plugins = required('plugins');
  const logLevel = required('logLevel');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel.value)) throw invalid(logLevel, `expected one of ${LOG_LEVELS.join(', ')}`);
  const data = required('data');
  if (data.value.trim() === '') throw invalid(data, 'expected a directory path');
  const upstream = get('upstream');
  const maxMessageBytes = get('maxMessageBytes');
  const traceQueryText = required('traceQueryText');
  if (traceQueryText.value !== 'normalized' && traceQueryText.value !== 'full') throw invalid(traceQueryText, 'expected normalized or full');
  const slowQueryMs = parseNumber(required('slowQueryMs'), { integer: false, min: 0 });
  const planThreshold = get('planThresholdMs');
  const rateCard = required('rateCard');
  // A preset name, or a JSON file: relative to the config file when it names one, else to the working directory.
  const rateCardSpec = RATE_CARD_PRESETS[rateCard.value] ? rateCard.value : resolve(file && rateCard.source.startsWith(filePath) ? dirname(filePath) : cwd, rateCard.value);
  try {
    if (!RATE_CARD_PRESETS[rateCard.value] && !/[./\\]/.test(rateCard.value)) loadRateCard(rateCard.value);
    loadRateCard(rateCardSpec);
  } catch (err) {
    throw invalid(rateCard, (err as Error).message);
  }
  const costTenant = required('costTenant');
  let tenantSources: TenantSource[];
  try {
    tenantSources = parseTenantSources(costTenant.value);
  } catch (err) {
    throw invalid(costTenant, (err as Error).message);
  }
  const statementLimit = get('costStatementLimit');

  let pluginSpec: PluginSpec;
  try {
    pluginSpec = parsePluginSpec(plugins.value);
  } catch (err) {
    throw invalid(plugins, (err as Error).message);
  }

  const config: HeliosConfig = {
    listen: parseAddress(required('listen')),
    http: parseAddress(required('http')),
    plugins: pluginSpec,
    data: resolve(cwd, data.value),
    drainTimeoutSeconds: parseNumber(required('drainTimeout'), { integer: false, min: 0 }),
    logLevel: logLevel.value as LogLevel,
    slowQueryMs,
    traceQueryText: traceQueryText.value,
    traceLimit: parseNumber(required('traceLimit'), { integer: true, min: 1 }),
    planThresholdMs: planThreshold === undefined ? slowQueryMs : planThreshold.value === 'off' ? null : parseNumber(planThreshold, { integer: false, min: 0 }),
    rateCard: rateCardSpec,
    costTenant: tenantSources,
    costStatementLimitUsd: statementLimit === undefined || statementLimit.value === 'off' ? null : parseNumber(statementLimit, { integer: false, min: 0 }),
    cdc: parseCdc(required),
    webhooks: parseWebhookDelivery(required),
    ledger: parseLedger(required),
  };
  if (upstream) config.upstream = parseUpstreamUrl(upstream.value);
  // Below 8 bytes not even a message header fits.
  if (maxMessageBytes) config.maxMessageBytes = parseNumber(maxMessageBytes, { integer: true, min: 8 });
  const tls = loadTls(get('tlsCert'), get('tlsKey'));
  if (tls) config.tls = tls;
  if (file) config.file = filePath;
  return config;
}

export interface ProxyRuntime {
  plugins: readonly Plugin[];
  /** Where to connect; defaults to the configured upstream URL. */
  upstream?: UpstreamTarget;
  onUpstreamConnect?: ProxyOptions['onUpstreamConnect'];
  log?: ProxyOptions['log'];
}

/** The proxy's options: the resolved config plus what only exists at run time (plugin instances, callbacks). */
export function buildProxyOptions(config: HeliosConfig, runtime: ProxyRuntime): ProxyOptions {
  const upstream = runtime.upstream ?? config.upstream?.target;
  if (!upstream) throw new UserError('no upstream: pass --upstream postgresql://USER:PASSWORD@HOST:PORT/DB or set HELIOS_UPSTREAM');
  const opts: ProxyOptions = {
    listenHost: config.listen.host,
    listenPort: config.listen.port,
    upstream,
    plugins: runtime.plugins,
    drainTimeoutMs: config.drainTimeoutSeconds * 1000,
  };
  if (config.tls) opts.tls = config.tls;
  if (config.maxMessageBytes !== undefined) opts.maxMessageBytes = config.maxMessageBytes;
  if (runtime.onUpstreamConnect) opts.onUpstreamConnect = runtime.onUpstreamConnect;
  if (runtime.log) opts.log = runtime.log;
  return opts;
}

/**
 * The settings that decide what is intercepted, priced, refused, captured and audited: what the
 * audit ledger records when the sidecar starts and when a reload changes them. No secrets (the
 * upstream, TLS material and keys are left out).
 */
export function policySettings(c: HeliosConfig): Record<string, string | number | boolean | null | string[] | Record<string, string | number | boolean | string[]>> {
  return {
    plugins: typeof c.plugins === 'string' ? c.plugins : [...c.plugins],
    traceQueryText: c.traceQueryText,
    rateCard: c.rateCard,
    costTenant: [...c.costTenant],
    costStatementLimitUsd: c.costStatementLimitUsd,
    cdc: { enabled: c.cdc.enabled, schemas: [...c.cdc.schemas] },
    ledger: {
      enabled: c.ledger.enabled, rows: c.ledger.rows, tables: [...c.ledger.tables], fullText: c.ledger.fullText,
      checkpointMs: c.ledger.checkpointMs, witnesses: c.ledger.witnesses.map((w) => w.url), witnessQuorum: c.ledger.witnessQuorum,
    },
  };
}

/** The settings that differ between two resolved configs, by HeliosConfig field. */
export function diffConfig(prev: HeliosConfig, next: HeliosConfig): (keyof HeliosConfig)[] {
  const fields: (keyof HeliosConfig)[] = [
    'upstream', 'listen', 'http', 'plugins', 'data', 'tls', 'drainTimeoutSeconds', 'maxMessageBytes', 'logLevel',
    'slowQueryMs', 'traceQueryText', 'traceLimit', 'planThresholdMs', 'rateCard', 'costTenant', 'costStatementLimitUsd', 'cdc', 'webhooks', 'ledger',
  ];
  return fields.filter((f) => JSON.stringify(prev[f]) !== JSON.stringify(next[f]));
}
