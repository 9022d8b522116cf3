// vitest globalSetup: one PostgreSQL for the whole run, shared by every test file via inject('testPg').
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { makeTestTls, type TestTls } from './certs.ts';
import { startContainer } from './container.ts';
import { dockerEngineAnswers } from './docker-probe.ts';
import { startEmbedded } from './embedded.ts';
import { useExternal } from './external.ts';
import { createRoles, TEST_ROLES } from './roles.ts';
import type { RunningPg } from './running.ts';
import type { PgKind, TestPg } from './types.ts';

// HELIOS_TEST_PG_KIND=embedded|container overrides the Docker probe, e.g. to skip a slow image pull.
async function chooseKind(): Promise<PgKind> {
  if (process.env.HELIOS_TEST_PG_URL) return 'external';
  const forced = process.env.HELIOS_TEST_PG_KIND;
  if (forced === 'embedded' || forced === 'container') return forced;
  return (await dockerEngineAnswers()) ? 'container' : 'embedded';
}

function start(kind: PgKind, tmpDir: string, tls: TestTls): Promise<RunningPg> {
  switch (kind) {
    case 'external': return useExternal(process.env.HELIOS_TEST_PG_URL!);
    case 'container': return startContainer(tls);
    case 'embedded': return startEmbedded(tmpDir, tls);
  }
}

/** Creates the auth roles; on a server we don't run, only when connected as a superuser. */
async function prepareRoles(server: RunningPg): Promise<boolean> {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    if (server.kind === 'external') {
      const { rows } = await client.query<{ rolsuper: boolean }>(
        'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
      );
      if (!rows[0]?.rolsuper) return false;
    }
    await createRoles(client);
    return true;
  } finally {
    await client.end();
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const tmpDir = await mkdtemp(join(tmpdir(), 'helios-test-'));
  let server: RunningPg | undefined;
  try {
    const tls = await makeTestTls(join(tmpDir, 'tls'));
    server = await start(await chooseKind(), tmpDir, tls);
    const rolesCreated = await prepareRoles(server);
    if (!rolesCreated) {
      console.warn('[test-pg] HELIOS_TEST_PG_URL is not a superuser: auth test roles were not created');
    }
    const { stop, ...conn } = server;
    const info: TestPg = {
      ...conn,
      caCertPath: tls.ca.certPath,
      caCert: tls.ca.cert,
      proxyCertPath: tls.proxy.certPath,
      proxyKeyPath: tls.proxy.keyPath,
      proxyCert: tls.proxy.cert,
      proxyKey: tls.proxy.key,
      rolesCreated,
      roles: TEST_ROLES,
      tmpDir,
    };
    project.provide('testPg', info);
  } catch (err) {
    await server?.stop().catch(() => {});
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }

  const running = server;
  return async () => {
    try {
      await running.stop();
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
  };
}
