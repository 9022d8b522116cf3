// The webhook receiver as a process of its own (forked with IPC): a crash test kills the sidecar
// and restarts PostgreSQL, never the receiver. Messages: it sends { ready, port } once listening
// and { accepted } after each 2xx while armed; it takes { arm } and { stop }.
import { startReceiver, type Chaos } from './webhook-receiver.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const chaosArg = arg('chaos');
let chaos: Chaos | undefined;
if (chaosArg) {
  const [error, timeout, slow, slowMs] = chaosArg.split(',').map(Number);
  chaos = { error: error!, timeout: timeout!, slow: slow!, slowMs: slowMs! };
}
let armed = false;
const receiver = await startReceiver({
  port: Number(arg('port') ?? 0),
  secrets: arg('secret') ? [arg('secret')!] : [],
  chaos,
  logFile: arg('log'),
  onAccepted: () => {
    if (!armed) return;
    armed = false;
    process.send?.({ accepted: true });
  },
});
process.on('message', (m: { arm?: boolean; stop?: boolean }) => {
  if (m.arm) armed = true;
  if (m.stop) void receiver.close().then(() => process.exit(0));
});
process.on('disconnect', () => void receiver.close().then(() => process.exit(0)));
process.send?.({ ready: true, port: receiver.port, url: receiver.url });
