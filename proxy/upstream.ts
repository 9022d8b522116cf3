// Opening a connection to the upstream server, with TLS negotiated per libpq's sslmode.

import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamTarget } from './options.ts';
import { SSL_REQUEST } from './codec/write.ts';

export interface UpstreamConnection {
  socket: net.Socket;
  tls: boolean;
  seconds: number;
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
    const sock = net.connect({ host: t.host, port: t.port, noDelay: true });
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
      resolve({ socket, tls: isTls, seconds: seconds() });
    };
    const timer = setTimeout(() => fail(new UpstreamError(`timeout connecting to server ${t.host}:${t.port} after ${timeoutMs} ms`)), timeoutMs);
    sock.once('error', fail);
    sock.once('connect', () => {
      if (t.sslmode === 'disable' || t.sslmode === 'allow') return done(sock, false);
      sock.write(SSL_REQUEST);
      sock.once('data', (answer) => {
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
      });
    });
  });
}
