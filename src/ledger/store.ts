// The ledger in the helios schema: entries appended in batches, each batch in one transaction
// that also stores the tree's new frontier, under a row lock on the log's state, so several
// sidecars append to one dense sequence and a crash leaves neither a gap nor a duplicate.
import type pg from 'pg';
import { leafHash, MerkleFrontier, type MerkleFrontierJSON } from './merkle/index.ts';
import { encodeLeaf, leafPosition, type LeafEntry } from './leaf.ts';
import { openCheckpoint, type NoteVerifier } from './checkpoint/index.ts';

export const LOG_NAME = 'helios';

/**
 * helios.ledger_nodes keeps the perfect-subtree roots whose level (log2 of the leaf count) is a
 * multiple of this: 256, 65,536, 2^24 … leaves. A stored level costs one row per 2^level entries
 * (about 1/255 of the entries over all levels), and any perfect subtree of 2^L >= 256 leaves then
 * folds from the 2^(L - S) <= 128 nodes of the stored level S just below it.
 */
export const NODE_LEVEL_STEP = 8;

export interface LedgerHead {
  size: number;
  root: Buffer;
}

/** Appends leaves in a transaction of its own; returns the log's new size and root. */
export async function appendLeaves(client: pg.Client, leaves: readonly LeafEntry[]): Promise<LedgerHead & { first: number }> {
  await client.query('BEGIN');
  try {
    const head = await appendInTransaction(client, leaves);
    await client.query('COMMIT');
    return head;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/**
 * Appends leaves inside the caller's transaction (change capture's hand-off, so row changes and
 * the capture checkpoint commit together). The state row lock orders concurrent appenders.
 */
export async function appendInTransaction(client: pg.Client, leaves: readonly LeafEntry[]): Promise<LedgerHead & { first: number }> {
  const empty = new MerkleFrontier();
  await client.query('INSERT INTO helios.ledger_state (log, size, frontier, root) VALUES ($1, 0, $2, $3) ON CONFLICT (log) DO NOTHING', [
    LOG_NAME, JSON.stringify(empty.toJSON()), empty.root(),
  ]);
  const { rows } = await client.query<{ size: string; frontier: MerkleFrontierJSON }>('SELECT size, frontier FROM helios.ledger_state WHERE log = $1 FOR UPDATE', [LOG_NAME]);
  const frontier = MerkleFrontier.fromJSON(rows[0]!.frontier);
  const first = Number(rows[0]!.size);
  if (frontier.size !== first) throw new Error(`ledger state is inconsistent: size ${first}, frontier covers ${frontier.size}`);
  if (leaves.length === 0) return { size: first, root: frontier.root(), first };
  const kinds: string[] = [];
  const ends: number[] = [];
  const data: Buffer[] = [];
  const hashes: Buffer[] = [];
  const nodeLevels: number[] = [];
  const nodeStarts: number[] = [];
  const nodeHashes: Uint8Array[] = [];
  const keepNode = (level: number, start: number, hash: Uint8Array): void => {
    if (level === 0 || level % NODE_LEVEL_STEP !== 0) return;
    nodeLevels.push(level);
    nodeStarts.push(start);
    nodeHashes.push(hash);
  };
  let end = 0;
  for (const l of leaves) {
    const leaf = encodeLeaf(frontier.size, l);
    const h = leafHash(leaf);
    frontier.append(h, keepNode);
    kinds.push(l.kind);
    data.push(leaf);
    hashes.push(h);
    ends.push((end += leaf.length));
  }
  // Leaves and hashes travel as two binary parameters cut apart by offsets: a bytea[] parameter
  // is sent as text, doubling every leaf into hex for both sides to write and read.
  await client.query(
    `INSERT INTO helios.ledger_entries (id, kind, leaf, leaf_hash)
     SELECT $1::bigint + i - 1, k, substring($3::bytea FROM coalesce(($4::int[])[i - 1], 0) + 1 FOR ($4::int[])[i] - coalesce(($4::int[])[i - 1], 0)), substring($5::bytea FROM (i - 1) * 32 + 1 FOR 32)
       FROM unnest($2::text[]) WITH ORDINALITY AS u(k, n), LATERAL (SELECT n::int AS i) AS o`,
    [first, kinds, Buffer.concat(data, end), ends, Buffer.concat(hashes)],
  );
  // Nodes commit with the entries that complete them, so a stored node is always covered by
  // stored entries. A node already present can only be left by a superuser's removal of the log's
  // tail: appending is not refused for it (nodes are derived data; see helios.ledger_nodes), and
  // verifyLocal names the stale node.
  if (nodeLevels.length > 0) {
    await client.query(
      `INSERT INTO helios.ledger_nodes (level, start, hash)
       SELECT l, s, substring($3::bytea FROM (i::int - 1) * 32 + 1 FOR 32)
         FROM unnest($1::smallint[], $2::bigint[]) WITH ORDINALITY AS u(l, s, i)
       ON CONFLICT (level, start) DO NOTHING`,
      [nodeLevels, nodeStarts, Buffer.concat(nodeHashes)],
    );
  }
  const root = frontier.root();
  await client.query('UPDATE helios.ledger_state SET size = $2, frontier = $3, root = $4, updated_at = now() WHERE log = $1', [
    LOG_NAME, frontier.size, JSON.stringify(frontier.toJSON()), root,
  ]);
  return { size: frontier.size, root, first };
}

export async function readHead(client: pg.Client): Promise<LedgerHead & { frontier: MerkleFrontierJSON | null }> {
  const { rows } = await client.query<{ size: string; root: Buffer; frontier: MerkleFrontierJSON }>('SELECT size, root, frontier FROM helios.ledger_state WHERE log = $1', [LOG_NAME]);
  if (!rows[0]) return { size: 0, root: new MerkleFrontier().root(), frontier: null };
  return { size: Number(rows[0].size), root: rows[0].root, frontier: rows[0].frontier };
}

/**
 * An entry changed together with its leaf hash keeps every per-entry check; the tree narrows it
 * to one perfect subtree: the first whose recomputed root differs from the stored frontier's.
 */
function mismatchedSubtree(computed: MerkleFrontier, stored: MerkleFrontierJSON | null): LocalVerification['firstBad'] {
  if (!stored || stored.size !== computed.size) return null;
  const mine = computed.subtreeRoots();
  // The frontier's subtrees are the set bits of the size, largest first.
  let lo = 0;
  let i = 0;
  for (let bit = 2 ** Math.floor(Math.log2(Math.max(1, computed.size))); bit >= 1 && i < mine.length; bit /= 2) {
    if (Math.floor(computed.size / bit) % 2 === 0) continue;
    const hi = lo + bit;
    if (stored.hashes[i] !== mine[i]!.toString('hex')) {
      return { position: lo, reason: `entries ${lo} to ${hi - 1} no longer hash to the stored tree (one was changed with its leaf hash recomputed)` };
    }
    lo = hi;
    i++;
  }
  return null;
}

export interface LocalVerification {
  ok: boolean;
  /** Entries read and recomputed. */
  entries: number;
  /** Size and root the stored state claims, and the root recomputed from the stored leaves. */
  stateSize: number;
  stateRoot: string;
  computedRoot: string;
  /** The first position where the stored log is wrong, and why. */
  firstBad: { position: number; reason: string } | null;
  /**
   * Stored interior nodes compared with the tree recomputed from the stored leaves. Not part of
   * `ok`: nodes are derived data, so a wrong one says nothing about the log, it only makes the
   * proofs that use it fail to verify (a rewrite of the log that left the nodes alone shows here).
   */
  nodes: { checked: number; firstBad: { level: number; start: number; reason: string } | null };
}

interface StoredNode {
  level: number;
  start: string;
  hash: Buffer;
}

// Every level NODE_LEVEL_STEP stores, up to the largest shift a bigint takes; PK lookups per level.
const STORED_LEVELS = 'generate_series($1::int, 62, $1::int) AS l(level) JOIN helios.ledger_nodes n ON n.level = l.level';

/** Stored nodes whose last entry is in [from, to), in the order appends complete them. */
async function storedNodesEnding(client: pg.Client, from: number, to: number): Promise<StoredNode[]> {
  const { rows } = await client.query<StoredNode>(
    `SELECT n.level, n.start, n.hash FROM ${STORED_LEVELS}
        AND n.start > $2::bigint - (1::bigint << l.level) AND n.start <= $3::bigint - (1::bigint << l.level)
      ORDER BY n.start + (1::bigint << n.level), n.level`,
    [NODE_LEVEL_STEP, from, to],
  );
  return rows;
}

/**
 * Recomputes the tree from the stored leaves, in id order, in chunks: every id must be the next
 * position, every leaf_hash must be SHA-256(0x00 || leaf), and the root over all of them must be
 * the stored state's. It cannot see a tail removed together with a rewritten state, nor a full
 * rewrite: only a checkpoint held outside this database can (see the witnesses). Stored interior
 * nodes are checked against the recomputed tree on the way, and reported apart (`nodes`).
 */
export async function verifyLocal(client: pg.Client, chunk = 50_000): Promise<LocalVerification> {
  const head = await readHead(client);
  const frontier = new MerkleFrontier();
  let firstBad: LocalVerification['firstBad'] = null;
  const nodes: LocalVerification['nodes'] = { checked: 0, firstBad: null };
  // The chunk's completed subtrees of the stored levels, to compare with the stored nodes.
  const completed = new Map<string, Uint8Array>();
  const keep = (level: number, start: number, hash: Uint8Array): void => {
    if (level > 0 && level % NODE_LEVEL_STEP === 0) completed.set(`${level}:${start}`, hash);
  };
  let last = -1;
  for (;;) {
    const from = frontier.size;
    const { rows } = await client.query<{ id: string; leaf: Buffer; leaf_hash: Buffer }>(
      'SELECT id, leaf, leaf_hash FROM helios.ledger_entries WHERE id > $1 ORDER BY id LIMIT $2',
      [last, chunk],
    );
    for (const r of rows) {
      const id = Number(r.id);
      if (firstBad === null) {
        const says = leafPosition(r.leaf);
        if (id !== frontier.size) firstBad = { position: frontier.size, reason: id > frontier.size ? `entry ${frontier.size} is missing (next stored id is ${id})` : `entry ${id} is out of place` };
        else if (says !== id) firstBad = { position: id, reason: `the entry stored at ${id} says it belongs at ${says ?? 'no position (not a leaf)'} (entries were moved or replaced)` };
        else if (!leafHash(r.leaf).equals(r.leaf_hash)) firstBad = { position: id, reason: `entry ${id}: its leaf does not hash to its stored leaf_hash (the entry was changed)` };
      }
      frontier.append(leafHash(r.leaf), keep);
      last = id;
    }
    for (const n of await storedNodesEnding(client, from, frontier.size)) {
      nodes.checked++;
      const mine = completed.get(`${n.level}:${n.start}`);
      if (nodes.firstBad === null && !(mine && n.hash.equals(mine))) {
        nodes.firstBad = { level: n.level, start: Number(n.start), reason: `the stored node over entries ${n.start} to ${Number(n.start) + 2 ** n.level - 1} differs from the tree of the stored entries (proofs using it will not verify)` };
      }
    }
    completed.clear();
    if (rows.length < chunk) break;
  }
  // A node past the end can only be left by a removed tail, and appending again would not replace it.
  const { rows: beyond } = await client.query<StoredNode>(
    `SELECT n.level, n.start FROM ${STORED_LEVELS} AND n.start > $2::bigint - (1::bigint << l.level) ORDER BY n.start, n.level LIMIT 1`,
    [NODE_LEVEL_STEP, frontier.size],
  );
  if (nodes.firstBad === null && beyond[0]) {
    const n = beyond[0];
    nodes.firstBad = { level: n.level, start: Number(n.start), reason: `the stored node over entries ${n.start} to ${Number(n.start) + 2 ** n.level - 1} reaches beyond the ${frontier.size} stored entries (the log's tail was removed)` };
  }
  const computed = frontier.root();
  if (firstBad === null && frontier.size !== head.size) {
    firstBad = { position: Math.min(frontier.size, head.size), reason: `the log state says ${head.size} entries, ${frontier.size} are stored` };
  }
  if (firstBad === null && !computed.equals(head.root)) {
    firstBad = mismatchedSubtree(frontier, head.frontier) ?? { position: 0, reason: 'the root recomputed from the stored leaves differs from the stored state root' };
  }
  return {
    ok: firstBad === null,
    entries: frontier.size,
    stateSize: head.size,
    stateRoot: head.root.toString('hex'),
    computedRoot: computed.toString('hex'),
    firstBad,
    nodes,
  };
}

export interface CheckpointVerification {
  ok: boolean;
  size: number;
  root: string;
  /** Root of the first `size` stored leaves, each rehashed from its data; null when fewer are stored. */
  computedRoot: string | null;
  reason: string | null;
}

/**
 * Checks the stored log against a signed checkpoint held outside this database (a witness's, or
 * one exported earlier): the signature must verify, and the first `size` stored leaves must hash
 * to its root. This is what catches a removed tail or a rewrite of the whole log with every hash
 * recomputed, which local verification cannot.
 */
export async function verifyAgainstCheckpoint(client: pg.Client, note: string, verifiers: readonly NoteVerifier[], origin?: string): Promise<CheckpointVerification> {
  const { checkpoint } = openCheckpoint(note, verifiers, { origin });
  const frontier = new MerkleFrontier();
  let last = -1;
  while (frontier.size < checkpoint.size) {
    const { rows } = await client.query<{ id: string; leaf: Buffer }>('SELECT id, leaf FROM helios.ledger_entries WHERE id > $1 ORDER BY id LIMIT $2', [
      last, Math.min(50_000, checkpoint.size - frontier.size),
    ]);
    if (rows.length === 0) break;
    for (const r of rows) {
      if (Number(r.id) !== frontier.size) break;
      frontier.append(leafHash(r.leaf));
      last = Number(r.id);
    }
    if (Number(rows[rows.length - 1]!.id) !== last) break;
  }
  const root = checkpoint.root.toString('hex');
  if (frontier.size < checkpoint.size) {
    return { ok: false, size: checkpoint.size, root, computedRoot: null, reason: `the checkpoint covers ${checkpoint.size} entries; only ${frontier.size} contiguous entries are stored (entries were removed)` };
  }
  const computed = frontier.root().toString('hex');
  return computed === root
    ? { ok: true, size: checkpoint.size, root, computedRoot: computed, reason: null }
    : { ok: false, size: checkpoint.size, root, computedRoot: computed, reason: `the first ${checkpoint.size} stored entries do not hash to the checkpoint's root (the log was rewritten)` };
}
