// Durable small-file replacement for the ledger's signing and witness state: written to a temp
// file (mode 0600), fsynced, renamed over the old one, and the directory fsynced, so after a crash
// either the old or the new content is there, never a torn mix.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export function writeFileAtomic(dir: string, name: string, data: string): void {
  const tmp = join(dir, `.${name}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
