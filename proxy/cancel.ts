// Cancel keys. Clients get the proxy's own (pid, key) in BackendKeyData; a CancelRequest is
// honoured only when both match, then forwarded with the server's real pid and key. So one
// client can never cancel another's query, and server keys never leave the proxy.

import { randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

export interface Cancellable {
  cancelUpstream(): void;
}

export class CancelKeys {
  private readonly byPid = new Map<number, { key: Buffer; target: Cancellable }>();

  /** Issues a key of `keyLength` bytes: 4 in protocol 3.0, up to 256 in 3.2. */
  issue(target: Cancellable, keyLength: number): { pid: number; key: Buffer } {
    let pid: number;
    do pid = randomInt(1, 0x7fffffff);
    while (this.byPid.has(pid));
    const key = randomBytes(keyLength);
    this.byPid.set(pid, { key, target });
    return { pid, key };
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
