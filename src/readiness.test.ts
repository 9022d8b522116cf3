import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReadiness, probeTcp } from './readiness.ts';

let server: Server;
let openPort: number;
let closedPort: number;

function listen(): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer((socket) => socket.destroy());
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

beforeAll(async () => {
  server = await listen();
  openPort = (server.address() as { port: number }).port;
  const closed = await listen();
  closedPort = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
});
afterAll(() => new Promise((r) => server.close(r)));

describe('readiness', () => {
  it('probeTcp tells an open port from a closed one', async () => {
    expect(await probeTcp('127.0.0.1', openPort)).toBe('ok');
    expect(await probeTcp('127.0.0.1', closedPort)).toBe('unreachable: ECONNREFUSED');
  });

  it('is ready only when the proxy runs and the upstream answers; the control schema is informational', async () => {
    let proxy = 'ok';
    let port = openPort;
    const ready = createReadiness({ proxy: () => proxy, upstream: () => ({ host: '127.0.0.1', port }), controlSchema: () => 'unavailable: no password' });
    expect(await ready()).toEqual({ ready: true, checks: { proxy: 'ok', upstream: 'ok', controlSchema: 'unavailable: no password' } });

    port = closedPort;
    expect(await ready()).toMatchObject({ ready: false, reason: 'upstream unreachable: ECONNREFUSED' });

    proxy = 'draining';
    expect((await ready()).reason).toBe('proxy draining; upstream unreachable: ECONNREFUSED');
  });
});
