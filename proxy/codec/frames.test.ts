import { describe, expect, it } from 'vitest';
import { FrameReader, Take, Verdict, type FrameVisitor } from './frames.ts';
import * as w from './write.ts';

/** A visitor that records what it saw and applies a fixed policy per type byte. */
function recorder(policy: Record<string, Take> = {}, verdicts: Record<string, Verdict> = {}) {
  const seen: string[] = [];
  const wholes: Buffer[] = [];
  const prefixes: { head: Buffer; total: number }[] = [];
  let keep = true;
  const visitor: FrameVisitor = {
    header(type, length) {
      if (length < 4) return -1;
      seen.push(String.fromCharCode(type));
      return policy[String.fromCharCode(type)] ?? Take.Pass;
    },
    whole(frame) {
      wholes.push(Buffer.from(frame));
      return verdicts[String.fromCharCode(frame[0]!)] ?? Verdict.Forward;
    },
    prefix(head, total) {
      prefixes.push({ head: Buffer.from(head), total });
      return keep;
    },
  };
  return { visitor, seen, wholes, prefixes, drop: () => (keep = false) };
}

const joined = (r: FrameReader) => Buffer.concat(r.out.splice(0));

describe('FrameReader', () => {
  const q1 = w.query('select 1');
  const q2 = w.query('select 2');
  const both = Buffer.concat([q1, w.SYNC, q2]);

  it('forwards an unhooked chunk as the very same buffer', () => {
    const rec = recorder();
    const r = new FrameReader(rec.visitor);
    r.push(both);
    expect(r.out).toHaveLength(1);
    expect(r.out[0]).toBe(both);
    expect(rec.seen).toEqual(['Q', 'S', 'Q']);
  });

  it('reassembles frames split at every byte boundary', () => {
    for (let cut = 1; cut < both.length; cut++) {
      const rec = recorder({ Q: Take.Whole });
      const r = new FrameReader(rec.visitor);
      r.push(both.subarray(0, cut));
      r.push(both.subarray(cut));
      expect(joined(r)).toEqual(both);
      expect(rec.wholes).toEqual([q1, q2]);
    }
  });

  it('drops a frame and emits a replacement in its place', () => {
    const rec = recorder({ Q: Take.Whole }, { Q: Verdict.Drop });
    const r = new FrameReader({
      ...rec.visitor,
      whole(frame) {
        rec.visitor.whole(frame);
        r.emit(w.query('replaced'));
        return Verdict.Drop;
      },
    });
    r.push(Buffer.concat([q1, w.SYNC]));
    expect(joined(r)).toEqual(Buffer.concat([w.query('replaced'), w.SYNC]));
  });

  it('holds input while paused and continues on resume', () => {
    const rec = recorder({ Q: Take.Whole }, { Q: Verdict.Pause });
    const r = new FrameReader(rec.visitor);
    r.push(both);
    expect(r.isPaused).toBe(true);
    expect(rec.wholes).toHaveLength(1);
    r.push(w.SYNC);
    expect(joined(r)).toEqual(Buffer.alloc(0));
    r.emit(q1);
    r.resume();
    // After the first Query (re-emitted by the visitor) the rest flows; the second Query pauses again.
    expect(joined(r)).toEqual(Buffer.concat([q1, w.SYNC]));
    expect(r.isPaused).toBe(true);
    r.resume();
    expect(joined(r)).toEqual(w.SYNC);
  });

  it('streams a large frame it passes without buffering it', () => {
    const big = Buffer.concat([Buffer.from([0x64]), Buffer.alloc(4), Buffer.alloc(100_000, 7)]);
    big.writeInt32BE(big.length - 1, 1);
    const rec = recorder();
    const r = new FrameReader(rec.visitor);
    const chunks = [big.subarray(0, 3), big.subarray(3, 50_000), big.subarray(50_000), w.SYNC];
    const outs: number[] = [];
    for (const c of chunks) {
      r.push(c);
      outs.push(joined(r).length);
    }
    // The 3-byte partial header is held; everything after is forwarded as it arrives.
    expect(outs).toEqual([0, 50_000, big.length - 50_000, 5]);
    expect(rec.seen).toEqual(['d', 'S']);
  });

  it('hands over a prefix of an oversized frame, then streams or drops the rest', () => {
    const body = Buffer.alloc(20_000, 1);
    const bind = Buffer.concat([Buffer.from([0x42, 0, 0, 0, 0]), body]);
    bind.writeInt32BE(bind.length - 1, 1);
    for (const keep of [true, false]) {
      const rec = recorder({ B: Take.Prefix });
      if (!keep) rec.drop();
      const r = new FrameReader(rec.visitor, 4096);
      r.push(bind.subarray(0, 100));
      expect(rec.prefixes).toHaveLength(0);
      r.push(bind.subarray(100, 10_000));
      r.push(bind.subarray(10_000));
      r.push(w.SYNC);
      expect(rec.prefixes).toHaveLength(1);
      expect(rec.prefixes[0]!.total).toBe(bind.length);
      expect(joined(r)).toEqual(keep ? Buffer.concat([bind, w.SYNC]) : w.SYNC);
    }
  });

  it('stops at an invalid header and forwards what came before it', () => {
    const rec = recorder();
    const r = new FrameReader(rec.visitor);
    const bad = Buffer.from([0x51, 0, 0, 0, 2]);
    r.push(Buffer.concat([w.SYNC, bad, w.SYNC]));
    expect(joined(r)).toEqual(w.SYNC);
    r.push(w.SYNC);
    expect(r.out).toHaveLength(0);
  });
});

describe('FrameReader output runs', () => {
  it('keeps frames it reads whole but forwards untouched in the same run', () => {
    const rec = recorder({ Q: Take.Whole, S: Take.Whole });
    const r = new FrameReader(rec.visitor);
    const chunk = Buffer.concat([w.query('a'), w.SYNC, w.query('b')]);
    r.push(chunk);
    expect(r.out).toHaveLength(1);
    expect(r.out[0]).toBe(chunk);
  });

  it('puts frames emitted during whole() after the bytes before the frame', () => {
    const r: FrameReader = new FrameReader({
      header: () => Take.Whole,
      whole(frame) {
        if (frame[0] === 0x51) r.emit(w.query('notice-ish'));
        return Verdict.Forward;
      },
      prefix: () => true,
    });
    r.push(Buffer.concat([w.SYNC, w.query('a'), w.SYNC]));
    expect(Buffer.concat(r.out)).toEqual(Buffer.concat([w.SYNC, w.query('notice-ish'), w.query('a'), w.SYNC]));
  });
});
