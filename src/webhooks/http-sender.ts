// Sends webhook POSTs over HTTP/1.1 with undici: one keep-alive connection pool per origin,
// reused by every delivery to it, and a small handler per request that reads the status and
// drains the response without building a stream (a webhook response body is only ever looked at
// for error messages). Network failures are results, not exceptions: a delivery loop decides what
// to do with them (retry schedule, circuit breaker).
//
// Protocol facts (Standard Webhooks spec): a delivery succeeds when the response status is 2xx;
// anything else, no response included, is a failure. Redirects (3xx) are failures too, not
// followed: the endpoint URL should be updated instead. Recommended request timeout: 15 to 30 s.
import type { LookupFunction } from 'node:net';
import { Client, Pool, type Dispatcher } from 'undici';
import { UserError } from '../errors.ts';
import type { SignatureHeaders } from './signing.ts';

export const USER_AGENT = 'HeliosDB-Webhooks/0.1';
/** How much of a non-2xx response body is kept, for error messages. */
export const RESPONSE_SNIPPET_BYTES = 1024;

export interface SendResult {
  /** A 2xx status came back. */
  ok: boolean;
  /** The response status, when a response came. */
  status?: number;
  /** The Retry-After response header, as sent (see parseRetryAfter in retry-schedule.ts). */
  retryAfter?: string;
  /** The start of a non-2xx response body (up to RESPONSE_SNIPPET_BYTES bytes, as UTF-8 text). */
  responseBody?: string;
  /** Why no response came: timeout, connection refused, TLS, DNS, reset... */
  error?: string;
  /** Milliseconds from send() to the outcome. */
  ms: number;
}

/** Where deliveries go: made once per endpoint by deliveryTarget(), then reused. */
export interface DeliveryTarget {
  /** scheme://host:port, the pool key. */
  readonly origin: string;
  /** Path and query string, as sent in the request line. */
  readonly path: string;
  /** The URL without credentials or query string, safe for logs and messages. */
  readonly display: string;
}

export interface ConnectionOptions {
  /**
   * CA certificates (PEM) to trust for https endpoints instead of Node's default ones, e.g. a
   * private CA.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /**
   * Replaces DNS resolution for connections (net.connect's `lookup`), e.g. to refuse private
   * addresses against SSRF, or to simulate DNS in tests.
   */
  lookup?: LookupFunction;
}

export interface HttpSenderOptions extends ConnectionOptions {
  /** Connections per origin. Default 16. */
  connections?: number;
  /**
   * How long to wait for the response headers once the request is on a connection, and then at
   * most between body chunks. Default 15 s. undici checks these timers about every half second, so
   * they may fire up to a second late.
   */
  timeoutMs?: number;
  /** How long to wait for a connection (TCP and TLS). Default: timeoutMs, at most 10 s. */
  connectTimeoutMs?: number;
  /**
   * Idle connections are closed after this long unless the server's Keep-Alive header says
   * otherwise. Default 4 s (undici's): a server that closes idle connections sooner without
   * saying so would fail the next POST sent on one, and POSTs are not retried by the pool.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Response body bytes read before giving up on it; a bigger body gets its connection closed
   * (the result still counts by status). Default 64 KiB.
   */
  maxResponseBytes?: number;
}

// --- URLs -----------------------------------------------------------------------------------

/** A URL as safe to show: no credentials, query string or fragment. Works on unparseable text too. */
export function displayUrl(url: string | URL): string {
  if (url instanceof URL) return `${url.protocol}//${url.host}${url.pathname}`;
  const text = url.length > 200 ? url.slice(0, 200) + '…' : url;
  return text.replace(/^([^:/?#]*:\/\/)[^/?#]*@/, '$1').replace(/[?#].*$/s, '');
}

// Any URL inside a free-text message, with its credentials and query string cut out.
function scrubUrls(message: string): string {
  return message.replace(/\b([a-z][a-z0-9+.-]*:\/\/)(?:[^\s/?#@]*@)?([^\s?#]*)[^\s]*/gi, '$1$2');
}

/**
 * Checks a webhook endpoint URL: http or https, a host, no credentials. Throws a UserError
 * saying what is wrong, without repeating credentials or query strings.
 */
export function validateEndpointUrl(url: string): URL {
  if (typeof url !== 'string' || url.trim() === '') throw new UserError('webhook URL is empty');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const hint = /^[a-z][a-z0-9+.-]*:\/\//i.test(url.trim()) ? '' : ' (it needs to start with http:// or https://)';
    throw new UserError(`webhook URL "${displayUrl(url)}" is not a valid URL${hint}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UserError(`webhook URL "${displayUrl(parsed)}" must use http or https, not ${parsed.protocol.slice(0, -1)}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new UserError(
      `webhook URL "${displayUrl(parsed)}" must not contain credentials (user:password@); ` +
        'receivers authenticate deliveries by their signature',
    );
  }
  if (parsed.hostname === '') throw new UserError(`webhook URL "${displayUrl(parsed)}" has no host`);
  return parsed;
}

/** Validates a URL and splits it into what a delivery needs. */
export function deliveryTarget(url: string | URL): DeliveryTarget {
  const parsed = typeof url === 'string' ? validateEndpointUrl(url) : validateEndpointUrl(url.href);
  // The fragment is never sent.
  return { origin: parsed.origin, path: parsed.pathname + parsed.search, display: displayUrl(parsed) };
}

// --- errors ---------------------------------------------------------------------------------

const TLS_CODE = /^ERR_TLS_|^ERR_SSL_|CERT|SELF_SIGNED|UNABLE_TO_(?:GET|VERIFY)|^EPROTO$/;

/** A short, secret-free description of why a request got no response. */
export function describeNetworkError(err: unknown, timeoutMs?: number): string {
  let e = err as (Error & { code?: string; errors?: unknown[] }) | undefined;
  // Happy eyeballs (several addresses tried) reports an AggregateError; the first attempt's error is representative.
  if (e && !e.code && Array.isArray(e.errors) && e.errors.length > 0) e = e.errors[0] as typeof e;
  const code = e?.code ?? '';
  const message = scrubUrls(String(e?.message ?? err));
  const within = timeoutMs === undefined ? '' : ` within ${timeoutMs} ms`;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return 'timeout: could not connect' + within;
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'timeout: no response' + within;
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout: response body stalled';
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
      return 'DNS: host not found';
    case 'EAI_AGAIN':
      return 'DNS: lookup failed temporarily';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return 'connection closed by the server';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_STATUS':
    case 'HPE_INVALID_VERSION':
      return 'the server did not answer in HTTP/1.1';
  }
  if (TLS_CODE.test(code)) return `TLS: ${message}`;
  if (code.startsWith('EAI_')) return `DNS: ${message}`;
  return code ? `${message} (${code})` : message;
}

/** One line for logs and the attempt record: "HTTP 503: <start of body>", or the network error. */
export function describeResult(result: SendResult): string {
  if (result.status === undefined) return result.error ?? 'no response';
  const text = result.responseBody?.replace(/\s+/g, ' ').trim();
  return text ? `HTTP ${result.status}: ${text}` : `HTTP ${result.status}`;
}

// --- sending --------------------------------------------------------------------------------

const DEFAULTS = {
  connections: 16,
  timeoutMs: 15_000,
  keepAliveTimeoutMs: 4_000,
  maxResponseBytes: 64 * 1024,
};

/** Thrown into undici to stop reading a response body past maxResponseBytes. */
class ResponseTooLarge extends Error {}

/**
 * Receives one response through undici's dispatch handler interface: keeps the status and
 * Retry-After, the first bytes of a non-2xx body, and resolves once, whatever happens.
 */
class DeliveryHandler implements Dispatcher.DispatchHandler {
  readonly #resolve: (result: SendResult) => void;
  readonly #startedAt: number;
  readonly #maxResponseBytes: number;
  readonly #timeoutMs: number;
  #status = 0;
  #retryAfter: string | undefined = undefined;
  #bytes = 0;
  #snippet: Buffer[] | null = null;
  #settled = false;

  constructor(resolve: (result: SendResult) => void, startedAt: number, maxResponseBytes: number, timeoutMs: number) {
    this.#resolve = resolve;
    this.#startedAt = startedAt;
    this.#maxResponseBytes = maxResponseBytes;
    this.#timeoutMs = timeoutMs;
  }

  onRequestStart(): void {}

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx informational responses (100 Continue...) are not the answer.
    if (statusCode < 200) return;
    this.#status = statusCode;
    if (statusCode >= 300) {
      const retryAfter = headers['retry-after'];
      this.#retryAfter = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
      this.#snippet = [];
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const before = this.#bytes;
    this.#bytes += chunk.length;
    if (this.#snippet !== null && before < RESPONSE_SNIPPET_BYTES) {
      // A copy: the chunk is a view of undici's read buffer, which is not ours to keep.
      this.#snippet.push(Buffer.from(chunk.subarray(0, RESPONSE_SNIPPET_BYTES - before)));
    }
    if (this.#bytes > this.#maxResponseBytes) controller.abort(new ResponseTooLarge());
  }

  onResponseEnd(): void {
    this.#settle(undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#settle(error);
  }

  /** Also called when dispatch throws (an invalid request). */
  fail(error: unknown): void {
    this.#settle(error);
  }

  #settle(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    const ms = performance.now() - this.#startedAt;
    const status = this.#status;
    if (status === 0) {
      this.#resolve({ ok: false, error: describeNetworkError(error, this.#timeoutMs), ms });
      return;
    }
    // A response was received: its status decides, even if reading its body then failed
    // (too large, stalled, reset): the receiver has answered.
    if (status < 300) {
      this.#resolve({ ok: true, status, ms });
      return;
    }
    const result: SendResult = { ok: false, status, ms };
    if (this.#retryAfter !== undefined) result.retryAfter = this.#retryAfter;
    if (this.#snippet !== null && this.#snippet.length > 0) result.responseBody = Buffer.concat(this.#snippet).toString('utf8');
    this.#resolve(result);
  }
}

const CLOSED: Omit<SendResult, 'ms'> = Object.freeze({ ok: false, error: 'sender closed' });

export class HttpSender {
  readonly #pools = new Map<string, Pool>();
  readonly #poolOptions: Pool.Options;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  #closed = false;

  constructor(options: HttpSenderOptions = {}) {
    const connections = options.connections ?? DEFAULTS.connections;
    const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
    const maxResponseBytes = options.maxResponseBytes ?? DEFAULTS.maxResponseBytes;
    if (!Number.isInteger(connections) || connections < 1) throw new RangeError(`connections must be a whole number >= 1, got ${connections}`);
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
    if (!(maxResponseBytes >= 0)) throw new RangeError(`maxResponseBytes must be >= 0, got ${maxResponseBytes}`);
    this.#timeoutMs = timeoutMs;
    this.#maxResponseBytes = maxResponseBytes;
    this.#poolOptions = {
      connections,
      // One request at a time per connection: a slow response must not hold up others behind it.
      pipelining: 1,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? DEFAULTS.keepAliveTimeoutMs,
      // A server's "Keep-Alive: timeout=N" is followed (less undici's 1 s margin) up to this.
      keepAliveMaxTimeout: Math.max(options.keepAliveTimeoutMs ?? DEFAULTS.keepAliveTimeoutMs, 60_000),
      connect: connectOptions(options, options.connectTimeoutMs ?? Math.min(timeoutMs, 10_000)),
    };
  }

  /**
   * POSTs `body` (JSON, one event or a batch, signed as is) to the target. Resolves with the
   * outcome; never rejects.
   */
  send(target: DeliveryTarget, body: string | Buffer, signature: SignatureHeaders): Promise<SendResult> {
    const startedAt = performance.now();
    if (this.#closed) return Promise.resolve({ ...CLOSED, ms: 0 });
    return new Promise<SendResult>((resolve) => {
      const handler = new DeliveryHandler(resolve, startedAt, this.#maxResponseBytes, this.#timeoutMs);
      try {
        this.#pool(target.origin).dispatch(
          {
            path: target.path,
            method: 'POST',
            // A flat name/value list: undici walks it as is, with no object key enumeration.
            headers: [
              'content-type', 'application/json',
              'user-agent', USER_AGENT,
              'webhook-id', signature['webhook-id'],
              'webhook-timestamp', signature['webhook-timestamp'],
              'webhook-signature', signature['webhook-signature'],
            ],
            body,
          },
          handler,
        );
      } catch (err) {
        handler.fail(err);
      }
    });
  }

  /** Closes every pool, letting requests in flight finish. Later sends fail with "sender closed". */
  async closeAll(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  #pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, this.#poolOptions);
      this.#pools.set(origin, pool);
    }
    return pool;
  }
}

function connectOptions(options: ConnectionOptions, timeout: number): Record<string, unknown> {
  const connect: Record<string, unknown> = { timeout };
  if (options.ca !== undefined) connect.ca = options.ca;
  if (options.lookup !== undefined) connect.lookup = options.lookup;
  return connect;
}

// --- reachability ---------------------------------------------------------------------------

/**
 * Checks that something answers HTTP at the URL, e.g. before a subscription is created: any
 * response, even 404 or 405, counts. Sends HEAD, which no receiver should act on. Throws a
 * UserError naming the problem (connection refused, DNS, TLS, timeout) otherwise.
 */
export async function probeEndpoint(url: string, timeoutMs: number, options: ConnectionOptions = {}): Promise<void> {
  const target = deliveryTarget(url);
  const client = new Client(target.origin, {
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: connectOptions(options, timeoutMs),
  });
  try {
    const response = await client.request({
      path: target.path,
      method: 'HEAD',
      headers: { 'user-agent': USER_AGENT },
      // Connect and headers are bounded separately above; this bounds them together.
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Any answer will do; what comes after it does not matter.
    response.body.dump().catch(() => {});
  } catch (err) {
    const e = err as { name?: string; code?: string };
    const reason = e.name === 'TimeoutError' || e.code === 'UND_ERR_ABORTED' ? `timeout: no response within ${timeoutMs} ms` : describeNetworkError(err, timeoutMs);
    throw new UserError(`webhook URL "${target.display}" is unreachable: ${reason}`);
  } finally {
    client.destroy().catch(() => {});
  }
}
