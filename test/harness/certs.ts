// Makes a throwaway CA and two leaf certificates (server, proxy) with the openssl CLI.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPair {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

export interface TestTls {
  ca: KeyPair;
  server: KeyPair;
  proxy: KeyPair;
}

const CA_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = HeliosDB test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`;

// Both leaves serve loopback under every name a test may dial; clientAuth lets them double as client certs.
const LEAF_CNF = `[v3_leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

// P-256 keys: generated in milliseconds, accepted by OpenSSL-backed Node and PostgreSQL alike.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

async function load(certPath: string, keyPath: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  return { certPath, keyPath, cert, key };
}

async function issueLeaf(dir: string, name: string, ca: KeyPair): Promise<KeyPair> {
  const base = join(dir, name);
  await openssl(['req', '-new', ...EC_KEY, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/CN=localhost']);
  await openssl([
    'x509', '-req', '-in', `${base}.csr`, '-CA', ca.certPath, '-CAkey', ca.keyPath,
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '30',
    '-extfile', join(dir, 'leaf.cnf'), '-extensions', 'v3_leaf', '-out', `${base}.crt`,
  ]);
  return load(`${base}.crt`, `${base}.key`);
}

export async function makeTestTls(dir: string): Promise<TestTls> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeFile(join(dir, 'ca.cnf'), CA_CNF);
  await writeFile(join(dir, 'leaf.cnf'), LEAF_CNF);
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await openssl([
    'req', '-x509', '-new', ...EC_KEY, '-keyout', caKey, '-out', caCert, '-days', '30',
    '-config', join(dir, 'ca.cnf'), '-extensions', 'v3_ca',
  ]);
  const ca = await load(caCert, caKey);
  const [server, proxy] = await Promise.all([issueLeaf(dir, 'server', ca), issueLeaf(dir, 'proxy', ca)]);
  return { ca, server, proxy };
}
