// The benchmark's webhook receiver, a process of its own: a minimal Node HTTP server answering
// 204, which reads each event's commit time to measure commit-to-delivery latency. Forked with
// IPC: it sends { ready, url } once listening; { report, reset? } asks for counts and latency
// quantiles since the last reset.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DDSketch } from '@datadog/sketches-js';

let sketch = new DDSketch({ relativeAccuracy: 0.01 });
let count = 0;
let firstAt = 0;
let lastAt = 0;
const COMMIT = /"commit_time":"([^"]+)"/g;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    const body = Buffer.concat(chunks).toString('utf8');
    for (const m of body.matchAll(COMMIT)) {
      sketch.accept(Math.max(now - Date.parse(m[1]!), 0.01));
      count++;
    }
    if (firstAt === 0) firstAt = now;
    lastAt = now;
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const port = (server.address() as AddressInfo).port;
  process.send?.({ ready: true, url: `http://127.0.0.1:${port}/hook` });
});
process.on('message', (m: { report?: boolean; reset?: boolean }) => {
  if (m.report) {
    const q = (p: number) => (sketch.count ? sketch.getValueAtQuantile(p) : null);
    process.send?.({ count, firstAt, lastAt, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: sketch.count ? sketch.max : null });
  }
  if (m.reset) {
    sketch = new DDSketch({ relativeAccuracy: 0.01 });
    count = 0;
    firstAt = 0;
    lastAt = 0;
  }
});
process.on('disconnect', () => process.exit(0));
