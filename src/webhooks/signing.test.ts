import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.ts';
import { generateSecret, parseSecret, signatureHeaders, Signer } from './signing.ts';

const nowSeconds = () => Math.floor(Date.now() / 1000);
const body = JSON.stringify({ type: 'row.insert', table: 'public.users', data: { id: 7, name: 'Zoë', tags: ['a', 'b'] } });

function verifies(secret: string, payload: string | Buffer, headers: Record<string, string>): boolean {
  try {
    new Webhook(secret).verify(payload, headers);
    return true;
  } catch {
    return false;
  }
}

describe('generateSecret / parseSecret', () => {
  it('makes whsec_ secrets of 32 random bytes by default, any size from 24 to 64 on request', () => {
    const s = generateSecret();
    expect(s).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(parseSecret(s)).toHaveLength(32);
    expect(parseSecret(generateSecret(24))).toHaveLength(24);
    expect(parseSecret(generateSecret(64))).toHaveLength(64);
    expect(generateSecret()).not.toBe(s);
    expect(() => generateSecret(16)).toThrow(/24 to 64 bytes/);
    expect(() => generateSecret(65)).toThrow(/24 to 64 bytes/);
  });

  it('decodes the base64 after the prefix', () => {
    const key = randomBytes(40);
    expect(parseSecret('whsec_' + key.toString('base64')).equals(key)).toBe(true);
  });

  it('rejects malformed secrets with a message that does not echo the secret', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      [randomBytes(32).toString('base64'), /must start with "whsec_"/],
      ['whsec_', /nothing after "whsec_"/],
      ['whsec_' + randomBytes(32).toString('base64url'), /not valid base64.*base64url/],
      ['whsec_' + randomBytes(32).toString('base64').replace(/=+$/, '') + '@', /not valid base64/],
      ['whsec_' + randomBytes(30).toString('base64').slice(0, -1), /not valid base64/],
      ['whsec_' + randomBytes(16).toString('base64'), /decodes to 16 bytes; it must be 24 to 64 bytes/],
      ['whsec_' + randomBytes(65).toString('base64'), /decodes to 65 bytes/],
    ];
    for (const [secret, message] of cases) {
      let error: unknown;
      try {
        parseSecret(secret);
      } catch (err) {
        error = err;
      }
      expect(error, secret).toBeInstanceOf(UserError);
      expect((error as Error).message).toMatch(message);
      if (secret.length > 6) expect((error as Error).message).not.toContain(secret.slice(6));
    }
  });
});

describe('signatureHeaders', () => {
  it('produces the three Standard Webhooks headers, which the reference library verifies', () => {
    const secret = generateSecret();
    const ts = nowSeconds();
    const headers = signatureHeaders('0/16B3748:3', ts, body, [secret]);
    expect(Object.keys(headers)).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    expect(headers['webhook-id']).toBe('0/16B3748:3');
    expect(headers['webhook-timestamp']).toBe(String(ts));
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('signs a Buffer body the same as the equivalent string', () => {
    const secret = generateSecret();
    const ts = nowSeconds();
    const fromString = signatureHeaders('msg_1', ts, body, [secret]);
    const fromBuffer = signatureHeaders('msg_1', ts, Buffer.from(body), [secret]);
    expect(fromBuffer).toEqual(fromString);
    expect(verifies(secret, Buffer.from(body), fromBuffer)).toBe(true);
  });

  it('signs with every active secret during a rotation, so either one verifies', () => {
    const oldSecret = generateSecret();
    const newSecret = generateSecret(48);
    const headers = signatureHeaders('msg_2', nowSeconds(), body, [newSecret, oldSecret]);
    const parts = headers['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    expect(parts.every((p) => p.startsWith('v1,'))).toBe(true);
    expect(verifies(oldSecret, body, headers)).toBe(true);
    expect(verifies(newSecret, body, headers)).toBe(true);
    expect(verifies(generateSecret(), body, headers)).toBe(false);
    // Listing the same secret twice signs once.
    expect(signatureHeaders('msg_2', 1, body, [oldSecret, oldSecret])['webhook-signature'].split(' ')).toHaveLength(1);
  });

  it('fails verification for a tampered body, a re-serialized body, a wrong secret or an old timestamp', () => {
    const secret = generateSecret();
    const pretty = JSON.stringify(JSON.parse(body), null, 2);
    const reordered = JSON.stringify({ data: JSON.parse(body).data, table: 'public.users', type: 'row.insert' });
    const headers = signatureHeaders('msg_3', nowSeconds(), body, [secret]);
    expect(verifies(secret, body, headers)).toBe(true);
    expect(verifies(secret, body.replace('7', '8'), headers)).toBe(false);
    expect(verifies(secret, body + ' ', headers)).toBe(false);
    expect(verifies(secret, pretty, headers)).toBe(false);
    expect(verifies(secret, reordered, headers)).toBe(false);
    expect(verifies(generateSecret(), body, headers)).toBe(false);
    // The id and timestamp are signed too.
    expect(verifies(secret, body, { ...headers, 'webhook-id': 'msg_4' })).toBe(false);
    expect(verifies(secret, body, { ...headers, 'webhook-timestamp': String(nowSeconds() - 1) })).toBe(false);
    // Signed correctly, but more than 5 minutes ago: a replay.
    const old = signatureHeaders('msg_3', nowSeconds() - 6 * 60, body, [secret]);
    expect(verifies(secret, body, old)).toBe(false);
    expect(() => new Webhook(secret).verify(body, old)).toThrow(/too old/);
  });

  it('rejects ids and timestamps that would make the signed content ambiguous or the headers invalid', () => {
    const signer = new Signer([generateSecret()]);
    expect(() => signer.headers('a.b', 1, body)).toThrow(/without "\."/);
    expect(() => signer.headers('', 1, body)).toThrow(/non-empty/);
    expect(() => signer.headers('a\r\nx-evil: 1', 1, body)).toThrow(/visible ASCII/);
    expect(() => signer.headers('a', 1.5, body)).toThrow(/whole Unix seconds/);
    expect(() => signer.headers('a', -1, body)).toThrow(/whole Unix seconds/);
  });

  it('needs at least one valid secret', () => {
    expect(() => signatureHeaders('a', 1, body, [])).toThrow(/at least one signing secret/);
    expect(() => new Signer([generateSecret(), 'whsec_short'])).toThrow(UserError);
  });

  it('gives the same signature as the reference implementation for fixed inputs', () => {
    const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
    const ts = 1_674_087_231;
    const expected = new Webhook(secret).sign('msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', new Date(ts * 1000), body);
    expect(new Signer([secret]).signature('msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', ts, body)).toBe(expected);
  });
});
