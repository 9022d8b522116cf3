// Opening a connection to the upstream server, with TLS negotiated per libpq's sslmode.

import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamTarget } from './options.ts';
import { SSL_REQUEST } from './codec/write.ts';

/**
 * Receives the server's bytes. Over plain TCP a chunk is a view of a read buffer that the next
 * read overwrites: the sink returns true when something still refers to it (a write the socket
 * has not finished, a partial frame held back), and the next read then gets a fresh buffer.
 */
export type ServerSink = (chunk: Buffer) => boolean;

export interface UpstreamConnection {
  socket: net.Socket;
  tls: boolean;
  seconds: number;
  /** Starts delivering the server's bytes to `sink`; bytes that arrived before are delivered first. */
  read(sink: ServerSink): void;
}

/**
 * Read buffer sizes: small while a connection only exchanges short messages (an idle session
 * keeps little), Node's own stream read size once a read fills the buffer.
 */
const FIRST_READ_BYTES = 16 * 1024;
const BULK_READ_BYTES = 64 * 1024;

/**
 * Reads a plain socket into one reused buffer (net's `onread`), which skips the Readable
 * stream and a fresh allocation on every read: the hot path of the proxy's server side.
 */
class ReusedReadBuffer {
  private buf: Buffer | null = null;
  private retained = false;
  private full = false;
  sink: ServerSink | null = null;
  /** Copies of what arrived before there was a sink. */
  private early: Buffer[] | null = null;

  /** Called by net before every read. */
  readonly next = (): Buffer => {
    if (this.buf === null || this.retained || (this.full && this.buf.length < BULK_READ_BYTES)) {
      this.buf = Buffer.allocUnsafe(this.full ? BULK_READ_BYTES : FIRST_READ_BYTES);
      this.retained = false;
    }
    return this.buf;
  };

  /** Returns true to keep reading: backpressure goes through socket.pause(), as for any socket. */
  readonly onRead = (n: number, buf: Uint8Array): boolean => {
    const chunk = (buf as Buffer).subarray(0, n);
    if (n === buf.length) this.full = true;
    if (this.sink === null) (this.early ??= []).push(Buffer.from(chunk));
    else this.retained = this.sink(chunk);
    return true;
  };

  attach(sink: ServerSink): void {
    this.sink = sink;
    const early = this.early;
    this.early = null;
    if (early !== null) for (const b of early) sink(b);
  }
}

export class UpstreamError extends Error {
  constructor(message: string, readonly sqlstate = '08001') {
    super(message);
  }
}

/**
 * TCP connect, then SSLRequest unless sslmode is disable/allow. The server answers one byte:
 * 'S' to start the TLS handshake, 'N' to continue in plain text.
 */
export function connectUpstream(t: UpstreamTarget, timeoutMs: number): Promise<UpstreamConnection> {
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  return new Promise((resolve, reject) => {
    const reads = new ReusedReadBuffer();
    const sock = net.connect({ host: t.host, port: t.port, noDelay: true, onread: { buffer: reads.next, callback: reads.onRead } });
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      reject(err instanceof UpstreamError ? err : new UpstreamError(`could not connect to server ${t.host}:${t.port}: ${err.message}`));
    };
    const done = (socket: net.Socket, isTls: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('error', fail);
      sock.removeListener('error', fail);
      // A TLS socket takes over the TCP socket's reads and hands out fresh buffers.
      const read = isTls ? (sink: ServerSink) => void socket.on('data', sink) : (sink: ServerSink) => reads.attach(sink);
      resolve({ socket, tls: isTls, seconds: seconds(), read });
    };
    const timer = setTimeout(() => fail(new UpstreamError(`timeout connecting to server ${t.host}:${t.port} after ${timeoutMs} ms`)), timeoutMs);
    sock.once('error', fail);
    sock.once('connect', () => {
      if (t.sslmode === 'disable' || t.sslmode === 'allow') return done(sock, false);
      sock.write(SSL_REQUEST);
      reads.attach((answer) => {
        reads.sink = null;
        onAnswer(answer);
        return false;
      });
    });
    const onAnswer = (answer: Buffer): void => {
      if (answer.length !== 1) return fail(new UpstreamError('received invalid response to SSL negotiation', '08P01'));
      if (answer[0] === 0x4e /* N */) {
        if (t.sslmode === 'prefer') return done(sock, false);
        return fail(new UpstreamError('server does not support SSL, but SSL was required'));
      }
      if (answer[0] !== 0x53 /* S */) return fail(new UpstreamError('received invalid response to SSL negotiation', '08P01'));
      const verify = t.sslmode === 'verify-ca' || t.sslmode === 'verify-full';
      const secure = tls.connect({
        socket: sock,
        // With a socket given, host is used only for the identity check (IPs match IP SANs).
        host: t.servername ?? t.host,
        servername: net.isIP(t.servername ?? t.host) ? undefined : (t.servername ?? t.host),
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        rejectUnauthorized: verify,
        // verify-ca checks the chain only; verify-full also the host name.
        checkServerIdentity: t.sslmode === 'verify-full' ? tls.checkServerIdentity : () => undefined,
      });
      secure.once('error', (e) => fail(new UpstreamError(`SSL error with server ${t.host}:${t.port}: ${e.message}`)));
      secure.once('secureConnect', () => {
        secure.removeAllListeners('error');
        secure.setNoDelay(true);
        done(secure, true);
      });
    };
  });
}
