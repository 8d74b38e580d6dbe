/**
 * Authentication of every request, HTTP or CloudEvent. A caller presents one token:
 *   Authorization: Bearer <token>   (standard; Knative's event senders use it)
 *   Authorization: <token>          (bare; kept for compatibility, docs/compatibility.md)
 *   X-Admin-Key: <token>            (kept for compatibility, docs/compatibility.md)
 * and is either
 *   - `token#<n>`: it holds the n-th configured API token (compared in constant time: both sides are hashed
 *     first, so neither the content nor the length of a configured token leaks through timing); or
 *   - `system:serviceaccount:<namespace>:<name>`: it holds a service-account token verified by
 *     sender-identity.ts (issuer, audience, expiry, signature) whose subject is an allowed sender.
 * Anything else is refused; the refusal carries a fixed code for the log, never the token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { looksLikeJwt, verifySender, type SenderTrust } from './sender-identity.ts';

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

export type Authentication =
  | { readonly authenticated: true; readonly caller: string }
  | {
      readonly authenticated: false;
      /** Safe to answer: says what to send, never why a token failed. */
      readonly message: string;
      /** For the log: `no-token`, `unknown-token`, `expired`, `claim:aud`, `sender-not-allowed`, ... */
      readonly failure: string;
      /** The verified subject of a service account that is not an allowed sender. */
      readonly refusedSender?: string;
    };

const MISSING = 'missing token: send Authorization: Bearer <token> or X-Admin-Key';

/**
 * Returns the request authenticator: API tokens first, then (when `senders` is given, that is EVENT_SENDERS
 * names at least one) service-account tokens. Throws, as PlatformError 503, only when the issuer's keys
 * cannot be fetched.
 */
export function callerAuthenticator(options: {
  readonly apiTokens: readonly string[];
  readonly senders?: SenderTrust;
}): (headers: IncomingHttpHeaders) => Promise<Authentication> {
  const apiToken = tokenAuthenticator(options.apiTokens);
  return async (headers) => {
    const token = presentedToken(headers);
    if (token === undefined) return { authenticated: false, message: MISSING, failure: 'no-token' };
    const index = apiToken(headers);
    if (index !== undefined) return { authenticated: true, caller: `token#${index}` };
    if (!looksLikeJwt(token))
      return { authenticated: false, message: 'invalid token', failure: 'unknown-token' };
    if (options.senders === undefined)
      return { authenticated: false, message: 'invalid token', failure: 'no-senders-configured' };
    const verdict = await verifySender(token, options.senders);
    if (verdict.verified) return { authenticated: true, caller: verdict.subject };
    return {
      authenticated: false,
      message: 'invalid token',
      failure: verdict.failure,
      ...(verdict.subject === undefined ? {} : { refusedSender: verdict.subject }),
    };
  };
}
