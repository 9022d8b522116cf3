import { describe, expect, it } from 'vitest';
import { FE_KIND, Fe, StartupCode } from './codes.ts';
import {
  ProtocolError, readBackendKeyData, readBindHead, readBindParams, readCommandTag, readExecutePortal, readFields,
  readParameterStatus, readParse, readQuery, readSaslMechanisms, readSqlState, readStartupPacket, readTarget, rowsFromTag,
} from './read.ts';
import * as w from './write.ts';

/** Hex fixture → Buffer; spaces are for readability. */
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('frontend messages', () => {
  it('decodes a Query frame', () => {
    // 'Q', length 13, "select 1\0"
    const f = hex('51 0000000d 73656c6563742031 00');
    expect(readQuery(f)).toBe('select 1');
    expect(w.query('select 1')).toEqual(f);
  });

  it('rejects a Query without its terminator', () => {
    expect(() => readQuery(hex('51 0000000c 73656c6563742031'))).toThrow(ProtocolError);
  });

  it('decodes Parse with parameter types', () => {
    // 'P', name "s1", "select $1", 1 param of type 23 (int4)
    const f = hex('50 00000017 733100 73656c65637420243100 0001 00000017');
    expect(readParse(f)).toEqual({ name: 's1', sql: 'select $1', paramTypes: [23] });
    expect(w.parse('s1', 'select $1', [23])).toEqual(f);
  });

  it('decodes Bind: names, format codes expanded per parameter, NULL, binary values', () => {
    // portal "", statement "s1", 1 format code (binary) for all, 2 params: int4 7 and NULL, 0 result formats
    const f = hex('42 0000001a 00 733100 0001 0001 0002 00000004 00000007 ffffffff 0000');
    const head = readBindHead(f);
    expect(head).toMatchObject({ portal: '', statement: 's1' });
    const p = readBindParams(f, head.restOffset);
    expect(p.formats).toEqual([1, 1]);
    expect(p.values[0]).toEqual(hex('00000007'));
    expect(p.values[1]).toBeNull();
  });

  it('rejects a Bind whose value runs past the frame', () => {
    const f = hex('42 00000012 00 00 0000 0001 00000010 4142 0000');
    expect(() => readBindParams(f, readBindHead(f).restOffset)).toThrow(ProtocolError);
  });

  it('rebinds a Bind to another statement, keeping formats and values', () => {
    const f = hex('42 0000001a 00 733100 0001 0001 0002 00000004 00000007 ffffffff 0000');
    const head = readBindHead(f);
    const r = w.rebind(f, 'p', '', head.restOffset);
    expect(readBindHead(r)).toMatchObject({ portal: 'p', statement: '' });
    expect(readBindParams(r, readBindHead(r).restOffset)).toEqual(readBindParams(f, head.restOffset));
  });

  it('encodes and decodes Execute, Describe and Close targets', () => {
    const ex = w.execute('p1', 10);
    expect(ex).toEqual(hex('45 0000000b 703100 0000000a'));
    expect(readExecutePortal(ex)).toBe('p1');
    expect(readTarget(hex('44 00000008 53 733100'))).toEqual({ type: 0x53, name: 's1' });
    expect(readTarget(hex('43 00000006 50 00'))).toEqual({ type: 0x50, name: '' });
  });

  it('encodes the fixed frames', () => {
    expect(w.SYNC).toEqual(hex('53 00000004'));
    expect(w.TERMINATE).toEqual(hex('58 00000004'));
    expect(w.SSL_REQUEST).toEqual(hex('00000008 04d2162f'));
    expect(w.bindEmpty('', '')).toEqual(hex('42 0000000c 00 00 0000 0000 0000'));
  });

  it('classifies frontend type bytes like the server', () => {
    expect(FE_KIND[Fe.Query]).toBe(2);
    expect(FE_KIND[Fe.Sync]).toBe(1);
    expect(FE_KIND[0x01]).toBe(0);
    expect(FE_KIND['Z'.charCodeAt(0)]).toBe(0);
  });
});

describe('startup packets', () => {
  it('decodes a 3.0 StartupMessage', () => {
    const b = w.startupMessage({ user: 'alice', database: 'db', application_name: 'psql' });
    expect(b.readInt32BE(0)).toBe(b.length);
    expect(b.readInt32BE(4)).toBe(StartupCode.Protocol30);
    const p = readStartupPacket(b);
    expect(p).toEqual({ kind: 'startup', major: 3, minor: 0, params: new Map([['user', 'alice'], ['database', 'db'], ['application_name', 'psql']]) });
  });

  it('decodes a 3.2 StartupMessage', () => {
    const p = readStartupPacket(w.startupMessage({ user: 'u' }, 2));
    expect(p).toMatchObject({ kind: 'startup', major: 3, minor: 2 });
  });

  it('decodes SSLRequest, GSSENCRequest and CancelRequest with short and long keys', () => {
    expect(readStartupPacket(hex('00000008 04d2162f'))).toEqual({ kind: 'ssl' });
    expect(readStartupPacket(hex('00000008 04d21630'))).toEqual({ kind: 'gssenc' });
    const short = readStartupPacket(hex('00000010 04d2162e 00003039 deadbeef'));
    expect(short).toEqual({ kind: 'cancel', pid: 12345, key: hex('deadbeef') });
    const long = w.cancelRequest(7, Buffer.alloc(32, 0xab));
    expect(readStartupPacket(long)).toEqual({ kind: 'cancel', pid: 7, key: Buffer.alloc(32, 0xab) });
  });

  it('rejects protocol 2 and a packet without its terminator', () => {
    expect(() => readStartupPacket(hex('00000009 00020000 00'))).toThrow(/unsupported frontend protocol 2.0/);
    expect(() => readStartupPacket(hex('0000000d 00030000 7573657200'))).toThrow(ProtocolError);
  });
});

describe('backend messages', () => {
  // ErrorResponse: S ERROR, V ERROR, C 42P01, M relation "t" does not exist
  const error = hex(
    '45 00000037 53 4552524f5200 56 4552524f5200 43 343250303100 4d 72656c6174696f6e2022742220646f6573206e6f7420657869737400 00',
  );

  it('reads ErrorResponse fields and the SQLSTATE alone', () => {
    expect(readSqlState(error)).toBe('42P01');
    expect(readFields(error).get('M')).toBe('relation "t" does not exist');
    expect(w.errorResponse({ severity: 'ERROR', code: '42P01', message: 'relation "t" does not exist' })).toEqual(error);
  });

  it('encodes NoticeResponse with detail and hint', () => {
    const n = w.noticeResponse({ severity: 'WARNING', code: '01000', message: 'm', detail: 'd', hint: 'h' });
    expect(n[0]).toBe(0x4e);
    expect(Object.fromEntries(readFields(n))).toEqual({ S: 'WARNING', V: 'WARNING', C: '01000', M: 'm', D: 'd', H: 'h' });
  });

  it('reads command tags and their row counts', () => {
    expect(readCommandTag(hex('43 0000000d 494e5345525420302035 00'))).toBe('INSERT 0 5');
    expect(rowsFromTag('INSERT 0 5')).toBe(5);
    expect(rowsFromTag('SELECT 3')).toBe(3);
    expect(rowsFromTag('BEGIN')).toBe(0);
    expect(rowsFromTag('CREATE TABLE')).toBe(0);
  });

  it('reads ParameterStatus and BackendKeyData of both protocol versions', () => {
    expect(readParameterStatus(hex('53 00000019 6170706c69636174696f6e5f6e616d6500 707371 6c00'))).toEqual(['application_name', 'psql']);
    const k30 = hex('4b 0000000c 00000064 01020304');
    expect(readBackendKeyData(k30)).toEqual({ pid: 100, key: hex('01020304') });
    const k32 = w.backendKeyData(100, Buffer.alloc(32, 9));
    expect(k32.readInt32BE(1)).toBe(4 + 4 + 32);
    expect(readBackendKeyData(k32)).toEqual({ pid: 100, key: Buffer.alloc(32, 9) });
    w.overwriteBackendKeyData(k32, 7, Buffer.alloc(32, 3));
    expect(readBackendKeyData(k32)).toEqual({ pid: 7, key: Buffer.alloc(32, 3) });
    expect(() => w.overwriteBackendKeyData(k32, 7, Buffer.alloc(4))).toThrow(RangeError);
  });

  it('reads and rewrites the SASL mechanism list', () => {
    const f = w.authenticationSasl(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
    expect(f).toEqual(hex('52 0000002a 0000000a 534352414d2d5348412d3235362d504c555300 534352414d2d5348412d32353600 00'));
    expect(readSaslMechanisms(f)).toEqual(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
  });

  it('encodes result sets a client can read back', () => {
    const rd = w.rowDescription([{ name: 'a' }, { name: 'b', typeOid: 23 }]);
    expect(rd[0]).toBe(0x54);
    expect(rd.readInt16BE(5)).toBe(2);
    const dr = w.dataRow(['x', null]);
    expect(dr).toEqual(hex('44 0000000f 0002 00000001 78 ffffffff'));
    expect(w.readyForQuery(0x49)).toEqual(hex('5a 00000005 49'));
    expect(w.commandComplete('SELECT 1')).toEqual(hex('43 0000000d 53454c4543542031 00'));
  });
});
