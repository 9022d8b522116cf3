// Runs a HeliosDB proxy in a process of its own, for tests that measure it from outside
// (peak RSS in /proc/<pid>/status) or signal it.
//
//   node --import tsx test/support/proxy-process.ts --upstream-host H --upstream-port P \
//        [--plugins all|none|a,b] [--max-message-bytes N] [--max-decoded-bind-bytes N]
//
// Prints one JSON line {"ready":true,"port":N,"pid":N} on stdout once listening. SIGTERM
// drains (HELIOS_DRAIN_MS, default 5000) and exits 0; stdin closing also drains and exits, so
// the proxy never outlives the test that spawned it.
import { parseArgs } from 'node:util';
import { Registry } from 'prom-client';
import { createPlugins, parsePluginSpec } from '../../plugins/index.ts';
import type { ProxyView } from '../../plugins/contract.ts';
import { DEFAULT_OBSERVABILITY_OPTIONS, Observability } from '../../src/observability/index.ts';
import { startProxy } from '../../proxy/server.ts';

const { values } = parseArgs({
  options: {
    'upstream-host': { type: 'string', default: '127.0.0.1' },
    'upstream-port': { type: 'string' },
    plugins: { type: 'string', default: 'all' },
    'listen-port': { type: 'string', default: '0' },
    'max-message-bytes': { type: 'string' },
    'max-decoded-bind-bytes': { type: 'string' },
  },
});

if (!values['upstream-port']) {
  process.stderr.write('proxy-process: --upstream-port is required\n');
  process.exit(2);
}

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

let view: ProxyView | undefined;
const upstreamAddress = { host: values['upstream-host']!, port: Number(values['upstream-port']) };
// No diagnostic credentials here: this process is measured from outside, with the hub as `helios` runs it.
const observability = new Observability(
  { registry: new Registry(), view: () => view, control: () => undefined, upstream: () => upstreamAddress, log: () => {} },
  DEFAULT_OBSERVABILITY_OPTIONS,
);
const proxy = await startProxy({
  listenHost: '127.0.0.1',
  listenPort: Number(values['listen-port']),
  upstream: { host: values['upstream-host']!, port: Number(values['upstream-port']), sslmode: 'disable' },
  plugins: createPlugins(parsePluginSpec(values.plugins!), { observability }),
  maxMessageBytes: num(values['max-message-bytes']),
  maxDecodedBindBytes: num(values['max-decoded-bind-bytes']),
  log: (level, msg, fields) => {
    if (level === 'warn' || level === 'error') process.stderr.write(`${level}: ${msg} ${JSON.stringify(fields ?? {})}\n`);
  },
});

view = proxy.view;

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await proxy.drain(Number(process.env.HELIOS_DRAIN_MS ?? 5000));
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.on('error', () => void stop());
process.stdin.resume();

process.stdout.write(`${JSON.stringify({ ready: true, port: proxy.port, pid: process.pid })}\n`);
