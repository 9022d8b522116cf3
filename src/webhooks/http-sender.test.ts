import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestTls, type TestTls } from '../../test/harness/certs.ts';
import { UserError } from '../errors.ts';
import {
  deliveryTarget,
  describeNetworkError,
  describeResult,
  HttpSender,
  probeEndpoint,
  RESPONSE_SNIPPET_BYTES,
  USER_AGENT,
  validateEndpointUrl,
} from './http-sender.ts';
import { generateSecret, signatureHeaders } from './signing.ts';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface TestServer {
  url: string;
  received: Received[];
  connections: number;
  close(): Promise<void>;
}

const toClose: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(toClose.splice(0).map((close) => close()));
});

type Respond = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

async function listen(server: http.Server | https.Server, scheme: 'http' | 'https', respond: Respond): Promise<TestServer> {
  const received: Received[] = [];
  const state: TestServer = { url: '', received, connections: 0, close: async () => {} };
  server.on('connection', () => state.connections++);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      respond(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  toClose.push(state.close);
  return state;
}

function startServer(respond: Respond = (_req, res) => res.writeHead(204).end()): Promise<TestServer> {
  return listen(http.createServer(), 'http', respond);
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<string> {
  const server = await startServer();
  await server.close();
  return server.url;
}

const lookupFails: LookupFunction = (hostname, _options, callback) => {
  const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
  callback(err, '', 4);
};

// Every name resolves to loopback: hostnames in tests without touching DNS.
const lookupLoopback = ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
  if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
}) as unknown as LookupFunction;

const secret = generateSecret();
const body = JSON.stringify({ type: 'row.insert', table: 'public.orders', data: { id: 1, total: '12.50' } });
const sign = (id = 'msg_1') => signatureHeaders(id, Math.floor(Date.now() / 1000), body, [secret]);

describe('HttpSender.send', () => {
  const sender = new HttpSender({ connections: 4, timeoutMs: 2000 });
  afterAll(() => sender.closeAll());

  it('POSTs the body with the JSON, user-agent and signature headers, which verify', async () => {
    const server = await startServer();
    const signature = sign();
    const result = await sender.send(deliveryTarget(`${server.url}/hooks/orders?tenant=7#frag`), body, signature);
    expect(result).toMatchObject({ ok: true, status: 204 });
    expect(result.error).toBeUndefined();
    expect(result.ms).toBeGreaterThanOrEqual(0);
    const [req] = server.received;
    expect(req).toMatchObject({ method: 'POST', url: '/hooks/orders?tenant=7', body });
    expect(req!.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'content-length': String(Buffer.byteLength(body)),
      ...signature,
    });
    expect(new Webhook(secret).verify(req!.body, req!.headers as Record<string, string>)).toEqual(JSON.parse(body));
  });

  it('sends a Buffer body as is', async () => {
    const server = await startServer();
    const result = await sender.send(deliveryTarget(server.url + '/'), Buffer.from(body), sign());
    expect(result.ok).toBe(true);
    expect(server.received[0]!.body).toBe(body);
  });

  it('reuses keep-alive connections, at most `connections` per origin', async () => {
    const server = await startServer();
    const target = deliveryTarget(server.url + '/hook');
    for (let i = 0; i < 5; i++) expect((await sender.send(target, body, sign(`msg_${i}`))).ok).toBe(true);
    // undici leaves a connection alone for one event-loop turn after a response before reusing
    // it, so back-to-back sends may open a second one; not more.
    expect(server.connections).toBeLessThanOrEqual(2);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => sender.send(target, body, sign(`msg_p${i}`))));
    expect(results.every((r) => r.ok && r.status === 204)).toBe(true);
    expect(server.received).toHaveLength(105);
    expect(server.connections).toBeLessThanOrEqual(4);
  });

  it('counts any 2xx as delivered', async () => {
    const server = await startServer((_req, res) => res.writeHead(202, { 'content-type': 'text/plain' }).end('accepted'));
    expect(await sender.send(deliveryTarget(server.url), body, sign())).toMatchObject({ ok: true, status: 202 });
  });

  it('reports a non-2xx status with Retry-After and the first KiB of the body', async () => {
    const server = await startServer((_req, res) =>
      res.writeHead(503, { 'retry-after': '120', 'content-type': 'text/plain' }).end('overloaded '.repeat(500)),
    );
    const result = await sender.send(deliveryTarget(server.url), body, sign());
    expect(result).toMatchObject({ ok: false, status: 503, retryAfter: '120' });
    expect(result.error).toBeUndefined();
    expect(Buffer.byteLength(result.responseBody!)).toBe(RESPONSE_SNIPPET_BYTES);
    expect(result.responseBody!.startsWith('overloaded overloaded')).toBe(true);
  });

  it('keeps a short error body whole, and sends on with the same connection afterwards', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/bad') res.writeHead(400).end('{"error":"bad payload"}');
      else res.writeHead(204).end();
    });
    expect(await sender.send(deliveryTarget(server.url + '/bad'), body, sign())).toEqual({
      ok: false,
      status: 400,
      responseBody: '{"error":"bad payload"}',
      ms: expect.any(Number),
    });
    // Unread error bodies would make the connection unusable; this one is read, so it is kept.
    await new Promise((resolve) => setImmediate(resolve));
    expect((await sender.send(deliveryTarget(server.url + '/ok'), body, sign())).ok).toBe(true);
    expect(server.connections).toBe(1);
  });

  it('does not follow redirects: a 3xx is a failure', async () => {
    const server = await startServer((_req, res) => res.writeHead(302, { location: '/elsewhere' }).end());
    expect(await sender.send(deliveryTarget(server.url + '/old'), body, sign())).toMatchObject({ ok: false, status: 302 });
    expect(server.received.map((r) => r.url)).toEqual(['/old']);
  });

  it('stops reading an oversized response body but still counts its status', async () => {
    const small = new HttpSender({ maxResponseBytes: 4096, timeoutMs: 2000 });
    toClose.push(() => small.closeAll());
    const big = Buffer.alloc(1024 * 1024, 'x');
    const server = await startServer((req, res) => res.writeHead(req.url === '/ok' ? 200 : 500).end(big));
    expect(await small.send(deliveryTarget(server.url + '/ok'), body, sign())).toMatchObject({ ok: true, status: 200 });
    const failed = await small.send(deliveryTarget(server.url + '/fail'), body, sign());
    expect(failed).toMatchObject({ ok: false, status: 500 });
    expect(failed.responseBody).toHaveLength(RESPONSE_SNIPPET_BYTES);
  });

  it('times out when no response comes', async () => {
    const quick = new HttpSender({ timeoutMs: 150 });
    toClose.push(() => quick.closeAll());
    const server = await startServer(() => {});
    const result = await quick.send(deliveryTarget(server.url), body, sign());
    expect(result).toMatchObject({ ok: false, error: 'timeout: no response within 150 ms' });
    expect(result.status).toBeUndefined();
  });

  it('reports a refused connection', async () => {
    expect(await sender.send(deliveryTarget(await closedPort()), body, sign())).toMatchObject({
      ok: false,
      error: 'connection refused',
    });
  });

  it('reports a connection the server drops without answering', async () => {
    const server = await startServer((req) => req.socket.destroy());
    const result = await sender.send(deliveryTarget(server.url), body, sign());
    expect(result.ok).toBe(false);
    expect(result.status).toBeUndefined();
    expect(result.error).toMatch(/^connection (closed by the server|reset)$/);
  });

  it('reports DNS failures', async () => {
    const noDns = new HttpSender({ lookup: lookupFails });
    toClose.push(() => noDns.closeAll());
    expect(await noDns.send(deliveryTarget('http://hooks.example.test/x'), body, sign())).toMatchObject({
      ok: false,
      error: 'DNS: host not found',
    });
  });

  it('sends to host names through the given lookup', async () => {
    const server = await startServer();
    const named = new HttpSender({ lookup: lookupLoopback });
    toClose.push(() => named.closeAll());
    const port = new URL(server.url).port;
    expect((await named.send(deliveryTarget(`http://receiver.example.test:${port}/in`), body, sign())).ok).toBe(true);
    expect(server.received[0]!.headers.host).toBe(`receiver.example.test:${port}`);
  });

  it('resolves "sender closed" after closeAll', async () => {
    const server = await startServer();
    const once = new HttpSender();
    expect((await once.send(deliveryTarget(server.url), body, sign())).ok).toBe(true);
    await once.closeAll();
    expect(await once.send(deliveryTarget(server.url), body, sign())).toMatchObject({ ok: false, error: 'sender closed' });
  });

  it('never throws, even for a request undici refuses', async () => {
    const server = await startServer();
    const bad = { ...sign(), 'webhook-signature': 'v1,abc\r\nx-injected: 1' };
    const result = await sender.send(deliveryTarget(server.url), body, bad);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/header/i);
    expect(server.received).toHaveLength(0);
  });
});

describe('HTTPS', () => {
  let tls: TestTls;
  let dir: string;
  let server: TestServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'helios-webhooks-tls-'));
    tls = await makeTestTls(dir);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function startTlsServer(): Promise<TestServer> {
    const s = https.createServer({ cert: tls.server.cert, key: tls.server.key });
    return listen(s, 'https', (_req, res) => res.writeHead(204).end());
  }

  it('delivers to an endpoint whose certificate chains to a trusted CA', async () => {
    server = await startTlsServer();
    const trusting = new HttpSender({ ca: tls.ca.cert });
    toClose.push(() => trusting.closeAll());
    expect(await trusting.send(deliveryTarget(server.url + '/tls'), body, sign())).toMatchObject({ ok: true, status: 204 });
  });

  it('reports a certificate it cannot verify as a TLS failure', async () => {
    server = await startTlsServer();
    const strict = new HttpSender();
    toClose.push(() => strict.closeAll());
    const result = await strict.send(deliveryTarget(server.url), body, sign());
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^TLS: /);
    expect(server.received).toHaveLength(0);
  });

  it('reports https to a plain-HTTP port as a TLS failure', async () => {
    const plain = await startServer();
    const sender = new HttpSender();
    toClose.push(() => sender.closeAll());
    const result = await sender.send(deliveryTarget(plain.url.replace('http:', 'https:')), body, sign());
    expect(result.error).toMatch(/^TLS: /);
  });

  it('probes: TLS failure throws, a trusted certificate passes', async () => {
    server = await startTlsServer();
    await expect(probeEndpoint(server.url, 2000)).rejects.toThrow(/is unreachable: TLS: /);
    await expect(probeEndpoint(server.url, 2000, { ca: tls.ca.cert })).resolves.toBeUndefined();
  });
});

describe('validateEndpointUrl / deliveryTarget', () => {
  it('accepts http and https URLs', () => {
    expect(validateEndpointUrl('https://hooks.example.com/in').href).toBe('https://hooks.example.com/in');
    expect(validateEndpointUrl('http://[::1]:8080/x?y=1').port).toBe('8080');
    expect(deliveryTarget('https://hooks.example.com:8443/a/b?token=s3cret#f')).toEqual({
      origin: 'https://hooks.example.com:8443',
      path: '/a/b?token=s3cret',
      display: 'https://hooks.example.com:8443/a/b',
    });
    expect(deliveryTarget('http://example.com').path).toBe('/');
  });

  it('rejects other schemes, credentials and malformed URLs with clear messages that leak nothing', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['hooks.example.com/in', /is not a valid URL \(it needs to start with http:\/\/ or https:\/\/\)/],
      ['http://exa mple.com/?token=s3cret', /"http:\/\/exa mple.com\/" is not a valid URL$/],
      ['http://user:s3cret@exa mple.com', /is not a valid URL/],
      ['ftp://files.example.com/in', /must use http or https, not ftp/],
      ['javascript:alert(1)', /must use http or https, not javascript/],
      ['https://user:s3cret@hooks.example.com/in?token=s3cret', /"https:\/\/hooks.example.com\/in" must not contain credentials/],
      ['https://token-s3cret@hooks.example.com/', /must not contain credentials/],
      ['http://hooks.example.com:99999/', /is not a valid URL/],
    ];
    for (const [url, message] of cases) {
      let error: unknown;
      try {
        validateEndpointUrl(url);
      } catch (err) {
        error = err;
      }
      expect(error, url).toBeInstanceOf(UserError);
      expect((error as Error).message, url).toMatch(message);
      expect((error as Error).message).not.toContain('s3cret');
    }
  });
});

describe('probeEndpoint', () => {
  it('passes for any HTTP answer, even 404 or 405, and sends HEAD', async () => {
    const server = await startServer((req, res) => res.writeHead(req.url === '/missing' ? 404 : 405).end());
    await expect(probeEndpoint(server.url + '/missing', 2000)).resolves.toBeUndefined();
    await expect(probeEndpoint(server.url + '/hooks?token=1', 2000)).resolves.toBeUndefined();
    expect(server.received.map((r) => [r.method, r.url])).toEqual([
      ['HEAD', '/missing'],
      ['HEAD', '/hooks?token=1'],
    ]);
  });

  it('throws a clear UserError when nothing answers, without the query string', async () => {
    const refused = await closedPort();
    const error = await probeEndpoint(`${refused}/in?token=s3cret`, 2000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(`webhook URL "${refused}/in" is unreachable: connection refused`);

    const silent = await startServer(() => {});
    await expect(probeEndpoint(silent.url, 150)).rejects.toThrow(/is unreachable: timeout: no response within 150 ms/);

    await expect(probeEndpoint('http://hooks.example.test/', 2000, { lookup: lookupFails })).rejects.toThrow(
      'webhook URL "http://hooks.example.test/" is unreachable: DNS: host not found',
    );
    await expect(probeEndpoint('ftp://x/', 2000)).rejects.toThrow(/must use http or https/);
  });
});

describe('describeResult', () => {
  it('gives one line per outcome', () => {
    expect(describeResult({ ok: false, status: 503, responseBody: ' busy,\n try later ', ms: 1 })).toBe('HTTP 503: busy, try later');
    expect(describeResult({ ok: false, status: 404, ms: 1 })).toBe('HTTP 404');
    expect(describeResult({ ok: true, status: 204, ms: 1 })).toBe('HTTP 204');
    expect(describeResult({ ok: false, error: 'connection refused', ms: 1 })).toBe('connection refused');
  });
});

describe('describeNetworkError', () => {
  it('names common failures and scrubs URLs in unknown ones', () => {
    const err = (code: string, message = 'boom') => Object.assign(new Error(message), { code });
    expect(describeNetworkError(err('ECONNREFUSED'))).toBe('connection refused');
    expect(describeNetworkError(err('EAI_AGAIN'))).toBe('DNS: lookup failed temporarily');
    expect(describeNetworkError(err('UND_ERR_CONNECT_TIMEOUT'), 500)).toBe('timeout: could not connect within 500 ms');
    expect(describeNetworkError(err('CERT_HAS_EXPIRED', 'certificate has expired'))).toBe('TLS: certificate has expired');
    expect(describeNetworkError(new AggregateError([err('ECONNREFUSED')]))).toBe('connection refused');
    expect(describeNetworkError(err('EWEIRD', 'failed at https://u:p@h.example/x?token=s3cret now'))).toBe(
      'failed at https://h.example/x now (EWEIRD)',
    );
  });
});
