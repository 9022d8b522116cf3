// Decoders for the message bodies the proxy needs to look into. Each takes the whole frame
// (type byte + length word + body) and reads only what it is asked for.

import { StartupCode } from './codes.ts';

/** Index of the NUL ending a C string starting at `from`, or -1. */
export function cstringEnd(buf: Buffer, from: number, end = buf.length): number {
  const i = buf.indexOf(0, from);
  return i < 0 || i >= end ? -1 : i;
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function cstring(buf: Buffer, from: number, end: number): [string, number] {
  const z = cstringEnd(buf, from, end);
  if (z < 0) throw new ProtocolError('unterminated string in message');
  return [buf.toString('utf8', from, z), z + 1];
}

// ---- startup phase -------------------------------------------------------------------

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; key: Buffer }
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> };

/** Decodes an untyped startup-phase packet (length word first, then the request code). */
export function readStartupPacket(buf: Buffer): StartupPacket {
  if (buf.length < 8) throw new ProtocolError('invalid length of startup packet');
  const code = buf.readInt32BE(4);
  switch (code) {
    case StartupCode.SSLRequest:
      return { kind: 'ssl' };
    case StartupCode.GSSENCRequest:
      return { kind: 'gssenc' };
    case StartupCode.CancelRequest:
      if (buf.length < 16) throw new ProtocolError('invalid length of cancel request');
      return { kind: 'cancel', pid: buf.readInt32BE(8), key: buf.subarray(12) };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw new ProtocolError(`unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.2`);
  const params = new Map<string, string>();
  let off = 8;
  while (off < buf.length && buf[off] !== 0) {
    const [k, a] = cstring(buf, off, buf.length);
    const [v, b] = cstring(buf, a, buf.length);
    params.set(k, v);
    off = b;
  }
  if (off >= buf.length) throw new ProtocolError('startup packet is missing its terminator');
  return { kind: 'startup', major, minor, params };
}

// ---- frontend messages ---------------------------------------------------------------

/** Query: the SQL text. */
export function readQuery(frame: Buffer): string {
  const z = cstringEnd(frame, 5);
  if (z < 0) throw new ProtocolError('invalid Query message: missing terminator');
  return frame.toString('utf8', 5, z);
}

export interface ParseMessage {
  name: string;
  sql: string;
  paramTypes: number[];
}

export function readParse(frame: Buffer): ParseMessage {
  const end = frame.length;
  const [name, a] = cstring(frame, 5, end);
  const [sql, b] = cstring(frame, a, end);
  if (b + 2 > end) throw new ProtocolError('invalid Parse message');
  const n = frame.readInt16BE(b);
  if (n < 0 || b + 2 + n * 4 > end) throw new ProtocolError('invalid Parse message: parameter types');
  const paramTypes = new Array<number>(n);
  for (let i = 0; i < n; i++) paramTypes[i] = frame.readUInt32BE(b + 2 + i * 4);
  return { name, sql, paramTypes };
}

export interface BindHead {
  portal: string;
  statement: string;
  /** Offset just past the statement name: where the format codes begin. */
  restOffset: number;
}

/** Portal and statement names, readable from a prefix of a Bind too large to decode whole. */
export function readBindHead(frame: Buffer): BindHead {
  const [portal, a] = cstring(frame, 5, frame.length);
  const [statement, b] = cstring(frame, a, frame.length);
  return { portal, statement, restOffset: b };
}

export interface BindParams {
  formats: number[];
  /** Views into the frame; null is SQL NULL. */
  values: (Buffer | null)[];
}

/** Parameter formats (expanded to one per parameter) and values of a whole Bind frame. */
export function readBindParams(frame: Buffer, restOffset: number): BindParams {
  const end = frame.length;
  let off = restOffset;
  const bad = () => new ProtocolError('invalid Bind message');
  if (off + 2 > end) throw bad();
  const nf = frame.readInt16BE(off);
  off += 2;
  if (nf < 0 || off + nf * 2 + 2 > end) throw bad();
  const fcodes = new Array<number>(nf);
  for (let i = 0; i < nf; i++) fcodes[i] = frame.readInt16BE(off + i * 2);
  off += nf * 2;
  const np = frame.readInt16BE(off);
  off += 2;
  if (np < 0 || (nf > 1 && nf !== np)) throw bad();
  const values = new Array<Buffer | null>(np);
  const formats = new Array<number>(np);
  for (let i = 0; i < np; i++) {
    if (off + 4 > end) throw bad();
    const len = frame.readInt32BE(off);
    off += 4;
    if (len === -1) values[i] = null;
    else {
      if (len < 0 || off + len > end) throw bad();
      values[i] = frame.subarray(off, off + len);
      off += len;
    }
    formats[i] = nf === 0 ? 0 : nf === 1 ? fcodes[0]! : fcodes[i]!;
  }
  return { formats, values };
}

/** Execute: the portal name (the row limit that follows is not needed). */
export function readExecutePortal(frame: Buffer): string {
  return cstring(frame, 5, frame.length)[0];
}

/** Describe / Close: 'S' statement or 'P' portal, and its name. */
export function readTarget(frame: Buffer): { type: number; name: string } {
  if (frame.length < 7) throw new ProtocolError('invalid message: missing target');
  const [name] = cstring(frame, 6, frame.length);
  return { type: frame[5]!, name };
}

// ---- backend messages ----------------------------------------------------------------

/** Fields of ErrorResponse / NoticeResponse keyed by their one-byte code ('C' SQLSTATE, 'M' message, ...). */
export function readFields(frame: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let off = 5;
  while (off < frame.length && frame[off] !== 0) {
    const code = String.fromCharCode(frame[off]!);
    const z = cstringEnd(frame, off + 1);
    if (z < 0) break;
    fields.set(code, frame.toString('utf8', off + 1, z));
    off = z + 1;
  }
  return fields;
}

/** The SQLSTATE ('C' field) of an ErrorResponse, without decoding the other fields. */
export function readSqlState(frame: Buffer): string {
  let off = 5;
  while (off < frame.length && frame[off] !== 0) {
    const z = cstringEnd(frame, off + 1);
    if (z < 0) break;
    if (frame[off] === 0x43) return frame.toString('latin1', off + 1, z);
    off = z + 1;
  }
  return 'XX000';
}

export function readCommandTag(frame: Buffer): string {
  const z = cstringEnd(frame, 5);
  return frame.toString('utf8', 5, z < 0 ? frame.length : z);
}

/** Rows from a CommandComplete tag: the last number of "INSERT 0 5", "SELECT 3", "COPY 10", ... */
export function rowsFromTag(tag: string): number {
  const sp = tag.lastIndexOf(' ');
  if (sp < 0) return 0;
  const n = Number(tag.slice(sp + 1));
  return Number.isFinite(n) ? n : 0;
}

export function readParameterStatus(frame: Buffer): [string, string] {
  const [name, a] = cstring(frame, 5, frame.length);
  const [value] = cstring(frame, a, frame.length);
  return [name, value];
}

/** BackendKeyData: pid and the secret key (4 bytes in 3.0, up to 256 in 3.2). */
export function readBackendKeyData(frame: Buffer): { pid: number; key: Buffer } {
  if (frame.length < 13) throw new ProtocolError('invalid BackendKeyData');
  return { pid: frame.readInt32BE(5), key: frame.subarray(9) };
}

/** Mechanisms offered by AuthenticationSASL. */
export function readSaslMechanisms(frame: Buffer): string[] {
  const out: string[] = [];
  let off = 9;
  while (off < frame.length && frame[off] !== 0) {
    const [m, next] = cstring(frame, off, frame.length);
    out.push(m);
    off = next;
  }
  return out;
}
