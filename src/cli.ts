// Command line: `helios up` (embedded PostgreSQL + proxy) and `helios proxy` (proxy in front of an existing server).
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Plugin } from '../plugins/contract.ts';
import { createPlugins, type PluginDeps, type PluginSpec } from '../plugins/index.ts';
import type { ProxyHandle, UpstreamTarget } from '../proxy/options.ts';
import { buildProxyOptions, CONFIG_FILE_ENV, CONFIG_KEYS, loadConfig, policySettings, webhookServiceSettings, type ConfigKey, type ConfigSources, type HeliosConfig } from './config.ts';
import { connectControl, type ControlTarget } from './control-client.ts';
import { migrate } from './control-schema.ts';
import type { EmbeddedPostgres } from './embedded.ts';
import { UserError } from './errors.ts';
import { observabilityRoutes } from './api/observability.ts';
import { costRoutes } from './api/cost.ts';
import { startHttpServer, type HttpServer } from './http.ts';
import { createLogger, redactUrl, type Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { DEFAULT_OBSERVABILITY_OPTIONS, Observability } from './observability/index.ts';
import { CostEngine, DEFAULT_COST_OPTIONS } from './cost/index.ts';
import { createReadiness } from './readiness.ts';
import { planReload } from './reload.ts';
import type { WebhookService } from './webhooks/service.ts';
import type { LedgerService } from './ledger/service.ts';

type Mode = 'up' | 'proxy';

const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const DESCRIPTIONS: Record<ConfigKey, string> = {
  upstream: 'PostgreSQL to proxy to: postgresql://USER:PASSWORD@HOST:PORT/DB[?sslmode=...]',
  listen: 'where the proxy listens',
  http: 'where /healthz, /readyz and /metrics are served',
  plugins: 'all, none, or a comma list of plugin names',
  data: 'data directory; embedded PostgreSQL lives in DIR/pg',
  tlsCert: 'PEM certificate chain presented to clients (enables client TLS)',
  tlsKey: 'PEM private key for --tls-cert',
  drainTimeout: 'seconds to let running queries finish on SIGINT/SIGTERM',
  maxMessageBytes: 'largest client message accepted (default 1 GiB)',
  logLevel: 'debug, info, warn or error',
  slowQueryMs: 'statements at or above this many ms go to the slow log',
  traceQueryText: 'db.query.text in spans: normalized (literals as $n) or full',
  traceLimit: 'traces kept in memory for the API and dashboard',
  planThresholdMs: 'attach plans to spans at or above this many ms (off: never; default: --slow-query-ms)',
  rateCard: 'prices: aurora-standard, neon, bigquery, or a JSON rate card file',
  costTenant: 'who pays for a statement, first match of: tag (sqlcommenter tenant), application_name, role, database',
  costStatementLimit: 'refuse any statement estimated above this many dollars (off by default)',
  cdc: 'capture changes for webhooks: on or off (off: webhooks can be defined, this sidecar captures nothing)',
  cdcSlot: 'logical replication slot change capture reads',
  cdcPublication: 'publication the slot decodes (created when absent)',
  cdcSchemas: 'comma list of schemas a publication HeliosDB creates covers',
  webhookLanes: 'concurrent delivery loops in this sidecar',
  webhookTimeout: 'how long a webhook request may take (500ms, 15s, ...)',
  webhookLease: 'how long a claimed outbox row stays with one worker; longer than --webhook-timeout',
  webhookRetry: 'comma list of delays before attempt 2, 3, ... (the last one repeats)',
  webhookPoll: 'longest idle wait between outbox claims',
  ledger: 'the audit ledger of statements, row changes and HeliosDB actions: on or off',
  ledgerOrigin: 'the ledger name its signed checkpoints carry',
  ledgerRows: 'log committed row changes too: on starts change capture for the ledger (a replication slot)',
  ledgerTables: 'comma list of tables whose row changes are logged (default: all)',
  ledgerFullText: 'log statement text with its literals instead of the normalized text',
  ledgerCheckpoint: 'how often a checkpoint of the grown ledger is signed',
  ledgerWitnesses: 'comma list of witnesses asked to cosign each checkpoint, URL=VERIFIERKEY (helios witness prints its key)',
  ledgerWitnessQuorum: 'cosignatures that make a checkpoint final (default: the smallest k above 2n/3)',
};

const METAVARS: Record<ConfigKey, string> = {
  upstream: 'URL', listen: 'HOST:PORT', http: 'HOST:PORT', plugins: 'LIST', data: 'DIR',
  tlsCert: 'FILE', tlsKey: 'FILE', drainTimeout: 'SECONDS', maxMessageBytes: 'BYTES', logLevel: 'LEVEL',
  slowQueryMs: 'MS', traceQueryText: 'MODE', traceLimit: 'N', planThresholdMs: 'MS|off',
  rateCard: 'NAME|FILE', costTenant: 'LIST', costStatementLimit: 'USD|off',
  cdc: 'on|off', cdcSlot: 'NAME', cdcPublication: 'NAME', cdcSchemas: 'LIST',
  webhookLanes: 'N', webhookTimeout: 'DURATION', webhookLease: 'DURATION', webhookRetry: 'LIST', webhookPoll: 'DURATION',
  ledger: 'on|off', ledgerOrigin: 'NAME', ledgerRows: 'on|off', ledgerTables: 'LIST', ledgerFullText: 'on|off', ledgerCheckpoint: 'DURATION', ledgerWitnesses: 'LIST', ledgerWitnessQuorum: 'K',
};

const OBSERVABILITY_KEYS: ConfigKey[] = ['slowQueryMs', 'traceQueryText', 'traceLimit', 'planThresholdMs', 'rateCard', 'costTenant', 'costStatementLimit'];

const WEBHOOK_KEYS: ConfigKey[] = [
  'cdc', 'cdcSlot', 'cdcPublication', 'cdcSchemas', 'webhookLanes', 'webhookTimeout', 'webhookLease', 'webhookRetry', 'webhookPoll',
  'ledger', 'ledgerOrigin', 'ledgerRows', 'ledgerTables', 'ledgerFullText', 'ledgerCheckpoint', 'ledgerWitnesses', 'ledgerWitnessQuorum',
];

const COMMAND_KEYS: Record<Mode, ConfigKey[]> = {
  up: ['data', 'listen', 'http', 'plugins', 'tlsCert', 'tlsKey', 'drainTimeout', 'maxMessageBytes', 'logLevel', ...OBSERVABILITY_KEYS, ...WEBHOOK_KEYS],
  proxy: ['upstream', 'listen', 'http', 'plugins', 'tlsCert', 'tlsKey', 'drainTimeout', 'maxMessageBytes', 'logLevel', ...OBSERVABILITY_KEYS, ...WEBHOOK_KEYS],
};

const SUMMARY: Record<Mode, string> = {
  up: 'Start embedded PostgreSQL (wal_level=logical) with the proxy and HTTP endpoint in front of it.',
  proxy: 'Run the proxy and HTTP endpoint in front of an existing PostgreSQL.',
};

function usage(): string {
  return `HeliosDB ${VERSION}: a PostgreSQL sidecar (wire proxy with query hooks)

Usage:
  helios up    [options]                 ${SUMMARY.up}
  helios proxy --upstream URL [options]  ${SUMMARY.proxy}
  helios budget set|list|remove ...        per-tenant budgets on a running HeliosDB (helios budget --help)
  helios cost [tenants|queries|forecast|advice]  spend, forecasts and optimization advice
  helios webhook list|create|show|pause|resume|delete|rotate|replay|replay-dead|backfill|deliveries ...
                                         CDC webhooks on a running HeliosDB (helios webhook --help)
  helios cdc                             change-capture status: slot, lag, wal_status, alarm
  helios ledger [status|verify|prove ID|consistency M N]  the audit ledger of a running HeliosDB
  helios witness --dir DIR --log ORIGIN=VKEY ...  transparency log witness (c2sp.org/tlog-witness)
  helios --version
  helios COMMAND --help                  options of a command
`;
}

function commandUsage(mode: Mode): string {
  const rows = COMMAND_KEYS[mode].map((key) => {
    const spec = CONFIG_KEYS[key];
    const def = 'default' in spec ? ` (default ${spec.default})` : '';
    return `  --${spec.flag} ${METAVARS[key]}`.padEnd(30) + `${DESCRIPTIONS[key]}${def}\n${' '.repeat(30)}env ${spec.env}, file key "${key}"`;
  });
  return `Usage: helios ${mode} [options]\n\n${SUMMARY[mode]}\n\nOptions:\n${rows.join('\n')}\n` +
    `  --config FILE`.padEnd(30) + `JSON config file (env ${CONFIG_FILE_ENV}; default ./helios.json if present)\n` +
    `  -h, --help\n\nPrecedence: flags > environment > config file > defaults.\n`;
}

function parseCommandArgs(mode: Mode, args: string[]): { help: boolean; sources: ConfigSources } {
  const options: NonNullable<ParseArgsConfig['options']> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const key of COMMAND_KEYS[mode]) options[CONFIG_KEYS[key].flag] = { type: 'string' };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UserError(`${(err as Error).message}\nRun "helios ${mode} --help" for the options.`);
  }
  const flags: Partial<Record<ConfigKey, string>> = {};
  for (const key of COMMAND_KEYS[mode]) {
    const v = values[CONFIG_KEYS[key].flag];
    if (typeof v === 'string') flags[key] = v;
  }
  const sources: ConfigSources = { flags };
  if (typeof values.config === 'string') sources.configFile = values.config;
  return { help: values.help === true, sources };
}

/** What a user types to connect through the proxy; never includes a password. */
function connectionString(host: string, port: number, user: string | undefined, database: string | undefined): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const who = user ? `${encodeURIComponent(user)}@` : '';
  return `postgresql://${who}${h}:${port}/${encodeURIComponent(database ?? user ?? 'postgres')}`;
}

async function migrateControlSchema(control: ControlTarget, log: Logger): Promise<void> {
  const client = await connectControl(control);
  try {
    const r = await migrate(client, { log });
    log.info('control schema ready', { version: r.to, applied: r.applied.length ? r.applied.join(',') : 'none' });
  } finally {
    await client.end().catch(() => {});
  }
}

/** Our own cluster preloads pg_stat_statements; the cost engine reads buffer counts from it. */
async function enablePgStatStatements(control: ControlTarget, log: Logger): Promise<void> {
  const client = await connectControl(control);
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  } catch (err) {
    log.warn('could not create pg_stat_statements; the cost engine samples EXPLAIN (ANALYZE, BUFFERS) instead', { error: (err as Error).message });
  } finally {
    await client.end().catch(() => {});
  }
}

function listenError(err: unknown, what: string, host: string, port: number): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE') return new UserError(`cannot listen for ${what} on ${host}:${port}: address already in use`);
  if (e.code === 'EADDRNOTAVAIL') return new UserError(`cannot listen for ${what} on ${host}:${port}: no such local address`);
  return err;
}

async function serve(mode: Mode, sources: ConfigSources): Promise<void> {
  let config = loadConfig(sources);
  const log = createLogger({ level: config.logLevel });
  if (config.file) log.info('read config file', { file: config.file });
  if (mode === 'proxy' && !config.upstream) {
    throw new UserError('helios proxy needs an upstream: --upstream postgresql://USER:PASSWORD@HOST:PORT/DB (or HELIOS_UPSTREAM)');
  }
  if (mode === 'up' && config.upstream) log.warn('ignoring upstream: helios up proxies to its own embedded PostgreSQL', { upstream: config.upstream.display });

  let pg: EmbeddedPostgres | undefined;
  let proxy: ProxyHandle | undefined;
  let http: HttpServer | undefined;
  let plugins: readonly Plugin[] = [];
  let upstream: UpstreamTarget;
  let observability: Observability | undefined;
  let cost: CostEngine | undefined;
  let webhooks: WebhookService | undefined;
  let webhooksStarted = false;
  let ledger: LedgerService | undefined;
  let upstreamAddress = { host: '', port: 0 };
  /** HeliosDB's own login to the upstream: migrations, and diagnostics such as EXPLAIN and pg_locks. */
  let control: ControlTarget | undefined;
  const buildPlugins = (spec: PluginSpec) => createPlugins(spec, { observability: observability!, cost, webhooks, ledger } satisfies PluginDeps);
  let schemaStatus = 'pending';
  let stopping = false;

  // Closes whatever has started so far, newest first.
  const shutdown = async (drainMs: number) => {
    if (proxy) await (drainMs > 0 ? proxy.drain(drainMs) : proxy.close());
    await http?.close();
    // Before PostgreSQL stops: capture confirms its slot and workers settle what they delivered.
    await webhooks?.close();
    await ledger?.close();
    await cost?.close();
    await observability?.close();
    await pg?.stop();
  };

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn(`${signal} again: closing client connections now`);
      void proxy?.close();
      return;
    }
    stopping = true;
    log.info(`${signal}: shutting down`, { drainTimeoutSeconds: config.drainTimeoutSeconds });
    shutdown(config.drainTimeoutSeconds * 1000).then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: Error) => {
        log.error('shutdown failed', { error: err.message });
        process.exit(1);
      },
    );
  };

  // Webhooks need the helios schema: started once it is migrated; a later migration (a new upstream) rereads the definitions.
  const startWebhooks = async () => {
    if (!webhooks || stopping) return;
    if (webhooksStarted) return void webhooks.reload().catch(() => {});
    webhooksStarted = true;
    try {
      ledger?.start();
      ledger?.record('action', { action: 'sidecar_started', settings: policySettings(config), time: new Date().toISOString() });
    } catch (err) {
      log.error('ledger: cannot open its signing key; checkpoints are not signed', { error: (err as Error).message });
    }
    await webhooks.start();
  };

  // A reload may start a new attempt while one runs; only the latest reports.
  let migrationRun = 0;
  const migrateUpstream = (conn: ControlTarget) => {
    const run = ++migrationRun;
    schemaStatus = 'pending';
    migrateControlSchema(conn, log).then(
      () => {
        if (run !== migrationRun) return;
        schemaStatus = 'ok';
        void cost?.reloadBudgets();
        void startWebhooks();
      },
      (err: Error) => {
        if (run !== migrationRun) return;
        const authFailed = /password|authentication|SASL|SCRAM/i.test(err.message);
        const hint = authFailed && conn.password === undefined ? ' (the upstream URL has no password)' : '';
        schemaStatus = `unavailable: ${err.message}${hint}`;
        log.warn('could not set up the helios control schema; the proxy keeps running without it (see /readyz)', { error: err.message + hint });
      },
    );
  };

  const reload = () => {
    let next: HeliosConfig;
    try {
      next = loadConfig(sources);
    } catch (err) {
      log.error('SIGHUP: config has errors; keeping the running configuration', { error: (err as Error).message });
      return;
    }
    const plan = planReload(config, next, mode, buildPlugins);
    try {
      if (proxy && Object.keys(plan.patch).length) proxy.reload(plan.patch);
    } catch (err) {
      log.error('SIGHUP: the proxy rejected the new settings; keeping the running configuration', { error: (err as Error).message });
      return;
    }
    config = plan.config;
    log.level = config.logLevel;
    if (plan.patch.plugins) plugins = plan.patch.plugins;
    if (plan.patch.upstream && config.upstream) {
      upstream = plan.patch.upstream;
      control = config.upstream;
      migrateUpstream(config.upstream);
    }
    log.info('SIGHUP: configuration reloaded', { changed: plan.applied.join(',') || 'nothing' });
    if (plan.applied.length) ledger?.record('action', { action: 'config_reloaded', changed: plan.applied, settings: policySettings(config), time: new Date().toISOString() });
    if (plan.restartNeeded.length) log.warn('SIGHUP: these settings changed but need a restart', { settings: plan.restartNeeded.join(',') });
  };

  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', reload);

  try {
    let connectAs: { user?: string; database?: string };
    if (mode === 'up') {
      const { startEmbeddedPostgres } = await import('./embedded.ts');
      pg = await startEmbeddedPostgres({ data: config.data, log });
      log.info('embedded PostgreSQL running', { address: `${pg.host}:${pg.port}`, dir: pg.dir, log: pg.logFile });
      upstream = { host: pg.host, port: pg.port, sslmode: 'disable' };
      control = { target: upstream, user: pg.user, password: pg.password, database: pg.database };
      // Our own cluster: a migration failure is a real fault, so it stops startup.
      await migrateControlSchema(control, log).catch((err: Error) => {
        throw new Error(`control schema: ${err.message}`);
      });
      schemaStatus = 'ok';
      await enablePgStatStatements(control, log);
      connectAs = { user: pg.user, database: pg.database };
    } else {
      upstream = config.upstream!.target;
      control = config.upstream;
      connectAs = config.upstream!;
    }

    const metrics = createMetrics({ view: () => proxy?.view, plugins: () => plugins });
    observability = new Observability(
      {
        registry: metrics.registry,
        view: () => proxy?.view,
        control: () => control,
        // One object per upstream, as spans read it per statement.
        upstream: () => (upstreamAddress.host === upstream.host && upstreamAddress.port === upstream.port ? upstreamAddress : (upstreamAddress = { host: upstream.host, port: upstream.port })),
        log: (level, msg, fields) => log.log(level, msg, fields),
      },
      {
        ...DEFAULT_OBSERVABILITY_OPTIONS,
        slowQueryMs: config.slowQueryMs,
        traceQueryText: config.traceQueryText,
        traceLimit: config.traceLimit,
        planThresholdMs: config.planThresholdMs,
      },
    );
    cost = new CostEngine(
      { registry: metrics.registry, control: () => control, log: (level, msg, fields) => log.log(level, msg, fields) },
      { ...DEFAULT_COST_OPTIONS, rateCard: config.rateCard, tenantSources: config.costTenant, statementLimitUsd: config.costStatementLimitUsd },
    );
    // Our own cluster has the schema already: read spend and budgets before the first client.
    if (mode === 'up') await cost.start();
    else void cost.start();
    if (control) {
      // Loaded here, not at the top: commands that never serve (budget, webhook, --help) skip capture and delivery code.
      const { WebhookService } = await import('./webhooks/service.ts');
      if (config.ledger.enabled) {
        const { LedgerService } = await import('./ledger/service.ts');
        ledger = new LedgerService({
          control: () => control,
          registry: metrics.registry,
          log: (level, msg, fields) => log.log(level, msg, fields),
          keyDir: join(config.data, 'ledger-keys'),
          origin: config.ledger.origin,
          tables: config.ledger.tables,
          fullText: config.ledger.fullText,
          checkpointMs: config.ledger.checkpointMs,
          witnesses: config.ledger.witnesses,
          witnessQuorum: config.ledger.witnessQuorum,
        });
      }
      webhooks = new WebhookService({
        control: () => control,
        registry: metrics.registry,
        log: (level, msg, fields) => log.log(level, msg, fields),
        ...webhookServiceSettings(config),
        sinks: ledger ? [ledger.sink] : [],
        alwaysCapture: Boolean(ledger && config.ledger.rows),
      });
      if (ledger && config.ledger.rows && !config.cdc.enabled) log.warn('ledger: row changes are not logged while change capture is off (--cdc off)');
      // Our own cluster has the schema already; `proxy` starts them once the upstream is migrated.
      if (mode === 'up') await startWebhooks();
    }
    plugins = buildPlugins(config.plugins);
    const { startProxy } = await import('../proxy/server.ts');
    const proxyOptions = buildProxyOptions(config, {
      plugins,
      upstream,
      onUpstreamConnect: metrics.onUpstreamConnect,
      log: (level, msg, fields) => log.log(level, msg, fields),
    });
    proxy = await startProxy(proxyOptions).catch((err) => {
      throw listenError(err, 'PostgreSQL clients', config.listen.host, config.listen.port);
    });

    const readiness = createReadiness({
      proxy: () => (stopping ? 'draining' : 'ok'),
      upstream: () => upstream,
      controlSchema: () => schemaStatus,
    });
    const { webhookRoutes } = await import('./api/webhooks.ts');
    const { ledgerRoutes } = await import('./api/ledger.ts');
    http = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      registry: metrics.registry,
      readiness,
      log,
      api: { ...observabilityRoutes(() => observability), ...costRoutes(() => cost), ...webhookRoutes(() => webhooks), ...ledgerRoutes(() => ledger) },
    });

    if (mode === 'proxy') migrateUpstream(config.upstream!);

    const conn = connectionString(proxy.host, proxy.port, connectAs.user, connectAs.database);
    process.stdout.write(
      `HeliosDB ${VERSION} is ready\n` +
        `  connect: psql ${conn}\n` +
        `  http:    ${http.url}  (dashboard at /, /healthz /readyz /metrics /api/v1/observability/...)\n` +
        (mode === 'proxy' ? `  upstream: ${config.upstream!.display}\n` : `  postgres: ${pg!.host}:${pg!.port}, data ${pg!.dir}\n`),
    );
  } catch (err) {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    process.removeListener('SIGHUP', reload);
    await shutdown(0).catch((e: Error) => log.error('cleanup after failed start failed', { error: e.message }));
    throw err;
  }
}

/** Runs the CLI; user errors print one line and set a non-zero exit code instead of throwing. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        process.stderr.write(usage());
        process.exitCode = 2;
        return;
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(usage());
        return;
      case '-v':
      case '--version':
        process.stdout.write(`heliosdb ${VERSION}\n`);
        return;
      case 'up':
      case 'proxy': {
        const { help, sources } = parseCommandArgs(command, rest);
        if (help) process.stdout.write(commandUsage(command));
        else await serve(command, sources);
        return;
      }
      case 'budget':
      case 'cost': {
        const { costCommand } = await import('./cost-cli.ts');
        await costCommand(command, rest);
        return;
      }
      case 'webhook':
      case 'webhooks':
      case 'cdc': {
        const { webhookCommand } = await import('./webhooks-cli.ts');
        await webhookCommand(command === 'cdc' ? 'cdc' : 'webhook', rest);
        return;
      }
      case 'ledger': {
        const { ledgerCommand } = await import('./ledger-cli.ts');
        await ledgerCommand(rest);
        return;
      }
      case 'witness': {
        const { witnessCommand } = await import('./ledger/witness/cli.ts');
        await witnessCommand(rest);
        return;
      }
      default:
        throw new UserError(`unknown command "${command}"; run "helios --help"`);
    }
  } catch (err) {
    const e = err as Error;
    const detail = process.env.HELIOS_LOG_LEVEL === 'debug' && !(err instanceof UserError) ? `\n${e.stack}` : '';
    // UserError messages already show URLs redacted; anything else might quote one.
    const message = err instanceof UserError ? e.message : redactUrl(e.message ?? String(err));
    process.stderr.write(`helios: ${message}${detail}\n`);
    process.exitCode = err instanceof UserError ? 2 : 1;
  }
}
