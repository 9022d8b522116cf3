// Cancel keys. Clients get the proxy's own (pid, key) in BackendKeyData; a CancelRequest is
// honoured only when both match, then forwarded with the server's real pid and key. So one
// client can never cancel another's query, and server keys never leave the proxy.

import { randomFillSync, timingSafeEqual } from 'node:crypto';

export interface Cancellable {
  cancelUpstream(): void;
}

export class CancelKeys {
  private readonly byPid = new Map<number, { key: Buffer; target: Cancellable }>();

  /** Random bytes drawn in bulk: one CSPRNG call serves many connections. */
  private pool = Buffer.allocUnsafe(4096);
  private poolUsed = this.pool.length;

  /** Issues a key of `keyLength` bytes: 4 in protocol 3.0, up to 256 in 3.2. */
  issue(target: Cancellable, keyLength: number): { pid: number; key: Buffer } {
    let pid: number;
    do pid = this.random(4).readUInt32BE(0) & 0x7fffffff;
    while (pid === 0 || this.byPid.has(pid));
    const key = Buffer.from(this.random(keyLength));
    this.byPid.set(pid, { key, target });
    return { pid, key };
  }

  /** A view of fresh random bytes, valid until the next call. */
  private random(n: number): Buffer {
    if (this.poolUsed + n > this.pool.length) {
      randomFillSync(this.pool);
      this.poolUsed = 0;
    }
    const b = this.pool.subarray(this.poolUsed, this.poolUsed + n);
    this.poolUsed += n;
    return b;
  }

  revoke(pid: number): void {
    this.byPid.delete(pid);
  }

  /** Returns true when the request matched a live session and was forwarded. */
  cancel(pid: number, key: Buffer): boolean {
    const e = this.byPid.get(pid);
    if (!e || e.key.length !== key.length || !timingSafeEqual(e.key, key)) return false;
    e.target.cancelUpstream();
    return true;
  }
}
