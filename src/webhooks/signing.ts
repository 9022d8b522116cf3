// Standard Webhooks signatures (https://www.standardwebhooks.com/, spec v1.0.0, symmetric scheme).
//
// Protocol facts this module implements:
// - A secret is `whsec_` + base64 of 24 to 64 random bytes (192 to 512 bits).
// - The signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the body byte for byte as
//   sent: receivers must verify the raw body, never a re-serialized one.
// - A signature is `v1,` + base64(HMAC-SHA256(key, content)); the `webhook-signature` header is a
//   space-separated list of them, one per active secret, so that during a rotation both the old
//   and the new secret sign and a receiver holding either one verifies.
// - `webhook-timestamp` is integer Unix seconds of this attempt (receivers reject it when more
//   than about 5 minutes off, against replays), so every retry is signed anew.
// - The id and timestamp must not contain `.`, else the content would be ambiguous.
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { UserError } from '../errors.ts';

export const SECRET_PREFIX = 'whsec_';
export const MIN_SECRET_BYTES = 24;
export const MAX_SECRET_BYTES = 64;
/** What generateSecret() makes by default: 256 bits, as common providers do. */
export const DEFAULT_SECRET_BYTES = 32;

// A type alias rather than an interface, so that it also fits Record<string, string> parameters.
export type SignatureHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

// Standard base64 with padding, which is what receivers' libraries decode (base64url is not).
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Visible ASCII except `.`: the id is a header value (no CR/LF) and a field of the signed content.
const MESSAGE_ID = /^[\x21-\x2d\x2f-\x7e]+$/;

export function generateSecret(bytes: number = DEFAULT_SECRET_BYTES): string {
  if (!Number.isInteger(bytes) || bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES) {
    throw new RangeError(`webhook secret size must be ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes, got ${bytes}`);
  }
  return SECRET_PREFIX + randomBytes(bytes).toString('base64');
}

/**
 * Decodes a `whsec_…` secret into its key bytes. Error messages describe the problem without
 * echoing the secret.
 */
export function parseSecret(secret: string): Buffer {
  if (typeof secret !== 'string' || secret === '') throw new UserError('webhook secret is empty');
  if (!secret.startsWith(SECRET_PREFIX)) {
    throw new UserError(`webhook secret must start with "${SECRET_PREFIX}" followed by base64`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (encoded === '') throw new UserError(`webhook secret has nothing after "${SECRET_PREFIX}"`);
  if (!BASE64.test(encoded)) {
    throw new UserError(
      `webhook secret is not valid base64 after "${SECRET_PREFIX}": expected the standard alphabet ` +
        '(A-Z a-z 0-9 + /) padded with = to a multiple of 4 characters, without spaces or base64url (- _)',
    );
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    throw new UserError(
      `webhook secret decodes to ${key.length} bytes; it must be ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes`,
    );
  }
  return key;
}

/**
 * Signs with a fixed set of secrets, decoded once. Hold one per endpoint and replace it when the
 * endpoint's secrets change (rotation start and end).
 */
export class Signer {
  readonly #keys: KeyObject[];

  /** `secrets`: the active secrets, current first; each one signs every message. */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new UserError('a webhook endpoint needs at least one signing secret');
    const seen = new Set<string>();
    this.#keys = [];
    for (const secret of secrets) {
      const key = parseSecret(secret);
      const hex = key.toString('hex');
      // The same secret listed twice would only repeat its signature.
      if (seen.has(hex)) continue;
      seen.add(hex);
      this.#keys.push(createSecretKey(key));
    }
  }

  /** The `webhook-signature` header value: `v1,<base64>` per secret, space-separated. */
  signature(id: string, timestampSeconds: number, body: string | Buffer): string {
    if (!MESSAGE_ID.test(id)) {
      throw new RangeError('webhook id must be non-empty visible ASCII without "." or spaces');
    }
    if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
      throw new RangeError(`webhook timestamp must be whole Unix seconds, got ${timestampSeconds}`);
    }
    const prefix = `${id}.${timestampSeconds}.`;
    let header = '';
    for (const key of this.#keys) {
      const hmac = createHmac('sha256', key);
      // One update for a string body: concatenation is cheaper than a second native call for
      // the small bodies webhooks carry. A Buffer body is hashed as is, without a copy.
      if (typeof body === 'string') hmac.update(prefix + body);
      else hmac.update(prefix).update(body);
      const sig = 'v1,' + hmac.digest('base64');
      header = header === '' ? sig : header + ' ' + sig;
    }
    return header;
  }

  headers(id: string, timestampSeconds: number, body: string | Buffer): SignatureHeaders {
    return {
      'webhook-id': id,
      'webhook-timestamp': String(timestampSeconds),
      'webhook-signature': this.signature(id, timestampSeconds, body),
    };
  }
}

/**
 * One-off signing. It decodes the secrets on every call; delivery loops should hold a Signer.
 */
export function signatureHeaders(
  id: string,
  timestampSeconds: number,
  body: string | Buffer,
  secrets: readonly string[],
): SignatureHeaders {
  return new Signer(secrets).headers(id, timestampSeconds, body);
}
