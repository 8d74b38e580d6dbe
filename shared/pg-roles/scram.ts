/**
 * SCRAM-SHA-256 verifiers computed in the function (RFC 5802, RFC 7677, and PostgreSQL's storage format
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, all base64), so that a password is set with
 * `ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'` and the plaintext never reaches the server, its statement
 * log or any log line; and so that a stored verifier can be checked against a Secret's password with the
 * stored salt and iteration count (PBKDF2 through node:crypto, on libuv's thread pool).
 *
 * PostgreSQL prepares the password with SASLprep before hashing; for ASCII passwords that is the identity.
 * For other passwords the function applies Unicode NFKC normalisation, the main part of SASLprep (the
 * rest only rejects characters a Secret value does not hold in practice).
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

export const SCRAM_PREFIX = 'SCRAM-SHA-256$';
/** PostgreSQL's default (scram_iterations since 16; fixed in 15). */
export const DEFAULT_ITERATIONS = 4096;
const SALT_BYTES = 16;

export interface ScramVerifier {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

const B64 = '[A-Za-z0-9+/]+={0,2}';
const FORMAT = new RegExp(`^SCRAM-SHA-256\\$(\\d+):(${B64})\\$(${B64}):(${B64})$`);

/** Parses a stored verifier; undefined for anything else (md5, plaintext, null, a malformed value). */
export function parseVerifier(stored: string | null | undefined): ScramVerifier | undefined {
  const m = stored == null ? null : FORMAT.exec(stored);
  if (m === null) return undefined;
  const iterations = Number(m[1]);
  if (!Number.isSafeInteger(iterations) || iterations < 1) return undefined;
  return {
    iterations,
    salt: Buffer.from(m[2] ?? '', 'base64'),
    storedKey: Buffer.from(m[3] ?? '', 'base64'),
    serverKey: Buffer.from(m[4] ?? '', 'base64'),
  };
}

function prepare(password: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(password) ? password : password.normalize('NFKC');
}

async function keys(
  password: string,
  salt: Buffer,
  iterations: number,
): Promise<{ storedKey: Buffer; serverKey: Buffer }> {
  const salted = await pbkdf2Async(prepare(password), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return {
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: createHmac('sha256', salted).update('Server Key').digest(),
  };
}

/** A new verifier with a random salt, in PostgreSQL's storage format. */
export async function scramVerifier(password: string, iterations = DEFAULT_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const { storedKey, serverKey } = await keys(password, salt, iterations);
  return `${SCRAM_PREFIX}${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Whether `password` is the one the stored verifier was made from (false for non-SCRAM values). */
export async function verifierMatches(stored: string | null | undefined, password: string): Promise<boolean> {
  const v = parseVerifier(stored);
  if (v === undefined || v.storedKey.length !== 32 || v.serverKey.length !== 32) return false;
  const { storedKey, serverKey } = await keys(password, v.salt, v.iterations);
  return timingSafeEqual(storedKey, v.storedKey) && timingSafeEqual(serverKey, v.serverKey);
}

/**
 * `<iterations>:<salt>` of a stored verifier, kept in the role's marker: a new password always gets a new
 * random salt, so an unchanged salt means the verifier is still the one the reconciler set, told by a string
 * comparison instead of a hash. The salt is not secret: PostgreSQL sends it to anyone who starts a SCRAM
 * login as that user. Undefined for anything that is not a SCRAM verifier.
 */
export function verifierSalt(stored: string | null | undefined): string | undefined {
  if (stored == null || !stored.startsWith(SCRAM_PREFIX)) return undefined;
  const end = stored.indexOf('$', SCRAM_PREFIX.length);
  return end < 0 ? undefined : stored.slice(SCRAM_PREFIX.length, end);
}
