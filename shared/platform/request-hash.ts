/**
 * The fingerprint of a request, stored with its Idempotency-Key to tell a replay from a different request
 * under the same key. An HMAC-SHA256 keyed by a server secret, not a plain hash: the request may hold a
 * password (bootstrap's), and a plain hash of a short password in a stored row is found by trying them all.
 * Without the secret, a row tells nothing about the request it came from.
 */
import { createHmac } from 'node:crypto';
import { zMini, type EnvShape } from './env-schema.ts';

/** The shortest accepted secret: 32 characters. */
export const FINGERPRINT_SECRET_MIN_LENGTH = 32;

/**
 * What a function with idempotent operations (bootstrap, provision) adds to its configuration: without
 * the secret it does not start. Here, not in the store, so that the configuration loads no database code.
 */
export const idempotencySecretShape = {
  /**
   * The key of the request fingerprints stored with Idempotency-Keys (HMAC-SHA256), at least 32
   * characters: a stored row cannot be brute-forced back to the request (and a password in it) without it.
   * Changing it makes keys stored before answer 422 to their replays until they expire (24 h).
   */
  IDEMPOTENCY_KEY_SECRET: zMini.string().check(zMini.minLength(FINGERPRINT_SECRET_MIN_LENGTH)),
} satisfies EnvShape;

/** HMAC-SHA256 (hex) of the request's canonical JSON (object keys sorted, so key order does not matter). */
export function fingerprintRequest(value: unknown, secret: string): string {
  if (secret.length < FINGERPRINT_SECRET_MIN_LENGTH)
    throw new Error(
      `the request fingerprint secret must be at least ${FINGERPRINT_SECRET_MIN_LENGTH} characters`,
    );
  return createHmac('sha256', secret).update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return value === undefined ? 'null' : JSON.stringify(value);
}
