// The HTTP endpoint: liveness, readiness and Prometheus metrics, as JSON or Prometheus text, the
// JSON API, and the built-in web dashboard at "/".
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ApiError, ApiResult, ApiStream, type ApiMethod, type ApiRoute } from './api/routes.ts';
import { dashboardAssets, type StaticAsset } from './dashboard/assets.ts';
import { UserError } from './errors.ts';
import type { Logger } from './log.ts';

export interface Readiness {
  ready: boolean;
  /** Why it is not ready. */
  reason?: string;
  /** One line per check, e.g. { proxy: 'ok', upstream: 'unreachable: ECONNREFUSED' }. */
  checks: Record<string, string>;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  registry: Registry;
  readiness(): Promise<Readiness>;
  /** JSON routes by path; a path ending in "/" also serves everything below it. */
  api?: Record<string, ApiRoute>;
  /** Static files by exact path; the built-in dashboard (/, /dashboard/*) unless given ({} for none). */
  assets?: Record<string, StaticAsset>;
  log?: Logger;
}

export interface HttpServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, contentType: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>) {
  send(res, status, JSON.stringify(body) + '\n', 'application/json', headers);
}

const MAX_BODY_BYTES = 64 * 1024;

async function readJsonBody(req: IncomingMessage, optional = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    if (optional) return undefined;
    throw new ApiError(400, 'request body must be a JSON object');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const routes: Record<string, (res: ServerResponse) => Promise<void> | void> = {
    '/healthz': (res) => json(res, 200, { status: 'ok' }),
    '/readyz': async (res) => {
      const r = await opts.readiness();
      if (r.ready) json(res, 200, { status: 'ready', checks: r.checks });
      else json(res, 503, { status: 'not ready', reason: r.reason ?? 'unknown', checks: r.checks });
    },
    '/metrics': async (res) => send(res, 200, await opts.registry.metrics(), opts.registry.contentType),
  };

  const api = opts.api ?? {};
  const prefixes = Object.keys(api).filter((p) => p.endsWith('/')).sort((a, b) => b.length - a.length);
  const apiRoute = (path: string): ApiRoute | undefined => api[path] ?? api[prefixes.find((p) => path.startsWith(p) && path.length > p.length) ?? ''];

  const assets = opts.assets ?? dashboardAssets();
  const serveAsset = (req: IncomingMessage, res: ServerResponse, a: StaticAsset) => {
    if (req.headers['if-none-match'] === a.headers.etag) {
      res.writeHead(304, { ...a.headers });
      return res.end();
    }
    res.writeHead(200, { 'content-type': a.type, 'content-length': String(a.body.length), ...a.headers });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const asset = Object.hasOwn(assets, path) ? assets[path] : undefined;
    if (asset) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      return serveAsset(req, res, asset);
    }
    const apiEntry = apiRoute(path);
    if (!routes[path] && apiEntry) {
      const handlers = typeof apiEntry === 'function' ? { GET: apiEntry } : apiEntry;
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
      const handler = handlers[method as ApiMethod];
      if (!handler) return json(res, 405, { error: 'method not allowed' }, { allow: Object.keys(handlers).join(', ') });
      try {
        const out = await handler(url, { method, json: () => readJsonBody(req), optionalJson: () => readJsonBody(req, true) });
        if (out instanceof ApiResult) json(res, out.status, out.body);
        else if (out instanceof ApiStream) {
          res.writeHead(200, { 'content-type': out.contentType, 'cache-control': 'no-store', ...out.headers });
          if (req.method === 'HEAD') return void res.end();
          try {
            await out.write(res);
            res.end();
          } catch (err) {
            // Headers are gone: a cut-off body is the only way left to say it failed.
            opts.log?.error('http stream failed', { path, error: err });
            res.destroy();
          }
        } else json(res, 200, out);
      } catch (err) {
        if (err instanceof ApiError) return json(res, err.status, { error: err.message });
        opts.log?.error('http handler failed', { path, error: err });
        if (!res.headersSent) json(res, 500, { error: 'internal error' });
      }
      return;
    }
    const route = routes[path];
    if (!route) return json(res, 404, { error: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    try {
      await route(res);
    } catch (err) {
      opts.log?.error('http handler failed', { path, error: err });
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new UserError(`cannot listen for HTTP on ${opts.host}:${opts.port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
    );
    server.listen(opts.port, opts.host, resolve);
  });
  const { address, port } = server.address() as AddressInfo;
  const hostPart = address.includes(':') ? `[${address}]` : address;
  return {
    host: address,
    port,
    url: `http://${hostPart}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections from scrapers would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}
