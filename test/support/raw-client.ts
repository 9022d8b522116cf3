// A minimal protocol v3 client over a plain socket, for tests that need to see or send exact
// messages: startup 3.0 or 3.2 with any parameters, trust / cleartext / md5 / SCRAM-SHA-256
// authentication, and encoders for the frontend messages drivers never expose.
// https://www.postgresql.org/docs/current/protocol-message-formats.html

import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

/** One backend message: its type letter and the body after the length word. */
export interface Frame {
  type: string;
  body: Buffer;
}

export interface RawConnectOptions {
  host: string;
  port: number;
  user: string;
  password?: string;
  database?: string;
  /** Protocol minor version requested in the StartupMessage: 0 (3.0) or 2 (3.2). */
  minor?: number;
  /** Extra startup parameters, e.g. { replication: 'database', application_name: 'x', '_pq_.foo': 'bar' }. */
  params?: Record<string, string>;
  timeoutMs?: number;
}

/** What the server said during startup, up to the first ReadyForQuery. */
export interface StartupResult {
  /** BackendKeyData: pid and secret key (4 bytes in 3.0, longer in 3.2). */
  pid: number;
  key: Buffer;
  parameters: Map<string, string>;
  /** NegotiateProtocolVersion, when the server sent one. */
  negotiated: { minor: number; unrecognized: string[] } | null;
  /** Every frame from AuthenticationOk to ReadyForQuery, in order. */
  frames: Frame[];
}

/** An ErrorResponse turned into an exception, with its fields by code ('C' SQLSTATE, 'M' message, ...). */
export class ServerError extends Error {
  readonly code: string;
  constructor(readonly fields: Map<string, string>) {
    super(fields.get('M') ?? 'server error');
    this.code = fields.get('C') ?? '';
  }
}

const DEFAULT_TIMEOUT = 10_000;
/** Type letters of every backend message (protocol 3.2). */
const BACKEND_TYPES = 'R K 2 3 C d c G H W D I E V v n N A t S 1 s Z T'.split(' ');

// ---- encoders ------------------------------------------------------------------------

export function cstr(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf8');
}

export function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** A typed frontend message: type byte, int32 length including itself, body. */
export function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(body.length + 4), body]);
}

export function startupPacket(params: Record<string, string>, minor = 0): Buffer {
  const body = Buffer.concat([...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 8), int32((3 << 16) | minor), body]);
}

/** CancelRequest: length, code 80877102, pid, then the secret key (4 bytes in 3.0, up to 256 in 3.2). */
export function cancelRequestPacket(pid: number, key: Buffer): Buffer {
  return Buffer.concat([int32(12 + key.length), int32(80877102), int32(pid), key]);
}

/** A parameter value for Bind or FunctionCall: null is SQL NULL, strings are sent as UTF-8. */
export type Value = Buffer | string | null;

function values(vals: readonly Value[]): Buffer {
  return Buffer.concat([
    int16(vals.length),
    ...vals.flatMap((v) => {
      if (v === null) return [int32(-1)];
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      return [int32(b.length), b];
    }),
  ]);
}

function formats(codes: readonly number[]): Buffer {
  return Buffer.concat([int16(codes.length), ...codes.map(int16)]);
}

export const msg = {
  query: (sql: string) => message('Q', cstr(sql)),
  parse: (name: string, sql: string, paramTypes: readonly number[] = []) =>
    message('P', cstr(name), cstr(sql), int16(paramTypes.length), ...paramTypes.map((t) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(t);
      return b;
    })),
  bind: (portal: string, statement: string, params: readonly Value[] = [], paramFormats: readonly number[] = [], resultFormats: readonly number[] = []) =>
    message('B', cstr(portal), cstr(statement), formats(paramFormats), values(params), formats(resultFormats)),
  describe: (kind: 'S' | 'P', name: string) => message('D', Buffer.from(kind), cstr(name)),
  execute: (portal = '', maxRows = 0) => message('E', cstr(portal), int32(maxRows)),
  close: (kind: 'S' | 'P', name: string) => message('C', Buffer.from(kind), cstr(name)),
  sync: () => message('S'),
  flush: () => message('H'),
  /** FunctionCall: function OID, argument format codes, arguments, result format. */
  functionCall: (oid: number, args: readonly Value[], argFormats: readonly number[] = [], resultFormat = 0) =>
    message('F', int32(oid), formats(argFormats), values(args), int16(resultFormat)),
  copyData: (data: Buffer | string) => message('d', typeof data === 'string' ? Buffer.from(data, 'utf8') : data),
  copyDone: () => message('c'),
  copyFail: (reason: string) => message('f', cstr(reason)),
  terminate: () => message('X'),
};

// ---- decoders ------------------------------------------------------------------------

/** Fields of an ErrorResponse / NoticeResponse body by their one-byte code. */
export function fields(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < body.length && body[off] !== 0) {
    const z = body.indexOf(0, off + 1);
    out.set(String.fromCharCode(body[off]!), body.toString('utf8', off + 1, z));
    off = z + 1;
  }
  return out;
}

/** DataRow body → column values (null for SQL NULL), as raw bytes. */
export function dataRowValues(body: Buffer): (Buffer | null)[] {
  const n = body.readInt16BE(0);
  const out: (Buffer | null)[] = [];
  let off = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(off);
    off += 4;
    if (len < 0) out.push(null);
    else {
      out.push(body.subarray(off, off + len));
      off += len;
    }
  }
  return out;
}

/** DataRow body → text values. */
export function dataRowText(body: Buffer): (string | null)[] {
  return dataRowValues(body).map((v) => (v === null ? null : v.toString('utf8')));
}

/** CommandComplete body → its tag. */
export function commandTag(body: Buffer): string {
  return body.toString('utf8', 0, body.indexOf(0));
}

/** The letters of a frame sequence, e.g. "12TDCZ": handy for asserting message order. */
export function types(frames: readonly Frame[]): string {
  return frames.map((f) => f.type).join('');
}

// ---- SCRAM-SHA-256 (RFC 5802 / 7677), without channel binding --------------------------

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

class Scram {
  private readonly nonce = randomBytes(18).toString('base64');
  private readonly clientFirstBare = `n=,r=${this.nonce}`;
  private serverSignature: Buffer | null = null;

  constructor(private readonly password: string) {}

  /** gs2 header "n,," (no channel binding); the user name comes from the startup packet. */
  first(): string {
    return `n,,${this.clientFirstBare}`;
  }

  final(serverFirst: string): string {
    const attrs = new Map(serverFirst.split(',').map((kv) => [kv[0]!, kv.slice(2)] as [string, string]));
    const nonce = attrs.get('r')!;
    if (!nonce.startsWith(this.nonce)) throw new Error('SCRAM: server nonce does not extend the client nonce');
    const salted = pbkdf2Sync(this.password.normalize('NFKC'), Buffer.from(attrs.get('s')!, 'base64'), Number(attrs.get('i')), 32, 'sha256');
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  verify(serverFinal: string): void {
    if (!serverFinal.startsWith('v=') || Buffer.from(serverFinal.slice(2), 'base64').compare(this.serverSignature!) !== 0) {
      throw new Error('SCRAM: server signature does not verify');
    }
  }
}

// ---- the client ----------------------------------------------------------------------

export class RawClient {
  /** Received bytes not yet split into frames, kept as chunks so large frames are joined once. */
  private chunks: Buffer[] = [];
  private held = 0;
  /** Set when the stream stopped making sense: a type byte no server sends. */
  private corrupt: Error | null = null;
  private readonly queue: Frame[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  private socketError: Error | null = null;
  /** Bytes received so far, whole frames or not. */
  bytesReceived = 0;
  private bytesWaiter: { atLeast: number; resolve: () => void } | null = null;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      if (this.bytesWaiter && this.bytesReceived >= this.bytesWaiter.atLeast) {
        this.bytesWaiter.resolve();
        this.bytesWaiter = null;
      }
      this.chunks.push(chunk);
      this.held += chunk.length;
      this.split();
      this.wake();
    });
    socket.on('error', (err) => {
      this.socketError = err;
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      });
    });
  }

  private split(): void {
    while (this.corrupt === null && this.held >= 5) {
      let head = this.chunks[0]!;
      if (head.length < 5) head = this.join();
      const type = String.fromCharCode(head[0]!);
      const len = head.readInt32BE(1);
      if (!BACKEND_TYPES.includes(type) || len < 4) {
        this.corrupt = new Error(`stream out of sync: message type 0x${head[0]!.toString(16)}, length ${len}`);
        break;
      }
      if (this.held < 1 + len) break;
      if (head.length < 1 + len) head = this.join();
      this.queue.push({ type, body: Buffer.from(head.subarray(5, 1 + len)) });
      const rest = head.subarray(1 + len);
      this.chunks[0] = rest;
      this.held -= 1 + len;
      if (rest.length === 0) this.chunks.shift();
    }
  }

  private join(): Buffer {
    const all = Buffer.concat(this.chunks, this.held);
    this.chunks = [all];
    return all;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Opens a TCP connection without sending anything. */
  static open(host: string, port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawClient(s));
      });
    });
  }

  /** Connects, authenticates and reads up to the first ReadyForQuery. */
  static async connect(o: RawConnectOptions): Promise<{ client: RawClient; startup: StartupResult }> {
    const client = await RawClient.open(o.host, o.port);
    try {
      const startup = await client.startup(o);
      return { client, startup };
    } catch (err) {
      client.destroy();
      throw err;
    }
  }

  private async startup(o: RawConnectOptions): Promise<StartupResult> {
    const timeout = o.timeoutMs ?? DEFAULT_TIMEOUT;
    this.send(startupPacket({ user: o.user, database: o.database ?? o.user, ...o.params }, o.minor ?? 0));
    const password = o.password ?? '';
    let scram: Scram | null = null;
    const result: StartupResult = { pid: 0, key: Buffer.alloc(0), parameters: new Map(), negotiated: null, frames: [] };
    let authenticated = false;
    for (;;) {
      const f = await this.next(timeout);
      if (authenticated) result.frames.push(f);
      switch (f.type) {
        case 'R': {
          const code = f.body.readInt32BE(0);
          if (code === 0) authenticated = true;
          else if (code === 3) this.send(message('p', cstr(password)));
          else if (code === 5) {
            // md5(md5(password || user) || salt), hex, prefixed "md5".
            const inner = createHash('md5').update(password + o.user).digest('hex');
            const outer = createHash('md5').update(Buffer.concat([Buffer.from(inner), f.body.subarray(4, 8)])).digest('hex');
            this.send(message('p', cstr(`md5${outer}`)));
          } else if (code === 10) {
            scram = new Scram(password);
            const first = Buffer.from(scram.first());
            this.send(message('p', cstr('SCRAM-SHA-256'), int32(first.length), first));
          } else if (code === 11) this.send(message('p', Buffer.from(scram!.final(f.body.toString('utf8', 4)))));
          else if (code === 12) scram!.verify(f.body.toString('utf8', 4));
          else throw new Error(`unsupported authentication request ${code}`);
          break;
        }
        case 'v': {
          const n = f.body.readInt32BE(4);
          const unrecognized: string[] = [];
          let off = 8;
          for (let i = 0; i < n; i++) {
            const z = f.body.indexOf(0, off);
            unrecognized.push(f.body.toString('utf8', off, z));
            off = z + 1;
          }
          result.negotiated = { minor: f.body.readInt32BE(0) & 0xffff, unrecognized };
          break;
        }
        case 'K':
          result.pid = f.body.readInt32BE(0);
          result.key = Buffer.from(f.body.subarray(4));
          break;
        case 'S': {
          const z = f.body.indexOf(0);
          result.parameters.set(f.body.toString('utf8', 0, z), f.body.toString('utf8', z + 1, f.body.indexOf(0, z + 1)));
          break;
        }
        case 'E':
          throw new ServerError(fields(f.body));
        case 'Z':
          return result;
      }
    }
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
  }

  /** The next backend message; rejects on timeout or when the connection closes first. */
  async next(timeoutMs = DEFAULT_TIMEOUT): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.queue.shift();
      if (f !== undefined) return f;
      if (this.corrupt) throw this.corrupt;
      if (this.ended) throw new Error(`connection closed while waiting for a message${this.socketError ? `: ${this.socketError.message}` : ''}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Messages up to and including the first one of type `type`. */
  async readUntil(type: string, timeoutMs = DEFAULT_TIMEOUT): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    const out: Frame[] = [];
    for (;;) {
      const f = await this.next(Math.max(1, deadline - Date.now()));
      out.push(f);
      if (f.type === type) return out;
    }
  }

  /** Messages up to and including the next ReadyForQuery. */
  readyForQuery(timeoutMs = DEFAULT_TIMEOUT): Promise<Frame[]> {
    return this.readUntil('Z', timeoutMs);
  }

  /**
   * Stops reading from the socket once at least `atLeast` bytes in all have arrived (possibly
   * in the middle of a message), so the sender's buffers fill up. `resume()` reads on.
   */
  pauseAfter(atLeast: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.socket.pause();
        resolve();
      };
      if (this.bytesReceived >= atLeast) done();
      else this.bytesWaiter = { atLeast, resolve: done };
    });
  }

  resume(): void {
    this.socket.resume();
  }

  /** True when no message has arrived that was not read yet. */
  get drained(): boolean {
    return this.queue.length === 0;
  }

  /** Simple Query; returns its messages through ReadyForQuery. */
  async simpleQuery(sql: string, timeoutMs = DEFAULT_TIMEOUT): Promise<Frame[]> {
    this.send(msg.query(sql));
    return this.readyForQuery(timeoutMs);
  }

  /** Simple Query expecting success: the rows of every result set, as text, in order. */
  async rows(sql: string): Promise<(string | null)[][]> {
    const frames = await this.simpleQuery(sql);
    const err = frames.find((f) => f.type === 'E');
    if (err) throw new ServerError(fields(err.body));
    return frames.filter((f) => f.type === 'D').map((f) => dataRowText(f.body));
  }

  /** Sends Terminate and waits for the socket to close. */
  async terminate(): Promise<void> {
    if (!this.ended) this.send(msg.terminate());
    this.socket.end();
    await this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface CancelOptions {
  /** Send the CancelRequest inside TLS, as libpq 17+ does when the session used TLS: verify with this CA. */
  tls?: { ca: string; servername?: string };
}

/** Sends a CancelRequest on a fresh connection and waits until the other side closes it. */
export async function sendCancel(host: string, port: number, pid: number, key: Buffer, opts: CancelOptions = {}): Promise<void> {
  const packet = cancelRequestPacket(pid, key);
  const plain = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    plain.once('error', reject);
    plain.once('connect', () => resolve());
  });
  let s: net.Socket = plain;
  if (opts.tls) {
    // SSLRequest: length 8, code 80877103; the server answers one byte, 'S' to go on in TLS.
    plain.write(Buffer.concat([int32(8), int32(80877103)]));
    const answer = await new Promise<Buffer>((resolve, reject) => {
      plain.once('data', resolve);
      plain.once('close', () => reject(new Error('closed during SSL negotiation')));
    });
    if (answer.toString() !== 'S') throw new Error(`SSLRequest answered ${JSON.stringify(answer.toString())}`);
    const secure = tls.connect({ socket: plain, ca: opts.tls.ca, servername: opts.tls.servername ?? 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    s = secure;
  }
  const closed = new Promise<void>((resolve) => {
    s.on('error', () => {});
    s.on('data', () => {});
    s.once('close', () => resolve());
  });
  s.write(packet);
  await closed;
}
