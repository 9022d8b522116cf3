// PostgreSQL WAL positions: "X/Y", two 32-bit hex halves of a 64-bit byte position.

export type Lsn = bigint;

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function parseLsn(text: string): Lsn {
  const m = LSN.exec(text);
  if (!m) throw new Error(`invalid LSN ${JSON.stringify(text)}: expected two hex numbers like 0/16B3748`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function isLsn(text: unknown): text is string {
  return typeof text === 'string' && LSN.test(text);
}
