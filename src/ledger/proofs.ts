// Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4) served from helios.ledger_entries.
// Proofs are built from the stored leaf_hash column and the interior nodes in helios.ledger_nodes:
// nothing is rehashed from the leaf bytes, so a proof states what the log holds, and a client
// checks it against a signed checkpoint's root.
// Every proof component is the MTH of a perfect subtree or of a right-edge run of them
// (src/ledger/merkle/proof.ts). A perfect subtree of 2^L >= 256 leaves folds from the <= 128
// stored nodes of the largest stored level below it (NODE_LEVEL_STEP), in one query; what is left,
// under 256 leaves per component, comes from leaf hashes. A proof is then O(log n) small queries
// instead of reading the leaf hashes of [0, size).
// Nodes are derived data and the proofs do not trust them: a missing node (entries written before
// nodes were stored, or removed by a superuser) falls back to folding that subtree's leaf hashes,
// and a wrong node yields a proof that fails to verify against the signed root: making a false
// proof verify would take a SHA-256 collision, with or without stored nodes.
import type pg from 'pg';
import { inclusionProof, consistencyProof, nodeHash, rootAt, type HashSource } from './merkle/index.ts';
import { NODE_LEVEL_STEP, readHead } from './store.ts';
import type { LeafValue } from './leaf.ts';

const DEFAULT_CHUNK = 8192;

/**
 * A HashSource over helios.ledger_entries and helios.ledger_nodes: stored leaf hashes, read in id
 * order in chunks, and perfect-subtree roots folded from the stored nodes.
 */
export class DbHashSource implements HashSource {
  readonly subtreeMinSize = 2 ** NODE_LEVEL_STEP;

  constructor(
    private readonly client: pg.Client,
    private readonly chunk = DEFAULT_CHUNK,
  ) {}

  /**
   * MTH(D[start:end]) for a perfect aligned range of 2^L >= 256 leaves, from the stored nodes of
   * the largest stored level S <= L: its 2^(L - S) subtrees, read in one query and folded pairwise
   * (a perfect tree's MTH is exactly that pairing, RFC 9162 §2.1.1). Undefined when any of them is
   * not stored, so the caller folds leaf hashes instead.
   */
  async subtreeRoot(start: number, end: number): Promise<Uint8Array | undefined> {
    const n = end - start;
    const level = Math.log2(n);
    if (!Number.isInteger(level) || level < NODE_LEVEL_STEP || start % n !== 0) return undefined;
    const stored = level - (level % NODE_LEVEL_STEP);
    const span = 2 ** stored;
    const count = n / span;
    const { rows } = await this.client.query<{ start: string; hash: Buffer }>(
      'SELECT start, hash FROM helios.ledger_nodes WHERE level = $1 AND start >= $2 AND start < $3 ORDER BY start',
      [stored, start, end],
    );
    if (rows.length !== count) return undefined;
    let layer: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (Number(rows[i]!.start) !== start + i * span) return undefined;
      layer.push(rows[i]!.hash);
    }
    while (layer.length > 1) {
      const up: Buffer[] = [];
      for (let i = 0; i < layer.length; i += 2) up.push(nodeHash(layer[i]!, layer[i + 1]!));
      layer = up;
    }
    return layer[0];
  }

  async leafHash(index: number): Promise<Uint8Array> {
    const [h] = await this.leafHashes(index, index + 1);
    return h!;
  }

  /** Leaf hashes [start, end); throws when an id in the range is not stored. */
  async leafHashes(start: number, end: number): Promise<Buffer[]> {
    const out: Buffer[] = [];
    let next = start;
    while (next < end) {
      const { rows } = await this.client.query<{ id: string; leaf_hash: Buffer }>(
        'SELECT id, leaf_hash FROM helios.ledger_entries WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3',
        [next, end, this.chunk],
      );
      for (const r of rows) {
        if (Number(r.id) !== next) throw new LedgerProofError(`ledger entry ${next} is not stored`);
        out.push(r.leaf_hash);
        next++;
      }
      if (rows.length === 0) throw new LedgerProofError(`ledger entry ${next} is not stored`);
    }
    return out;
  }
}

export class LedgerProofError extends Error {
  override name = 'LedgerProofError';
}

export interface InclusionProofResult {
  id: number;
  /** Tree size the proof is for. */
  size: number;
  /** Stored leaf hash of the entry, hex. */
  leafHash: string;
  /** Audit path, RFC 9162 §2.1.3.1 order (deepest first), hex. */
  proof: string[];
  /** MTH of the first `size` entries, hex. */
  root: string;
}

export interface ConsistencyProofResult {
  m: number;
  n: number;
  rootM: string;
  rootN: string;
  /** RFC 9162 §2.1.4.1 consistency proof, hex. */
  proof: string[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Size and root to prove against: the stored head, or the root recomputed from stored leaf hashes at `size`. */
async function treeAt(client: pg.Client, source: DbHashSource, size: number | undefined): Promise<{ size: number; root: Buffer }> {
  const head = await readHead(client);
  if (size === undefined || size === head.size) return { size: head.size, root: head.root };
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size must be a non-negative safe integer, got ${size}`);
  if (size > head.size) throw new LedgerProofError(`size ${size} is beyond the ledger's ${head.size} entries`);
  return { size, root: await rootAt(size, source) };
}

/**
 * Inclusion proof of entry `id` in the tree of the current head, or of the first `size` entries
 * (a checkpoint's size). The root for the head is the stored state root; for another size it is
 * folded from the stored leaf hashes.
 */
export async function proveInclusion(client: pg.Client, id: number, size?: number, chunk = DEFAULT_CHUNK): Promise<InclusionProofResult> {
  const source = new DbHashSource(client, chunk);
  const tree = await treeAt(client, source, size);
  if (!Number.isSafeInteger(id) || id < 0 || id >= tree.size) throw new LedgerProofError(`entry ${id} is not in the tree of size ${tree.size}`);
  const leaf = await source.leafHash(id);
  const proof = await inclusionProof(id, tree.size, source);
  return { id, size: tree.size, leafHash: hex(leaf), proof: proof.map(hex), root: hex(tree.root) };
}

/** Consistency proof between the trees of the first m and first n entries (0 < m <= n <= head size). */
export async function proveConsistency(client: pg.Client, m: number, n: number, chunk = DEFAULT_CHUNK): Promise<ConsistencyProofResult> {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 1 || m > n) throw new RangeError(`need 0 < m <= n, got m = ${m}, n = ${n}`);
  const source = new DbHashSource(client, chunk);
  const second = await treeAt(client, source, n);
  const rootM = m === n ? second.root : await rootAt(m, source);
  const proof = await consistencyProof(m, n, source);
  return { m, n, rootM: hex(rootM), rootN: hex(second.root), proof: proof.map(hex) };
}

export interface RowEntryQuery {
  /** Table name as recorded in the entry's `table` field. */
  table: string;
  /** The row's key as recorded in the entry's `key` field (compared as jsonb: member order is irrelevant). */
  key: Record<string, LeafValue>;
  /** The change's LSN as recorded in the entry's `lsn` field (compared as text); omitted: any. */
  lsn?: string;
}

export interface FoundEntry {
  id: number;
  leafHash: string;
  /** The entry's decoded JSON (the leaf after its 9-byte header). */
  entry: Record<string, unknown>;
}

/**
 * Row-change entries matching table, key and (optionally) lsn, in id order.
 * This is a sequential scan of the row entries: every leaf's JSON is decoded
 * (convert_from(substring(leaf from 10), 'UTF8')::jsonb); there is no index on it yet.
 */
export async function findEntries(client: pg.Client, q: RowEntryQuery, limit = 1000): Promise<FoundEntry[]> {
  const { rows } = await client.query<{ id: string; leaf_hash: Buffer; entry: Record<string, unknown> }>(
    `SELECT id, leaf_hash, j AS entry
       FROM (SELECT id, leaf_hash, convert_from(substring(leaf from 10), 'UTF8')::jsonb AS j
               FROM helios.ledger_entries
              WHERE kind = 'row' AND get_byte(leaf, 0) = 1) e
      WHERE j->>'table' = $1 AND j->'key' = $2::jsonb AND ($3::text IS NULL OR j->>'lsn' = $3::text)
      ORDER BY id
      LIMIT $4`,
    [q.table, JSON.stringify(q.key), q.lsn ?? null, limit],
  );
  return rows.map((r) => ({ id: Number(r.id), leafHash: hex(r.leaf_hash), entry: r.entry }));
}

/** The latest row-change entry matching table, key and (optionally) lsn; null when there is none. See findEntries. */
export async function findEntry(client: pg.Client, q: RowEntryQuery): Promise<FoundEntry | null> {
  const { rows } = await client.query<{ id: string; leaf_hash: Buffer; entry: Record<string, unknown> }>(
    `SELECT id, leaf_hash, j AS entry
       FROM (SELECT id, leaf_hash, convert_from(substring(leaf from 10), 'UTF8')::jsonb AS j
               FROM helios.ledger_entries
              WHERE kind = 'row' AND get_byte(leaf, 0) = 1) e
      WHERE j->>'table' = $1 AND j->'key' = $2::jsonb AND ($3::text IS NULL OR j->>'lsn' = $3::text)
      ORDER BY id DESC
      LIMIT 1`,
    [q.table, JSON.stringify(q.key), q.lsn ?? null],
  );
  const r = rows[0];
  return r ? { id: Number(r.id), leafHash: hex(r.leaf_hash), entry: r.entry } : null;
}
