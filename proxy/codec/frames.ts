// Incremental splitter for typed protocol frames (1 type byte + int32 length including itself).
//
// It never copies frames it forwards: output is a list of subarrays of the input chunks, in
// contiguous runs, so an unhooked chunk goes out as the very same Buffer. Frames the visitor
// wants to read are handed over whole (buffered only up to a size limit); larger ones are
// handed over as a prefix and the rest streams through, or is dropped, as the visitor decides.

/** What to do with a frame, decided from its header. */
export const enum Take {
  /** Forward the bytes as they come, without looking inside. */
  Pass = 0,
  /** Buffer the whole frame and hand it to `whole()`. */
  Whole = 1,
  /** Too large to buffer: hand a prefix to `prefix()`, then stream or drop the rest. */
  Prefix = 2,
}

/** What `whole()` did with the frame. */
export const enum Verdict {
  Forward = 0,
  /** Not forwarded; the visitor may have emitted replacements. */
  Drop = 1,
  /** The visitor went asynchronous: stop here until `resume()`; the frame counts as consumed. */
  Pause = 2,
}

export interface FrameVisitor {
  /** Called for every frame header; may return -1 for an invalid header (the reader stops). */
  header(type: number, length: number): Take | -1;
  whole(frame: Buffer): Verdict;
  /** At least `prefixBytes` of the frame (or all of it). Return true to stream the rest, false to drop it. */
  prefix(head: Buffer, totalBytes: number): boolean;
}

const HEADER = 5;

export class FrameReader {
  /** Output of the last `push()`/`resume()`, in order. The caller writes then clears it. */
  readonly out: Buffer[] = [];
  /** Bytes still to stream (or drop) of a frame whose start was already handled. */
  private streamLeft = 0;
  private streamDrop = false;
  /** Input not yet consumed: a partial header or a frame being buffered, or input held while paused. */
  private held: Buffer[] = [];
  private heldLen = 0;
  /** Bytes the frame at the start of `held` needs before it can be processed. */
  private need = HEADER;
  private paused = false;
  private failed = false;

  constructor(
    private readonly visitor: FrameVisitor,
    private readonly prefixBytes = 4096,
  ) {}

  get isPaused(): boolean {
    return this.paused;
  }

  /** True between frames: nothing half-read. */
  get atBoundary(): boolean {
    return this.streamLeft === 0 && this.heldLen === 0;
  }

  /** Input is held (a partial or paused frame): its buffers must not be reused yet. */
  get holding(): boolean {
    return this.heldLen > 0;
  }

  /** Emit a replacement or injected frame at the current position of the output. */
  emit(buf: Buffer): void {
    this.out.push(buf);
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    if (this.paused || this.heldLen > 0) {
      this.held.push(chunk);
      this.heldLen += chunk.length;
      if (this.paused || this.heldLen < this.need) return;
      const all = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldLen);
      this.held = [];
      this.heldLen = 0;
      this.need = HEADER;
      this.scan(all);
      return;
    }
    this.scan(chunk);
  }

  /** Continue after a Pause verdict. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.heldLen === 0) return;
    const all = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldLen);
    this.held = [];
    this.heldLen = 0;
    this.need = HEADER;
    this.scan(all);
  }

  private hold(rest: Buffer, need: number): void {
    this.held.push(rest);
    this.heldLen = rest.length;
    this.need = need;
  }

  private scan(buf: Buffer): void {
    const out = this.out;
    const v = this.visitor;
    const len = buf.length;
    let off = 0;
    if (this.streamLeft > 0) {
      const n = Math.min(this.streamLeft, len);
      if (!this.streamDrop) out.push(n === len ? buf : buf.subarray(0, n));
      this.streamLeft -= n;
      off = n;
    }
    let run = off;
    while (off < len) {
      const avail = len - off;
      if (avail < HEADER) {
        if (run < off) out.push(buf.subarray(run, off));
        this.hold(buf.subarray(off), HEADER);
        return;
      }
      const type = buf[off]!;
      const total = 1 + buf.readInt32BE(off + 1);
      const take = v.header(type, total - 1);
      if (take === -1) {
        if (run < off) out.push(buf.subarray(run, off));
        this.failed = true;
        return;
      }
      if (take === Take.Pass) {
        if (avail >= total) {
          off += total;
          continue;
        }
        this.streamLeft = total - avail;
        this.streamDrop = false;
        off = len;
        break;
      }
      if (take === Take.Whole || total <= this.prefixBytes) {
        if (avail < total) {
          if (run < off) out.push(buf.subarray(run, off));
          this.hold(buf.subarray(off), total);
          return;
        }
        const before = out.length;
        const verdict = v.whole(buf.subarray(off, off + total));
        if (verdict === Verdict.Forward && out.length === before) {
          // Forwarded untouched: it stays part of the current run, so the chunk goes out in one piece.
          off += total;
          continue;
        }
        if (run < off) out.splice(before, 0, buf.subarray(run, off));
        if (verdict === Verdict.Forward) out.push(buf.subarray(off, off + total));
        off += total;
        run = off;
        if (verdict === Verdict.Pause) {
          this.paused = true;
          if (off < len) this.hold(buf.subarray(off), HEADER);
          return;
        }
        continue;
      }
      // Take.Prefix on a frame larger than prefixBytes.
      if (avail < this.prefixBytes) {
        if (run < off) out.push(buf.subarray(run, off));
        this.hold(buf.subarray(off), this.prefixBytes);
        return;
      }
      if (run < off) out.push(buf.subarray(run, off));
      const keep = v.prefix(buf.subarray(off, Math.min(len, off + total)), total);
      const here = Math.min(avail, total);
      if (keep) out.push(buf.subarray(off, off + here));
      off += here;
      run = off;
      if (here < total) {
        this.streamLeft = total - here;
        this.streamDrop = !keep;
      }
    }
    if (run < len) out.push(run === 0 ? buf : buf.subarray(run, len));
  }
}
