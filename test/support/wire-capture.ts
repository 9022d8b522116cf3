// Raw protocol access for robustness tests: untyped startup-phase sockets, and "hijacked"
// driver connections (node-postgres authenticates, then the test owns the socket and sees
// every byte the proxy sends back).
import net from 'node:net';
import pg from 'pg';

export interface BackendFrame {
  type: string;
  body: Buffer;
}

/** Splits backend frames; a leading lone 'N'/'S' (an SSLRequest answer) is reported as type 'ssl:N'/'ssl:S'. */
export function parseBackendFrames(data: Buffer, sslAnswerFirst = false): { frames: BackendFrame[]; rest: Buffer } {
  const frames: BackendFrame[] = [];
  let off = 0;
  if (sslAnswerFirst && data.length > 0 && (data[0] === 0x4e || data[0] === 0x53)) {
    frames.push({ type: `ssl:${String.fromCharCode(data[0]!)}`, body: Buffer.alloc(0) });
    off = 1;
  }
  while (data.length - off >= 5) {
    const len = data.readInt32BE(off + 1);
    if (len < 4 || data.length - off < 1 + len) break;
    frames.push({ type: String.fromCharCode(data[off]!), body: data.subarray(off + 5, off + 1 + len) });
    off += 1 + len;
  }
  return { frames, rest: data.subarray(off) };
}

export interface ErrorFields {
  severity: string;
  code: string;
  message: string;
  [field: string]: string;
}

/** Fields of an ErrorResponse/NoticeResponse body: S severity, C code, M message, ... */
export function errorFields(body: Buffer): ErrorFields {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < body.length && body[off] !== 0) {
    const key = String.fromCharCode(body[off]!);
    const end = body.indexOf(0, off + 1);
    if (end < 0) break;
    out[key] = body.toString('utf8', off + 1, end);
    off = end + 1;
  }
  return { ...out, severity: out.S ?? '', code: out.C ?? '', message: out.M ?? '' };
}

export function errorsIn(data: Buffer, sslAnswerFirst = false): ErrorFields[] {
  return parseBackendFrames(data, sslAnswerFirst).frames.filter((f) => f.type === 'E').map((f) => errorFields(f.body));
}

/** Resolves with `p`, or rejects after `ms` naming `what` (a bound against hanging, not a timing check). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a truthy value; bounded by `tries`. */
export async function waitUntil<T>(check: () => Promise<T> | T, what: string, tries = 200, intervalMs = 50): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what}: condition not met after ${tries} polls (last: ${JSON.stringify(last)})`);
}

export interface RawSocket {
  readonly socket: net.Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves with everything received once the peer closed the connection. */
  readonly closed: Promise<Buffer>;
  /** True once 'close' fired. */
  isClosed(): boolean;
  destroy(): void;
}

function capture(socket: net.Socket): RawSocket {
  const chunks: Buffer[] = [];
  let isClosed = false;
  socket.on('data', (b: Buffer) => chunks.push(b));
  socket.on('error', () => {});
  const closed = new Promise<Buffer>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve(Buffer.concat(chunks));
    }),
  );
  return {
    socket,
    received: () => Buffer.concat(chunks),
    closed,
    isClosed: () => isClosed,
    destroy: () => socket.destroy(),
  };
}

/** A plain TCP connection to the proxy, nothing sent yet. */
export async function rawConnect(port: number, host = '127.0.0.1'): Promise<RawSocket> {
  const socket = net.connect({ host, port, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return capture(socket);
}

export interface HijackedSession extends RawSocket {
  /** The server backend behind this session (pg_backend_pid() through the proxy). */
  readonly backendPid: number;
  write(buf: Buffer): void;
  /** Waits until a ReadyForQuery arrived after byte offset `from` of received(). */
  readyAfter(from: number): Promise<void>;
}

/** Connects with node-postgres (which authenticates), then takes the socket over. */
export async function hijackedSession(config: pg.ClientConfig): Promise<HijackedSession> {
  const client = new pg.Client(config);
  await client.connect();
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  client.on('error', () => {});
  const socket = (client as unknown as { connection: { stream: net.Socket } }).connection.stream;
  const theirs = socket.listeners('data');
  const raw = capture(socket); // adds our listener first: no chunk can fall between the two
  for (const l of theirs) socket.removeListener('data', l as (...a: unknown[]) => void);
  return {
    ...raw,
    backendPid: rows[0]!.pid,
    write: (buf) => void socket.write(buf),
    readyAfter: (from) =>
      waitUntil(() => parseBackendFrames(raw.received().subarray(from)).frames.some((f) => f.type === 'Z') || raw.isClosed(), 'ReadyForQuery', 400).then(
        () => undefined,
      ),
  };
}

/** A frontend frame: type byte, int32 length (body + 4), body. */
export function feFrame(type: string | number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const out = Buffer.alloc(5 + b.length);
  out[0] = typeof type === 'string' ? type.charCodeAt(0) : type;
  out.writeInt32BE(4 + b.length, 1);
  b.copy(out, 5);
  return out;
}

/** A simple-protocol Query frame. */
export function queryFrame(sql: string): Buffer {
  return feFrame('Q', Buffer.concat([Buffer.from(sql, 'utf8'), Buffer.from([0])]));
}

/** An untyped StartupMessage for protocol 3.0. */
export function startupPacket(params: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(params)) parts.push(Buffer.from(`${k}\0${v}\0`, 'utf8'));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(8 + body.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(196608, 4);
  body.copy(out, 8);
  return out;
}
