// Runs the official postgres:18 image through testcontainers, configured like the embedded server.
import type { TestTls } from './certs.ts';
import { hbaConf } from './roles.ts';
import { pgUrl, type RunningPg } from './running.ts';
import { asFlags, serverSettings, SUPERUSER, SUPERUSER_PASSWORD } from './server-settings.ts';

const IMAGE = 'postgres:18';

// PostgreSQL insists its key is owned by the server's user; files copied in belong to root,
// so the entrypoint hands the key over before the image's own entrypoint drops privileges.
const ENTRYPOINT = [
  'bash', '-c',
  'set -e; install -o postgres -g postgres -m 600 /helios/server.key.in /helios/server.key; exec docker-entrypoint.sh "$@"',
  'helios-entrypoint',
];

export async function startContainer(tls: TestTls): Promise<RunningPg> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const settings = serverSettings({
    certFile: '/helios/server.crt',
    keyFile: '/helios/server.key',
    caFile: '/helios/ca.crt',
    hbaFile: '/helios/pg_hba.conf',
  });
  const container = await new GenericContainer(IMAGE)
    .withEnvironment({ POSTGRES_USER: SUPERUSER, POSTGRES_PASSWORD: SUPERUSER_PASSWORD })
    .withCopyContentToContainer([
      { content: tls.server.cert, target: '/helios/server.crt', mode: 0o644 },
      { content: tls.server.key, target: '/helios/server.key.in', mode: 0o600 },
      { content: tls.ca.cert, target: '/helios/ca.crt', mode: 0o644 },
      // Clients arrive from Docker's bridge network, not loopback.
      { content: hbaConf(SUPERUSER, ['all']), target: '/helios/pg_hba.conf', mode: 0o644 },
    ])
    .withEntrypoint(ENTRYPOINT)
    .withCommand(['postgres', ...asFlags(settings)])
    .withExposedPorts(5432)
    // The image's first boot runs a temporary server for initdb scripts: the second "ready" is the real one.
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .withStartupTimeout(120_000)
    .start();

  const host = container.getHost();
  const port = container.getMappedPort(5432);
  return {
    kind: 'container',
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
    stop: async () => { await container.stop(); },
  };
}
