// A webhook receiver on 127.0.0.1 for tests and benches: answers every POST (204 by default, or
// chaos: random 500s, timeouts and slow answers), verifies Standard Webhooks signatures with the
// `standardwebhooks` package, and records what it accepted. Runs in-process, or as a process of
// its own (webhook-receiver-main.ts) so a crash test can kill the sidecar and not the receiver.
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Chaos {
  /** Fractions of requests answered 500, never answered (the sender times out), or answered 204 after slowMs. */
  error: number;
  timeout: number;
  slow: number;
  slowMs: number;
}

export interface ReceiverOptions {
  port?: number;
  /** Secrets to verify with; a request that fails verification is answered 401 and not recorded as accepted. */
  secrets?: string[];
  chaos?: Chaos;
  /** Status for accepted requests (204). */
  status?: number;
  /** Append one JSON line per accepted delivery here. */
  logFile?: string;
  /** Keep whole bodies in memory (tests); otherwise only their hashes. */
  keepBodies?: boolean;
  /** Deterministic chaos: a seeded generator in [0, 1). */
  random?: () => number;
  /** Called after each accepted delivery has been answered. */
  onAccepted?: (d: Delivery) => void;
}

export interface Delivery {
  id: string;
  timestamp: number;
  bodySha256: string;
  body?: string;
  receivedAt: number;
  /** Parsed events (one, or a batch's). */
  events: Array<{ id: string; table: string; op: string; key: unknown; commitTime: string; new: unknown; old: unknown }>;
}

export interface Receiver {
  url: string;
  port: number;
  accepted: Delivery[];
  /** Requests answered anything, including chaos failures and signature failures. */
  requests: number;
  rejectedSignatures: number;
  /** Overrides the answer for following requests (e.g. 500 for everything, 410). */
  setStatus(status: number, headers?: Record<string, string>): void;
  setChaos(chaos: Chaos | undefined): void;
  close(): Promise<void>;
}

type Envelope = { data: { id: string; table: string; op: string; key: unknown; commit_time: string; new: unknown; old: unknown } };

function parseEvents(body: string): Delivery['events'] {
  const parsed = JSON.parse(body) as Envelope | { type: 'batch'; data: Envelope[] };
  const list = 'type' in parsed && parsed.type === 'batch' ? (parsed.data as Envelope[]) : [parsed as Envelope];
  return list.map((e) => ({ id: e.data.id, table: e.data.table, op: e.data.op, key: e.data.key, commitTime: e.data.commit_time, new: e.data.new, old: e.data.old }));
}

export async function startReceiver(o: ReceiverOptions = {}): Promise<Receiver> {
  const verifiers = (o.secrets ?? []).map((s) => new Webhook(s));
  const random = o.random ?? Math.random;
  let chaos = o.chaos;
  let status = o.status ?? 204;
  let extraHeaders: Record<string, string> = {};
  const hanging = new Set<http.ServerResponse>();
  const r: Receiver = {
    url: '',
    port: 0,
    accepted: [],
    requests: 0,
    rejectedSignatures: 0,
    setStatus(s, headers = {}) {
      status = s;
      extraHeaders = headers;
    },
    setChaos(c) {
      chaos = c;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.requests++;
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = { 'webhook-id': String(req.headers['webhook-id']), 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) };
      if (verifiers.length && !verifiers.some((v) => { try { v.verify(body, headers); return true; } catch { return false; } })) {
        r.rejectedSignatures++;
        res.writeHead(401).end('bad signature');
        return;
      }
      if (chaos) {
        const x = random();
        if (x < chaos.error) {
          res.writeHead(500).end('chaos');
          return;
        }
        if (x < chaos.error + chaos.timeout) {
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          return;
        }
        if (x < chaos.error + chaos.timeout + chaos.slow) {
          setTimeout(() => accept(), chaos.slowMs);
          return;
        }
      }
      accept();
      function accept() {
        if (status >= 200 && status < 300) {
          const d: Delivery = {
            id: headers['webhook-id'],
            timestamp: Number(headers['webhook-timestamp']),
            bodySha256: createHash('sha256').update(body).digest('hex'),
            body: o.keepBodies ? body : undefined,
            receivedAt: Date.now(),
            events: parseEvents(body),
          };
          r.accepted.push(d);
          if (o.logFile) appendFileSync(o.logFile, JSON.stringify({ ...d, body: undefined }) + '\n');
        }
        res.writeHead(status, extraHeaders).end();
        if (status >= 200 && status < 300) o.onAccepted?.(r.accepted[r.accepted.length - 1]!);
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, '127.0.0.1', resolve));
  r.port = (server.address() as AddressInfo).port;
  r.url = `http://127.0.0.1:${r.port}/hook`;
  return r;
}
