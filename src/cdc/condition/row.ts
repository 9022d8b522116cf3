// Reading a column of the change event's new or old row.

import { UNCHANGED, type Ev, type Row, type Value } from './values.ts';

const hasOwn = Object.prototype.hasOwnProperty;

/** A row's cell: missing columns and a missing row are NULL; { $unchanged: true } is UNCHANGED. */
export function cellReader(side: 'new' | 'old', name: string): Ev {
  // Column names such as "constructor" must not find Object.prototype's members.
  const ownOnly = name in Object.prototype;
  const read = (row: Row | null | undefined, unchanged: readonly string[] | undefined): Value => {
    if (row === null || row === undefined) return null;
    const v = ownOnly && !hasOwn.call(row, name) ? undefined : row[name];
    if (v === undefined || v === null) return null;
    if (typeof v === 'object') {
      if ((v as { $unchanged?: unknown }).$unchanged === true && (unchanged === undefined || unchanged.includes(name))) return UNCHANGED;
      return v;
    }
    if (typeof v === 'bigint') return String(v);
    return v as Value;
  };
  return side === 'new' ? (r) => read(r.new, r.unchanged) : (r) => read(r.old, undefined);
}
