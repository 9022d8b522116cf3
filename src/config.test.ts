import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateCosignerKey } from './ledger/checkpoint/index.ts';
import { buildProxyOptions, diffConfig, loadConfig, parseDurationMs, webhookServiceSettings, type ConfigSources } from './config.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function dirWith(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'helios-config-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const load = (sources: ConfigSources & { cwd: string }) => loadConfig({ env: {}, ...sources });

describe('loadConfig precedence', () => {
  it('uses defaults when nothing is set', () => {
    const cwd = dirWith();
    const c = load({ cwd });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 6432 });
    expect(c.http).toEqual({ host: '127.0.0.1', port: 9187 });
    expect(c.plugins).toBe('all');
    expect(c.data).toBe(join(cwd, '.helios'));
    expect(c.drainTimeoutSeconds).toBe(30);
    expect(c.logLevel).toBe('info');
    expect(c.upstream).toBeUndefined();
    expect(c.tls).toBeUndefined();
    expect(c.maxMessageBytes).toBeUndefined();
    expect(c.file).toBeUndefined();
  });

  it('reads the observability settings, with the plan threshold following the slow-query one unless set', () => {
    const cwd = dirWith();
    expect(load({ cwd })).toMatchObject({ slowQueryMs: 1000, traceQueryText: 'normalized', traceLimit: 1000, planThresholdMs: 1000 });
    expect(load({ cwd, flags: { slowQueryMs: '250' } }).planThresholdMs).toBe(250);
    expect(load({ cwd, env: { HELIOS_PLAN_THRESHOLD_MS: 'off', HELIOS_TRACE_QUERY_TEXT: 'full' } })).toMatchObject({ planThresholdMs: null, traceQueryText: 'full' });
    expect(() => load({ cwd, flags: { traceQueryText: 'raw' } })).toThrow(/--trace-query-text: invalid value "raw": expected normalized or full/);
    expect(() => load({ cwd, flags: { traceLimit: '0' } })).toThrow(/--trace-limit/);
  });

  it('ranks flag > environment > file > default, key by key', () => {
    const cwd = dirWith({
      'helios.json': JSON.stringify({ listen: '127.0.0.1:1001', http: '127.0.0.1:2001', drainTimeout: 5, plugins: ['query-counter'] }),
    });
    const c = load({
      cwd,
      flags: { listen: '127.0.0.1:1003' },
      env: { HELIOS_LISTEN: '127.0.0.1:1002', HELIOS_HTTP: '127.0.0.1:2002' },
    });
    expect(c.listen.port).toBe(1003); // flag beats env and file
    expect(c.http.port).toBe(2002); // env beats file
    expect(c.drainTimeoutSeconds).toBe(5); // file beats default
    expect(c.plugins).toEqual(['query-counter']);
    expect(c.logLevel).toBe('info'); // default
    expect(c.file).toBe(join(cwd, 'helios.json'));
  });

  it('reads the file named by --config over HELIOS_CONFIG, and resolves its paths against the file', () => {
    const cwd = dirWith({ 'a.json': '{"data": "from-a"}', 'b.json': '{"data": "from-b"}' });
    expect(load({ cwd, configFile: 'a.json', env: { HELIOS_CONFIG: 'b.json' } }).data).toBe(join(cwd, 'from-a'));
    expect(load({ cwd, env: { HELIOS_CONFIG: join(cwd, 'b.json') } }).data).toBe(join(cwd, 'from-b'));
  });

  it('treats an empty environment variable as unset', () => {
    const cwd = dirWith({ 'helios.json': '{"logLevel": "debug"}' });
    expect(load({ cwd, env: { HELIOS_LOG_LEVEL: '' } }).logLevel).toBe('debug');
  });

  it('parses IPv6 addresses and port 0', () => {
    expect(load({ cwd: dirWith(), flags: { listen: '[::1]:0' } }).listen).toEqual({ host: '::1', port: 0 });
  });
});

describe('loadConfig validation', () => {
  const cwd = dirWith();
  const fails = (sources: ConfigSources) => expect(() => load({ cwd, ...sources }));

  it('names the flag, variable or file key that is wrong', () => {
    fails({ flags: { listen: 'localhost' } }).toThrow('--listen: invalid value "localhost": expected HOST:PORT');
    fails({ env: { HELIOS_HTTP: '127.0.0.1:70000' } }).toThrow('HELIOS_HTTP: invalid value "127.0.0.1:70000": port must be between 0 and 65535');
    fails({ flags: { plugins: 'query-counter,nope' } }).toThrow(/--plugins: invalid value .*unknown plugin\(s\): nope/);
    fails({ flags: { drainTimeout: '-1' } }).toThrow('--drain-timeout: invalid value "-1": expected a number >= 0');
    fails({ flags: { maxMessageBytes: '1.5' } }).toThrow('expected an integer >= 8');
    fails({ flags: { logLevel: 'loud' } }).toThrow('expected one of debug, info, warn, error');
    const file = dirWith({ 'helios.json': '{"drainTimeout": "soon"}' });
    expect(() => load({ cwd: file })).toThrow(`${join(file, 'helios.json')} "drainTimeout": invalid value "soon"`);
  });

  it('rejects unknown keys, bad JSON and a missing explicit file', () => {
    expect(() => load({ cwd: dirWith({ 'helios.json': '{"listen": "127.0.0.1:1", "lisen": "x"}' }) })).toThrow(/unknown key\(s\) lisen; known: upstream, listen/);
    expect(() => load({ cwd: dirWith({ 'helios.json': '{nope' }) })).toThrow(/is not valid JSON/);
    expect(() => load({ cwd: dirWith({ 'helios.json': '[]' }) })).toThrow(/must contain a JSON object/);
    expect(() => load({ cwd: dirWith({ 'helios.json': '{"listen": true}' }) })).toThrow(/"listen" must be a string or number/);
    fails({ configFile: 'missing.json' }).toThrow(/cannot read config file .*missing\.json/);
  });

  it('requires tlsCert and tlsKey together, readable, and matching', () => {
    fails({ flags: { tlsCert: '/nonexistent/cert.pem' } }).toThrow('tlsCert and tlsKey must be set together');
    fails({ flags: { tlsCert: '/nonexistent/cert.pem', tlsKey: '/nonexistent/key.pem' } }).toThrow(
      /cannot read --tls-cert file "\/nonexistent\/cert.pem": ENOENT/,
    );
    const junk = dirWith({ 'c.pem': 'not a cert', 'k.pem': 'not a key' });
    fails({ flags: { tlsCert: join(junk, 'c.pem'), tlsKey: join(junk, 'k.pem') } }).toThrow(/are not a usable PEM pair/);
  });

  it('validates the upstream URL', () => {
    fails({ flags: { upstream: 'mysql://db/x' } }).toThrow('must start with postgresql:// or postgres://');
  });
});

describe('CDC and webhook settings', () => {
  it('defaults to capture on, slot and publication helios_cdc over public, and the Svix retry schedule', () => {
    const c = load({ cwd: dirWith() });
    expect(c.cdc).toEqual({ enabled: true, slot: 'helios_cdc', publication: 'helios_cdc', schemas: ['public'] });
    expect(c.webhooks).toEqual({ lanes: 1, timeoutMs: 15_000, leaseMs: 30_000, retryDelaysMs: [5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000], pollMs: 500 });
  });

  it('reads flags, variables and file values (lists as arrays too) and maps them onto the service settings', () => {
    const cwd = dirWith({ 'helios.json': JSON.stringify({ cdc: false, cdcSchemas: ['public', 'sales'], webhookRetry: ['50ms', 100] }) });
    const c = load({ cwd, flags: { cdcSlot: 'my_slot', webhookTimeout: '500ms' }, env: { HELIOS_WEBHOOK_LEASE: '2s', HELIOS_WEBHOOK_LANES: '2', HELIOS_WEBHOOK_POLL: '25' } });
    expect(c.cdc).toEqual({ enabled: false, slot: 'my_slot', publication: 'helios_cdc', schemas: ['public', 'sales'] });
    const s = webhookServiceSettings(c);
    expect(s.cdc).toEqual(c.cdc);
    expect(s.delivery).toMatchObject({ lanes: 2, timeoutMs: 500, leaseSeconds: 2, pollMs: 25 });
    expect(s.delivery.retry!.delaysMs).toEqual([50, 100]);
  });

  it('parses durations with or without a unit (a bare number is milliseconds)', () => {
    expect(['500ms', '15s', '1.5m', '2h', '1d', '250'].map(parseDurationMs)).toEqual([500, 15_000, 90_000, 7_200_000, 86_400_000, 250]);
    expect(parseDurationMs('soon')).toBeUndefined();
  });

  it('refuses bad values, naming the setting and the reason', () => {
    const cwd = dirWith();
    const fails = (sources: ConfigSources) => expect(() => load({ cwd, ...sources }));
    fails({ flags: { cdc: 'maybe' } }).toThrow('--cdc: invalid value "maybe": expected on or off');
    fails({ flags: { cdcSlot: 'My-Slot' } }).toThrow(/--cdc-slot: invalid value "My-Slot": expected lower-case letters/);
    fails({ env: { HELIOS_CDC_SCHEMAS: 'public,helios' } }).toThrow(/HELIOS_CDC_SCHEMAS: .*helios schema cannot be captured/);
    fails({ flags: { webhookTimeout: 'fast' } }).toThrow(/--webhook-timeout: invalid value "fast": expected a duration/);
    fails({ flags: { webhookTimeout: '30s' } }).toThrow(/--webhook-timeout: invalid value "30s": must be shorter than the webhook lease \(30s, --webhook-lease\)/);
    fails({ flags: { webhookTimeout: '10s', webhookLease: '10s' } }).toThrow(/--webhook-lease: invalid value "10s": must be longer than the webhook timeout \(10s\)/);
    fails({ flags: { webhookRetry: '5s,,1m' } }).toThrow(/--webhook-retry: invalid value "5s,,1m": expected a comma list of delays/);
    fails({ flags: { webhookLanes: '0' } }).toThrow('--webhook-lanes: invalid value "0": expected an integer >= 1');
    expect(() => load({ cwd: dirWith({ 'helios.json': '{"cdc": ["on"]}' }) })).toThrow(/"cdc" must be a string or boolean/);
  });
});

describe('buildProxyOptions', () => {
  it('maps the config and runtime parts onto ProxyOptions', () => {
    const c = load({ cwd: dirWith(), flags: { upstream: 'postgresql://app:pw@db:5433/app?sslmode=disable', maxMessageBytes: '65536', drainTimeout: '2.5' } });
    const opts = buildProxyOptions(c, { plugins: [] });
    expect(opts).toMatchObject({
      listenHost: '127.0.0.1',
      listenPort: 6432,
      upstream: { host: 'db', port: 5433, sslmode: 'disable' },
      plugins: [],
      maxMessageBytes: 65536,
      drainTimeoutMs: 2500,
    });
    expect(opts.tls).toBeUndefined();
  });

  it('demands an upstream when neither config nor runtime give one', () => {
    expect(() => buildProxyOptions(load({ cwd: dirWith() }), { plugins: [] })).toThrow(/no upstream: pass --upstream/);
  });
});

describe('diffConfig', () => {
  it('lists exactly the fields that changed', () => {
    const cwd = dirWith();
    const a = load({ cwd });
    const b = load({ cwd, flags: { plugins: 'none', listen: '127.0.0.1:7000' } });
    expect(diffConfig(a, a)).toEqual([]);
    expect(diffConfig(a, b)).toEqual(['listen', 'plugins']);
  });
});

describe('ledger witnesses', () => {
  const keys = [0, 1, 2, 3].map((i) => generateCosignerKey(`w${i}.example`).verifierKey);

  it('reads URL=KEY lists (a URL may hold "=") and defaults the quorum to the smallest k above 2n/3', () => {
    const cwd = dirWith();
    expect(load({ cwd }).ledger).toMatchObject({ witnesses: [], witnessQuorum: 0 });
    const list = [`http://127.0.0.1:7001/w?a=b=${keys[0]}`, ...keys.slice(1).map((k, i) => `http://127.0.0.1:700${i + 2}=${k}`)].join(',');
    const c = load({ cwd, flags: { ledgerWitnesses: list } });
    expect(c.ledger.witnesses[0]).toEqual({ url: 'http://127.0.0.1:7001/w?a=b', verifierKey: keys[0] });
    expect(c.ledger.witnesses.map((w) => w.verifierKey)).toEqual(keys);
    expect(c.ledger.witnessQuorum).toBe(3);
    const file = dirWith({ 'helios.json': JSON.stringify({ ledgerWitnesses: keys.slice(0, 2).map((k, i) => `https://w${i}.example=${k}`), ledgerWitnessQuorum: 1 }) });
    expect(load({ cwd: file }).ledger).toMatchObject({ witnessQuorum: 1, witnesses: [{ url: 'https://w0.example' }, { url: 'https://w1.example' }] });
  });

  it('refuses a missing or malformed key, a repeated key, another scheme and a quorum above n', () => {
    const cwd = dirWith();
    const fails = (flags: ConfigSources['flags']) => expect(() => load({ cwd, flags }));
    fails({ ledgerWitnesses: 'http://127.0.0.1:7001' }).toThrow(/--ledger-witnesses: .*each witness is URL=VERIFIERKEY/);
    fails({ ledgerWitnesses: `http://127.0.0.1:7001=${keys[0]!.slice(0, -3)}` }).toThrow(/each witness is URL=VERIFIERKEY/);
    fails({ ledgerWitnesses: `http://a.example=${keys[0]},http://b.example=${keys[0]}` }).toThrow(/a witness key is listed twice/);
    fails({ ledgerWitnesses: `ftp://a.example=${keys[0]}` }).toThrow(/witness URL must be http/);
    fails({ ledgerWitnesses: `http://a.example=${keys[0]}`, ledgerWitnessQuorum: '2' }).toThrow(/--ledger-witness-quorum: .*cannot exceed the 1 witness/);
    fails({ ledgerWitnessQuorum: '0' }).toThrow(/--ledger-witness-quorum: invalid value "0"/);
  });
});
