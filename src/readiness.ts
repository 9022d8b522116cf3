// Decides /readyz: the proxy must be listening and the upstream must accept TCP connections.
import { connect } from 'node:net';
import type { Readiness } from './http.ts';

/** Resolves 'ok' when a TCP connection to host:port opens within timeoutMs, else a short reason. */
export function probeTcp(host: string, port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: string) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(`unreachable: no answer within ${timeoutMs} ms`));
    socket.once('connect', () => done('ok'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(`unreachable: ${err.code ?? err.message}`));
  });
}

export interface ReadinessSources {
  /** 'ok', or why the proxy does not take connections ('starting', 'draining'). */
  proxy(): string;
  upstream(): { host: string; port: number };
  /** Control-schema status; reported, but the proxy works without it, so it does not gate readiness. */
  controlSchema(): string;
}

export function createReadiness(sources: ReadinessSources): () => Promise<Readiness> {
  return async () => {
    const proxy = sources.proxy();
    const { host, port } = sources.upstream();
    const upstream = await probeTcp(host, port);
    const failed = Object.entries({ proxy, upstream }).filter(([, v]) => v !== 'ok');
    const checks = { proxy, upstream, controlSchema: sources.controlSchema() };
    if (!failed.length) return { ready: true, checks };
    return { ready: false, reason: failed.map(([k, v]) => `${k} ${v}`).join('; '), checks };
  };
}
