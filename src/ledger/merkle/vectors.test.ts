// Conformance against the transparency-dev/merkle JSON test vectors and the RFC 6962 reference roots,
// read in place from /work/shared/data/merkle-vectors (not copied into the repo).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MerkleFrontier, leafHash, rootFromLeafHashes, verifyConsistency, verifyInclusion } from './index.ts';

const DATA = fileURLToPath(new URL('../../../../shared/data/merkle-vectors/', import.meta.url));

function jsonFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...jsonFiles(p));
    else if (name.endsWith('.json')) out.push(p);
  }
  return out;
}

const b64 = (s: string): Buffer => Buffer.from(s, 'base64');

interface InclusionVector {
  leafIdx: number; // may exceed 2^53 (e.g. 2^64 - 1); JSON.parse rounds it, still >= treeSize
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

describe('RFC 9162 test vectors', () => {
  it('inclusion: every vector in testdata/inclusion', () => {
    const files = jsonFiles(path.join(DATA, 'testdata/inclusion'));
    const failures: string[] = [];
    let ok = 0;
    let happy = 0;
    for (const f of files) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as InclusionVector;
      const got = verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root));
      if (got === !v.wantErr) ok++;
      else failures.push(`${path.relative(DATA, f)} (${v.desc}): verified=${got}, wantErr=${v.wantErr}`);
      if (!v.wantErr) happy++;
    }
    expect(failures).toEqual([]);
    expect(files.length).toBeGreaterThan(0);
    expect(ok).toBe(files.length);
    expect(happy).toBeGreaterThan(0);
    console.log(`inclusion vectors: ${ok}/${files.length} passed (${happy} valid, ${files.length - happy} invalid)`);
  });

  it('consistency: every vector in testdata/consistency', () => {
    const files = jsonFiles(path.join(DATA, 'testdata/consistency'));
    const failures: string[] = [];
    let ok = 0;
    let happy = 0;
    for (const f of files) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as ConsistencyVector;
      const got = verifyConsistency(v.size1, v.size2, b64(v.root1), b64(v.root2), (v.proof ?? []).map(b64));
      if (got === !v.wantErr) ok++;
      else failures.push(`${path.relative(DATA, f)} (${v.desc}): verified=${got}, wantErr=${v.wantErr}`);
      if (!v.wantErr) happy++;
    }
    expect(failures).toEqual([]);
    expect(files.length).toBeGreaterThan(0);
    expect(ok).toBe(files.length);
    expect(happy).toBeGreaterThan(0);
    console.log(`consistency vectors: ${ok}/${files.length} passed (${happy} valid, ${files.length - happy} invalid)`);
  });

  it('reference roots for sizes 0..8 (rootFromLeafHashes and MerkleFrontier)', () => {
    const ref = JSON.parse(readFileSync(path.join(DATA, 'reference-roots.json'), 'utf8')) as {
      leafInputsHex: string[];
      rootsHex: string[];
    };
    expect(ref.rootsHex.length).toBe(9);
    expect(ref.leafInputsHex.length).toBe(8);
    const hashes = ref.leafInputsHex.map((h) => leafHash(Buffer.from(h, 'hex')));
    const frontier = new MerkleFrontier();
    for (let n = 0; n < ref.rootsHex.length; n++) {
      expect(rootFromLeafHashes(hashes, n).toString('hex'), `rootFromLeafHashes n=${n}`).toBe(ref.rootsHex[n]);
      expect(rootFromLeafHashes(hashes.slice(0, n)).toString('hex')).toBe(ref.rootsHex[n]);
      expect(frontier.size).toBe(n);
      expect(frontier.root().toString('hex'), `frontier n=${n}`).toBe(ref.rootsHex[n]);
      if (n < hashes.length) frontier.append(hashes[n]!);
    }
  });
});
