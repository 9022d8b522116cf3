// A tiny PostgreSQL frontend on a raw socket, for tests that must see protocol bytes no driver
// exposes: the one-byte answer to SSLRequest/GSSENCRequest, ReadyForQuery's transaction status.
// It speaks only what those tests need: startup with trust / cleartext / md5 / SCRAM-SHA-256
// (without channel binding), simple Query, Terminate.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import * as w from '../../proxy/codec/write.ts';

export interface RawMessage {
  type: string;
  body: Buffer;
}

export interface RawQueryResult {
  /** Text values of each DataRow; null for SQL NULL. */
  rows: (string | null)[][];
  commandTags: string[];
  /** Fields of the ErrorResponse, keyed by their one-letter code (C = SQLSTATE, M = message). */
  error?: Record<string, string>;
  notices: Record<string, string>[];
  /** ReadyForQuery's transaction status: I, T or E. */
  status: string;
  /** Type bytes of every message received, in order (ending with Z). */
  types: string[];
}

export interface StartupResult {
  /** ReadyForQuery's transaction status. */
  status: string;
  parameters: Map<string, string>;
  /** The Authentication request codes received, in order: 0 ok, 3 cleartext, 5 md5, 10 SASL, 11 SASLContinue, 12 SASLFinal. */
  authRequests: number[];
  /** The mechanisms AuthenticationSASL offered. */
  saslMechanisms: string[];
}

export class RawConnection {
  /** Received, not yet read: a list of chunks, joined only when a read needs more than the first. */
  private chunks: Buffer[] = [];
  private total = 0;
  private waiter: (() => void) | null = null;
  private ended: Error | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.total += chunk.length;
      this.wake();
    });
    socket.on('error', (err) => {
      this.ended = err;
      this.wake();
    });
    socket.on('close', () => {
      this.ended ??= new Error('connection closed');
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Waits until at least n bytes are buffered; returns them as one Buffer starting at the read position. */
  private async need(n: number): Promise<Buffer> {
    while (this.total < n) {
      if (this.ended) throw this.ended;
      await new Promise<void>((r) => (this.waiter = r));
    }
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks, this.total)];
    return this.chunks[0]!;
  }

  private consume(n: number): void {
    this.chunks[0] = this.chunks[0]!.subarray(n);
    if (this.chunks[0].length === 0) this.chunks.shift();
    this.total -= n;
  }

  /** Resolves once at least n bytes are buffered (not read). */
  async waitBuffered(n: number): Promise<void> {
    while (this.total < n) {
      if (this.ended) throw this.ended;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  /** One untyped byte (the answer to SSLRequest / GSSENCRequest). */
  async readByte(): Promise<string> {
    const b = (await this.need(1))[0]!;
    this.consume(1);
    return String.fromCharCode(b);
  }

  /** Bytes received and not yet read (0 right after a one-byte answer: nothing stray followed it). */
  get buffered(): number {
    return this.total;
  }

  /** The next message; with `expect`, fails at once (without waiting for its body) when its type is not one of those. */
  async readMessage(expect?: string): Promise<RawMessage> {
    const head = await this.need(5);
    const type = String.fromCharCode(head[0]!);
    if (expect !== undefined && !expect.includes(type)) {
      throw new Error(`unexpected message type ${JSON.stringify(type)} (length word ${head.readInt32BE(1)}); expected one of ${expect}`);
    }
    const len = head.readInt32BE(1);
    const all = await this.need(1 + len);
    const msg = { type: String.fromCharCode(all[0]!), body: Buffer.from(all.subarray(5, 1 + len)) };
    this.consume(1 + len);
    return msg;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  /** A simple Query message, sent without waiting for anything. */
  sendQuery(sql: string): void {
    this.write(w.query(sql));
  }

  /** An 8-byte request code packet: SSLRequest (80877103) or GSSENCRequest (80877104). */
  sendRequestCode(code: number): void {
    const b = Buffer.alloc(8);
    b.writeInt32BE(8, 0);
    b.writeInt32BE(code, 4);
    this.write(b);
  }

  /**
   * After the server answered 'S' to an SSLRequest: TLS handshake on the same socket, and a
   * connection that speaks over it. This one must not be used afterwards.
   */
  async startTls(opts: tls.ConnectionOptions): Promise<RawConnection> {
    if (this.total) throw new Error('unencrypted bytes buffered before the TLS handshake');
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    this.socket.removeAllListeners('error');
    const secure = tls.connect({ ...opts, socket: this.socket });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    return new RawConnection(secure);
  }

  static connect(host: string, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawConnection(s));
      });
    });
  }

  /** StartupMessage, authentication, then everything up to the first ReadyForQuery. */
  async startup(params: { user: string; database: string; password?: string; application_name?: string }): Promise<StartupResult> {
    const { password = '', ...rest } = params;
    const kv = Object.entries(rest).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}\0${v}\0`).join('');
    const body = Buffer.from(kv + '\0', 'utf8');
    const packet = Buffer.alloc(8 + body.length);
    packet.writeInt32BE(packet.length, 0);
    packet.writeInt32BE(3 << 16, 4);
    body.copy(packet, 8);
    this.write(packet);
    const parameters = new Map<string, string>();
    const authRequests: number[] = [];
    let saslMechanisms: string[] = [];
    let scram: { clientFirstBare: string; nonce: string; serverSignature?: Buffer } | null = null;
    for (;;) {
      const m = await this.readMessage();
      if (m.type === 'E') throw rawError(errorFields(m.body));
      if (m.type === 'S') {
        const [k, v] = m.body.toString('utf8').split('\0');
        parameters.set(k!, v!);
      }
      if (m.type === 'Z') return { status: String.fromCharCode(m.body[0]!), parameters, authRequests, saslMechanisms };
      if (m.type !== 'R') continue;
      const code = m.body.readInt32BE(0);
      authRequests.push(code);
      switch (code) {
        case 0:
          break;
        case 3:
          this.write(typed('p', Buffer.from(password + '\0', 'utf8')));
          break;
        case 5: {
          const salt = m.body.subarray(4, 8);
          const inner = md5hex(Buffer.from(password + params.user, 'utf8'));
          const outer = md5hex(Buffer.concat([Buffer.from(inner, 'utf8'), salt]));
          this.write(typed('p', Buffer.from(`md5${outer}\0`, 'utf8')));
          break;
        }
        case 10: {
          const mechs = m.body.subarray(4).toString('utf8').split('\0').filter(Boolean);
          saslMechanisms = mechs;
          if (!mechs.includes('SCRAM-SHA-256')) throw new Error(`no usable SASL mechanism in ${mechs.join(',')}`);
          const nonce = randomBytes(18).toString('base64');
          const clientFirstBare = `n=,r=${nonce}`;
          const first = Buffer.from(`n,,${clientFirstBare}`, 'utf8');
          const len = Buffer.alloc(4);
          len.writeInt32BE(first.length, 0);
          this.write(typed('p', Buffer.concat([Buffer.from('SCRAM-SHA-256\0', 'utf8'), len, first])));
          scram = { clientFirstBare, nonce };
          break;
        }
        case 11: {
          if (!scram) throw new Error('SASLContinue without SASL');
          const serverFirst = m.body.subarray(4).toString('utf8');
          const attrs = new Map(serverFirst.split(',').map((p) => [p[0]!, p.slice(2)]));
          const r = attrs.get('r')!;
          if (!r.startsWith(scram.nonce)) throw new Error('server nonce does not extend the client nonce');
          const salted = pbkdf2Sync(password.normalize('NFKC'), Buffer.from(attrs.get('s')!, 'base64'), Number(attrs.get('i')), 32, 'sha256');
          const clientKey = hmac(salted, 'Client Key');
          const storedKey = createHash('sha256').update(clientKey).digest();
          const finalWithoutProof = `c=biws,r=${r}`;
          const authMessage = `${scram.clientFirstBare},${serverFirst},${finalWithoutProof}`;
          const signature = hmac(storedKey, authMessage);
          const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
          scram.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
          this.write(typed('p', Buffer.from(`${finalWithoutProof},p=${proof.toString('base64')}`, 'utf8')));
          break;
        }
        case 12: {
          const v = m.body.subarray(4).toString('utf8');
          if (!scram?.serverSignature || v !== `v=${scram.serverSignature.toString('base64')}`) throw new Error('bad SCRAM server signature');
          break;
        }
        default:
          throw new Error(`unsupported authentication request ${code}`);
      }
    }
  }

  /** Sends a simple Query and reads until ReadyForQuery. */
  async query(sql: string): Promise<RawQueryResult> {
    this.sendQuery(sql);
    return this.readUntilReady();
  }

  // Extended protocol, one message at a time: the caller decides where the Syncs go.
  sendParse(name: string, sql: string): void {
    this.write(w.parse(name, sql));
  }

  /** Bind with text parameters and text results. */
  sendBind(portal: string, statement: string, params: readonly (string | null)[] = []): void {
    const parts = [cstr(portal), cstr(statement), w.int16(0), w.int16(params.length)];
    for (const p of params) {
      if (p === null) parts.push(w.int32(-1));
      else {
        const v = Buffer.from(p, 'utf8');
        parts.push(w.int32(v.length), v);
      }
    }
    parts.push(w.int16(0));
    this.write(typed('B', Buffer.concat(parts)));
  }

  sendDescribe(kind: 'S' | 'P', name: string): void {
    this.write(typed('D', Buffer.concat([Buffer.from(kind, 'latin1'), cstr(name)])));
  }

  sendExecute(portal: string): void {
    this.write(w.execute(portal));
  }

  sendSync(): void {
    this.write(w.SYNC);
  }

  /** Reads everything up to and including the next ReadyForQuery. */
  async readUntilReady(): Promise<RawQueryResult> {
    const out: RawQueryResult = { rows: [], commandTags: [], notices: [], status: '', types: [] };
    for (;;) {
      const m = await this.readMessage();
      out.types.push(m.type);
      switch (m.type) {
        case 'D': {
          const n = m.body.readInt16BE(0);
          const row: (string | null)[] = [];
          let off = 2;
          for (let i = 0; i < n; i++) {
            const len = m.body.readInt32BE(off);
            off += 4;
            if (len < 0) row.push(null);
            else {
              row.push(m.body.toString('utf8', off, off + len));
              off += len;
            }
          }
          out.rows.push(row);
          break;
        }
        case 'C':
          out.commandTags.push(m.body.toString('utf8', 0, m.body.length - 1));
          break;
        case 'E':
          out.error = errorFields(m.body);
          break;
        case 'N':
          out.notices.push(errorFields(m.body));
          break;
        case 'Z':
          out.status = String.fromCharCode(m.body[0]!);
          return out;
      }
    }
  }

  /** Terminate, then wait for the socket to close. */
  async terminate(): Promise<void> {
    if (this.socket.destroyed) return;
    const closed = new Promise<void>((r) => this.socket.once('close', () => r()));
    this.socket.end(typed('X', Buffer.alloc(0)));
    await closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;

function typed(type: string, body: Buffer): Buffer {
  return w.frame(type.charCodeAt(0), body);
}

function cstr(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf8');
}



function md5hex(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function errorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of body.toString('utf8').split('\0')) if (f.length > 1) out[f[0]!] = f.slice(1);
  return out;
}

function rawError(fields: Record<string, string>): Error & { code?: string } {
  return Object.assign(new Error(fields.M ?? 'server error'), { code: fields.C });
}
