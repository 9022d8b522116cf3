// Ledger leaves: the bytes each entry is hashed as. Length-prefixed and versioned:
//   0x01 (format) || uint64 big-endian position || RFC 8785 canonical JSON of the entry
// The position inside the hashed bytes makes a moved entry detectable where it stands. The JSON
// is RFC 8785 (JSON Canonicalization Scheme): members sorted by UTF-16 code units, no whitespace,
// ECMAScript number and string serialization (which JSON.stringify implements). Never
// jsonb::text, whose key order and spacing are PostgreSQL's to change.

export const LEAF_FORMAT = 1;
const HEADER = 9;

export type LeafValue = string | number | boolean | null | LeafValue[] | { [k: string]: LeafValue | undefined };

/** RFC 8785 canonical JSON. Rejects values JSON cannot carry exactly (NaN, Infinity, unsafe integers). */
export function canonicalJson(v: LeafValue): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError(`a ledger leaf cannot hold ${v}`);
    if (Number.isInteger(v) && !Number.isSafeInteger(v)) throw new TypeError(`integer ${v} is beyond 2^53: store it as a string`);
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k]!)}`).join(',')}}`;
}

/** statements: the statements run through the proxy in one interval (statement-batch.ts); row: one committed row change; action: one of HeliosDB's own. */
export type LeafKind = 'statements' | 'row' | 'action';

export type LeafEntry =
  | { kind: LeafKind; fields: Record<string, LeafValue | undefined> }
  /** Already RFC 8785 canonical JSON, `kind` member included (built by a writer that keeps members sorted). */
  | { kind: LeafKind; canonical: string };

/** The leaf bytes of the entry at `position`. */
export function encodeLeaf(position: number, e: LeafEntry): Buffer {
  const json = Buffer.from('canonical' in e ? e.canonical : canonicalJson({ ...e.fields, kind: e.kind }), 'utf8');
  const out = Buffer.allocUnsafe(HEADER + json.length);
  out[0] = LEAF_FORMAT;
  out.writeBigUInt64BE(BigInt(position), 1);
  json.copy(out, HEADER);
  return out;
}

/** The position a leaf says it is at; null when it is not a leaf of a known format. */
export function leafPosition(leaf: Uint8Array): number | null {
  if (leaf.length < HEADER || leaf[0] !== LEAF_FORMAT) return null;
  const p = Buffer.from(leaf.buffer, leaf.byteOffset, leaf.length).readBigUInt64BE(1);
  return p <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(p) : null;
}

export function decodeLeaf(leaf: Uint8Array): { position: number; entry: Record<string, unknown> } {
  const position = leafPosition(leaf);
  if (position === null) throw new Error('not a ledger leaf of format 1');
  return { position, entry: JSON.parse(Buffer.from(leaf).subarray(HEADER).toString('utf8')) as Record<string, unknown> };
}
