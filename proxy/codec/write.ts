// Encoders for the messages the proxy writes itself. The hot path forwards bytes and never
// calls these; they serve startup, cancel, errors, and injected statements.

import { Be, Fe, StartupCode } from './codes.ts';

/** One-byte answers to SSLRequest / GSSENCRequest. */
export const SSL_ACCEPT: Buffer = Buffer.from('S');
export const SSL_REFUSE: Buffer = Buffer.from('N');
export const SYNC: Buffer = Buffer.from([Fe.Sync, 0, 0, 0, 4]);
export const TERMINATE: Buffer = Buffer.from([Fe.Terminate, 0, 0, 0, 4]);
export const SSL_REQUEST: Buffer = (() => {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(StartupCode.SSLRequest, 4);
  return b;
})();

/** Builds a typed frame: type byte, length word, then the parts. */
export function frame(type: number, ...parts: (Buffer | string)[]): Buffer {
  const bufs = parts.map((p) => (typeof p === 'string' ? Buffer.from(p + '\0', 'utf8') : p));
  let len = 4;
  for (const b of bufs) len += b.length;
  const out = Buffer.allocUnsafe(1 + len);
  out[0] = type;
  out.writeInt32BE(len, 1);
  let off = 5;
  for (const b of bufs) off += b.copy(out, off);
  return out;
}

export function int16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeInt16BE(n, 0);
  return b;
}

export function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(n, 0);
  return b;
}

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG' | 'DEBUG';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

function fieldParts(f: ErrorFields): Buffer {
  const parts = [`S${f.severity}`, `V${f.severity}`, `C${f.code}`, `M${f.message}`];
  if (f.detail) parts.push(`D${f.detail}`);
  if (f.hint) parts.push(`H${f.hint}`);
  return Buffer.from(parts.join('\0') + '\0\0', 'utf8');
}

export function errorResponse(f: ErrorFields): Buffer {
  return frame(Be.ErrorResponse, fieldParts(f));
}

export function noticeResponse(f: ErrorFields): Buffer {
  return frame(Be.NoticeResponse, fieldParts(f));
}

export function readyForQuery(status: number): Buffer {
  return frame(Be.ReadyForQuery, Buffer.from([status]));
}

export function backendKeyData(pid: number, key: Buffer): Buffer {
  return frame(Be.BackendKeyData, int32(pid), key);
}

/** Replaces the pid and key of a BackendKeyData frame where it lies; the key must be as long as the one it replaces. */
export function overwriteBackendKeyData(frame: Buffer, pid: number, key: Buffer): void {
  if (frame.length !== 9 + key.length) throw new RangeError('BackendKeyData key length differs');
  frame.writeInt32BE(pid, 5);
  key.copy(frame, 9);
}

export function authenticationSasl(mechanisms: readonly string[]): Buffer {
  return frame(Be.Authentication, int32(10), Buffer.from(mechanisms.map((m) => m + '\0').join('') + '\0', 'utf8'));
}

export function cancelRequest(pid: number, key: Buffer): Buffer {
  const b = Buffer.allocUnsafe(12 + key.length);
  b.writeInt32BE(b.length, 0);
  b.writeInt32BE(StartupCode.CancelRequest, 4);
  b.writeInt32BE(pid, 8);
  key.copy(b, 12);
  return b;
}

export function startupMessage(params: Record<string, string>, minor = 0): Buffer {
  const body = Buffer.from(Object.entries(params).map(([k, v]) => `${k}\0${v}\0`).join('') + '\0', 'utf8');
  const b = Buffer.allocUnsafe(8 + body.length);
  b.writeInt32BE(b.length, 0);
  b.writeInt32BE((3 << 16) | minor, 4);
  body.copy(b, 8);
  return b;
}

export function query(sql: string): Buffer {
  return frame(Fe.Query, sql);
}

export function parse(name: string, sql: string, paramTypes: readonly number[] = []): Buffer {
  const types = Buffer.allocUnsafe(2 + paramTypes.length * 4);
  types.writeInt16BE(paramTypes.length, 0);
  paramTypes.forEach((t, i) => types.writeUInt32BE(t, 2 + i * 4));
  return frame(Fe.Parse, name, sql, types);
}

/** Bind with no parameters and text results. */
export function bindEmpty(portal: string, statement: string): Buffer {
  return frame(Fe.Bind, portal, statement, int16(0), int16(0), int16(0));
}

/** The same Bind pointed at another statement: portal, new name, then the original's formats and values. */
export function rebind(bindFrame: Buffer, portal: string, statement: string, restOffset: number): Buffer {
  return frame(Fe.Bind, portal, statement, bindFrame.subarray(restOffset));
}

/** Close of a statement ('S') or portal ('P'). */
export function close(type: number, name: string): Buffer {
  return frame(Fe.Close, Buffer.from([type]), name);
}

export function execute(portal: string, maxRows = 0): Buffer {
  return frame(Fe.Execute, portal, int32(maxRows));
}

export interface Column {
  name: string;
  /** Type OID; 25 (text) by default. */
  typeOid?: number;
}

export function rowDescription(columns: readonly Column[]): Buffer {
  const parts: Buffer[] = [int16(columns.length)];
  for (const c of columns) {
    const meta = Buffer.alloc(18);
    meta.writeUInt32BE(c.typeOid ?? 25, 6);
    meta.writeInt16BE(-1, 10);
    meta.writeInt32BE(-1, 12);
    parts.push(Buffer.from(c.name + '\0', 'utf8'), meta);
  }
  return frame(Be.RowDescription, ...parts);
}

export function dataRow(values: readonly (string | null)[]): Buffer {
  const parts: Buffer[] = [int16(values.length)];
  for (const v of values) {
    if (v === null) parts.push(int32(-1));
    else {
      const b = Buffer.from(v, 'utf8');
      parts.push(int32(b.length), b);
    }
  }
  return frame(Be.DataRow, ...parts);
}

export function commandComplete(tag: string): Buffer {
  return frame(Be.CommandComplete, tag);
}
