// The listening side: accepts connections, negotiates TLS, routes CancelRequests, and hands
// each authenticated-to-be client to a Session.

import net from 'node:net';
import tls from 'node:tls';
import type { ClientView, PluginContext, ProxyCounters, ProxyView, ServerView } from '../plugins/contract.ts';
import { CancelKeys } from './cancel.ts';
import { MAX_STARTUP_PACKET } from './codec/codes.ts';
import { ProtocolError, readStartupPacket } from './codec/read.ts';
import { SSL_ACCEPT, SSL_REFUSE, errorResponse } from './codec/write.ts';
import { HookHost } from './hooks.ts';
import type { ProxyHandle, ProxyOptions } from './options.ts';
import { Session, type SessionHost } from './session.ts';
import { connectUpstream, type UpstreamConnection } from './upstream.ts';

export async function startProxy(opts: ProxyOptions): Promise<ProxyHandle> {
  const log = opts.log ?? (() => {});
  const counters: ProxyCounters = {
    clientsAccepted: 0,
    clientsActive: 0,
    serversActive: 0,
    upstreamConnectErrors: 0,
    protocolErrors: 0,
    bytesFromClients: 0,
    bytesFromServers: 0,
    queries: 0,
    denied: 0,
    startedAt: Date.now(),
  };
  const sessions = new Set<Session>();
  const view: ProxyView = {
    clients: () => [...sessions].map(clientView),
    servers: () => [...sessions].filter((s) => s.serverPid !== 0).map((s) => serverView(s, host.options)),
    stats: () => counters,
  };
  const ctx: PluginContext = { proxy: view, log };
  const host: SessionHost = {
    options: opts,
    hooks: await HookHost.create(opts.plugins, ctx),
    cancelKeys: new CancelKeys(),
    counters,
    log,
    closed(s) {
      if (sessions.delete(s)) counters.clientsActive--;
    },
  };
  let secureContext = opts.tls ? tls.createSecureContext({ cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca }) : null;
  let nextId = 1;
  let accepting = true;

  const server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) => {
    counters.clientsAccepted++;
    if (!accepting) {
      socket.end(errorResponse({ severity: 'FATAL', code: '57P03', message: 'the HeliosDB proxy is shutting down' }));
      return;
    }
    negotiate(socket, false, dialUpstream());
  });

  /**
   * The upstream connection is dialed at accept, in parallel with the client's SSL negotiation
   * and startup packet, as a raw TCP pipe would; it is dropped if no session comes of it.
   */
  function dialUpstream(): Promise<UpstreamConnection> {
    const p = connectUpstream(host.options.upstream, host.options.connectTimeoutMs ?? 10_000);
    p.catch(() => {});
    return p;
  }

  function discard(dial: Promise<UpstreamConnection>): void {
    dial.then((c) => c.socket.destroy(), () => {});
  }
  server.on('error', (err) => log('error', 'listener error', { error: err.message }));

  /** Reads untyped startup-phase packets until a StartupMessage or CancelRequest arrives. */
  function negotiate(socket: net.Socket, isTls: boolean, dial: Promise<UpstreamConnection>): void {
    let buf: Buffer = Buffer.alloc(0);
    const address = `${socket.remoteAddress?.includes(':') ? `[${socket.remoteAddress}]` : socket.remoteAddress}:${socket.remotePort}`;
    let handedOver = false;
    const fail = (code: string, message: string) => {
      clearTimeout(timer);
      counters.protocolErrors++;
      socket.removeListener('data', onData);
      socket.end(errorResponse({ severity: 'FATAL', code, message }));
    };
    const timer = setTimeout(() => fail('08P01', 'timeout waiting for startup packet'), opts.connectTimeoutMs ?? 10_000);
    timer.unref();
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (buf.length < 4) return;
      const len = buf.readInt32BE(0);
      if (len < 8 || len > MAX_STARTUP_PACKET) return fail('08P01', 'invalid length of startup packet');
      if (buf.length < len) return;
      const packetBuf = buf.subarray(0, len);
      const rest = buf.length > len ? buf.subarray(len) : null;
      let packet;
      try {
        packet = readStartupPacket(packetBuf);
      } catch (err) {
        return fail(err instanceof ProtocolError && err.message.startsWith('unsupported') ? '0A000' : '08P01', (err as Error).message);
      }
      switch (packet.kind) {
        case 'ssl':
        case 'gssenc': {
          // Bytes after an SSLRequest that arrive before our answer would be read as if they
          // were encrypted (CVE-2021-23214): refuse them.
          if (rest) return fail('08P01', 'received unencrypted data after SSL request');
          buf = Buffer.alloc(0);
          if (packet.kind === 'ssl' && secureContext && !isTls) {
            clearTimeout(timer);
            socket.removeListener('data', onData);
            socket.write(SSL_ACCEPT);
            handedOver = true;
            return upgrade(socket, dial);
          }
          socket.write(SSL_REFUSE);
          return;
        }
        case 'cancel':
          clearTimeout(timer);
          socket.removeListener('data', onData);
          host.cancelKeys.cancel(packet.pid, packet.key);
          socket.end();
          return;
        case 'startup': {
          clearTimeout(timer);
          socket.removeListener('data', onData);
          socket.pause();
          if (!accepting) return fail('57P03', 'the HeliosDB proxy is shutting down');
          const session = new Session(host, socket, nextId++, packet.params, packet.minor, address, isTls);
          sessions.add(session);
          counters.clientsActive++;
          handedOver = true;
          session.start(packetBuf, rest, dial).catch((err: unknown) => {
            log('error', 'session start failed', { error: err instanceof Error ? err.message : String(err) });
            session.close();
          });
        }
      }
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      clearTimeout(timer);
      if (!handedOver) discard(dial);
    });
  }

  function upgrade(socket: net.Socket, dial: Promise<UpstreamConnection>): void {
    // The client sends nothing between our 'S' and its ClientHello, so no bytes are lost here.
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: secureContext! });
    secure.once('secure', () => negotiate(secure, true, dial));
    secure.on('error', (err) => {
      log('debug', 'client TLS handshake failed', { error: err.message });
      secure.destroy();
      discard(dial);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listenPort, opts.listenHost, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;

  const closeAll = () => {
    for (const s of sessions) s.close(errorResponse({ severity: 'FATAL', code: '57P01', message: 'terminating connection because the HeliosDB proxy is shutting down' }));
  };

  return {
    host: addr.address,
    port: addr.port,
    view,
    async drain(timeoutMs = host.options.drainTimeoutMs ?? 30_000) {
      accepting = false;
      server.close();
      for (const s of sessions) s.drain();
      const deadline = Date.now() + timeoutMs;
      while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      closeAll();
      await host.hooks.close();
    },
    async close() {
      accepting = false;
      server.close();
      closeAll();
      await host.hooks.close();
    },
    reload(next) {
      if (next.tls !== undefined) secureContext = next.tls ? tls.createSecureContext({ cert: next.tls.cert, key: next.tls.key, ca: next.tls.ca }) : null;
      const { plugins, ...rest } = next;
      host.options = { ...host.options, ...rest };
      if (plugins) {
        // New sessions get the new plugins; running ones finish with what they started with.
        // The previous plugins are not closed: sessions still running keep using them.
        HookHost.create(plugins, ctx).then(
          (h) => {
            host.hooks = h;
            host.options = { ...host.options, plugins };
          },
          (err: Error) => log('error', 'plugin reload failed; keeping the previous plugins', { error: err.message }),
        );
      }
    },
  };
}

function clientView(s: Session): ClientView {
  return { session: s.info, state: s.viewState, transactionStatus: s.txStatus, queries: s.queries, bytesIn: s.bytesIn, bytesOut: s.bytesOut };
}

function serverView(s: Session, o: ProxyOptions): ServerView {
  return {
    sessionId: s.info.id,
    address: `${o.upstream.host}:${o.upstream.port}`,
    backendPid: s.serverPid,
    tls: s.upstreamTls,
    connectSeconds: s.connectSeconds,
    protocolVersion: s.protocolVersion,
  };
}
