/**
 * Token authentication of HTTP requests. Accepted forms:
 *   Authorization: Bearer <token>   (standard)
 *   Authorization: <token>          (the predecessor provisioner's bare header)
 *   X-Admin-Key: <token>            (the predecessor Everest proxy's header)
 * Tokens are compared in constant time: both sides are hashed first, so neither the content nor the length
 * of a configured token leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The token a request presents, or undefined when it presents none. */
export function presentedToken(headers: IncomingHttpHeaders): string | undefined {
  const adminKey = firstHeader(headers, 'x-admin-key')?.trim();
  if (adminKey) return adminKey;
  const authorization = firstHeader(headers, 'authorization')?.trim();
  if (!authorization) return undefined;
  const bearer = /^bearer\s+(.+)$/i.exec(authorization);
  return (bearer?.[1] ?? authorization).trim() || undefined;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Returns a checker bound to the configured tokens; refuses to build one without any token. The checker
 * answers the position of the matching token (so logs can tell which of several rotated tokens a caller
 * used, without showing it), or undefined.
 */
export function tokenAuthenticator(
  tokens: readonly string[],
): (headers: IncomingHttpHeaders) => number | undefined {
  if (tokens.length === 0) throw new Error('no API token configured: refusing to authenticate anyone');
  const expected = tokens.map(digest);
  return (headers) => {
    const token = presentedToken(headers);
    if (token === undefined) return undefined;
    const presented = digest(token);
    // Compare with every configured token (no early exit), so timing does not tell which one matched.
    let matched: number | undefined;
    for (const [i, candidate] of expected.entries()) {
      if (timingSafeEqual(candidate, presented)) matched = i;
    }
    return matched;
  };
}
