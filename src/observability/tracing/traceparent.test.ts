import { describe, expect, it } from 'vitest';
import { parseTraceparent } from './traceparent.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

describe('parseTraceparent', () => {
  it('parses a version-00 traceparent', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ version: 0, traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ version: 0, traceId: TRACE, spanId: SPAN, traceFlags: 0 });
    // Level 2's random flag is a version-00 flag.
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.traceFlags).toBe(3);
  });

  it('rejects all-zero trace and span ids', () => {
    expect(parseTraceparent(`00-${'0'.repeat(32)}-${SPAN}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${'0'.repeat(16)}-01`)).toBeUndefined();
  });

  it('rejects wrong lengths and misplaced dashes', () => {
    expect(parseTraceparent(`00-${TRACE.slice(1)}-${SPAN}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${SPAN}1-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-1`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01-extra`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01 `)).toBeUndefined();
    expect(parseTraceparent(` 00-${TRACE}-${SPAN}-01`)).toBeUndefined();
    expect(parseTraceparent(`00_${TRACE}-${SPAN}-01`)).toBeUndefined();
    expect(parseTraceparent('')).toBeUndefined();
  });

  it('rejects uppercase and non-hex characters', () => {
    expect(parseTraceparent(`00-${TRACE.toUpperCase()}-${SPAN}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${SPAN.toUpperCase()}-01`)).toBeUndefined();
    expect(parseTraceparent(`0A-${TRACE}-${SPAN}-01`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-0F`)).toBeUndefined();
    expect(parseTraceparent(`00-${TRACE.replace('a', 'g')}-${SPAN}-01`)).toBeUndefined();
  });

  it('rejects version ff', () => {
    expect(parseTraceparent(`ff-${TRACE}-${SPAN}-01`)).toBeUndefined();
  });

  it('parses a future version, with or without fields after a dash, keeping only the known flags', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01`)).toEqual({ version: 1, traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-09-what-the-future-holds`)).toEqual({ version: 0xcc, traceId: TRACE, spanId: SPAN, traceFlags: 1 });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01x`)).toBeUndefined();
    expect(parseTraceparent(`cc-${'0'.repeat(32)}-${SPAN}-01`)).toBeUndefined();
  });
});
