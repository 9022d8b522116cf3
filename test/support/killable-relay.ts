// A tiny TCP relay for tests: listens on a loopback port and pipes every connection to a target.
// `killAll()` destroys every relayed pair at once (an upstream that vanishes mid-query) while
// the listener stays up, so new connections through the relay work again right after.
import net from 'node:net';

export interface KillableRelay {
  readonly host: string;
  readonly port: number;
  /** Relayed pairs currently open. */
  readonly active: number;
  /** Pairs relayed since start. */
  readonly accepted: number;
  /** Destroys both sockets of every open pair (RST-like: no FIN handshake, no pending data). */
  killAll(): number;
  close(): Promise<void>;
}

export async function startKillableRelay(target: { host: string; port: number }): Promise<KillableRelay> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let accepted = 0;
  const server = net.createServer((inbound) => {
    accepted++;
    inbound.pause();
    const outbound = net.connect({ host: target.host, port: target.port });
    const pair: [net.Socket, net.Socket] = [inbound, outbound];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', drop);
    outbound.on('error', drop);
    inbound.on('close', drop);
    outbound.on('close', drop);
    outbound.once('connect', () => {
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      inbound.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;
  const killAll = () => {
    const n = pairs.size;
    for (const [a, b] of [...pairs]) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
    return n;
  };
  return {
    host: '127.0.0.1',
    port,
    get active() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    killAll,
    close: () =>
      new Promise<void>((resolve) => {
        killAll();
        server.close(() => resolve());
      }),
  };
}
