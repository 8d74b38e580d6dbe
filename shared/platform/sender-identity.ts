/**
 * Sender identity: Kubernetes service-account tokens presented as `Authorization: Bearer <jwt>`.
 *
 * Knative Eventing's `authentication-oidc` feature makes PingSources, ApiServerSources and Triggers send a
 * token of their own OIDC service account whose audience is the receiver's (see README, "How a function is
 * called"); platform tools may call with their service account's token too. A token is accepted when
 *   - its signature verifies with a key of the cluster's service-account issuer (the JWKS the apiserver
 *     serves at /openid/v1/jwks), with RS256 or ES256 only (never `none`, never HMAC);
 *   - `iss` is the issuer, `aud` holds this function's audience, `exp` is present and not past (30 s of
 *     clock tolerance), `nbf` not future;
 *   - `sub` is `system:serviceaccount:<namespace>:<name>` and on the function's allow-list.
 * The verified subject is the caller's identity. Nothing of a refused token is logged or answered: the
 * failure is a fixed code (`signature`, `claim:aud`, ...).
 */
import { readFile } from 'node:fs/promises';
import {
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwtVerify,
  type FetchImplementation,
  type JWTVerifyGetKey,
} from 'jose';
import { Agent, request } from 'undici';
import { SERVICE_ACCOUNT_SUBJECT } from './kubernetes-names.ts';
import { PlatformError } from './errors.ts';

/** The signature algorithms Kubernetes signs service-account tokens with (RSA or P-256 keys). */
export const SERVICE_ACCOUNT_TOKEN_ALGORITHMS = ['RS256', 'ES256'] as const;

export const CLOCK_TOLERANCE_SECONDS = 30;

export interface SenderTrust {
  /** The service-account issuer (`iss`), e.g. https://kubernetes.default.svc.cluster.local. */
  readonly issuer: string;
  /** The audience this function accepts (`aud` must hold it). */
  readonly audience: string;
  /** Allowed subjects, `system:serviceaccount:<namespace>:<name>`. */
  readonly senders: ReadonlySet<string>;
  /** The issuer's public keys. */
  readonly keys: JWTVerifyGetKey;
}

export type SenderVerdict =
  | { readonly verified: true; readonly subject: string }
  /** `subject` only once the signature and claims verified (a refused sender), never from an unverified token. */
  | { readonly verified: false; readonly failure: string; readonly subject?: string };

/** Three base64url parts separated by dots: the compact form of a signed JWT. */
export function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
}

/**
 * Verifies a service-account token. Refusals are verdicts; a key set that cannot be fetched throws a
 * retryable PlatformError (503): the sender may be legitimate, and Knative retries.
 */
export async function verifySender(token: string, trust: SenderTrust): Promise<SenderVerdict> {
  let subject: string | undefined;
  try {
    const { payload } = await jwtVerify(token, trust.keys, {
      issuer: trust.issuer,
      audience: trust.audience,
      algorithms: [...SERVICE_ACCOUNT_TOKEN_ALGORITHMS],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'sub'],
    });
    subject = payload.sub;
  } catch (error) {
    return { verified: false, failure: failureCode(error) };
  }
  if (subject === undefined || !SERVICE_ACCOUNT_SUBJECT.test(subject))
    return { verified: false, failure: 'claim:sub' };
  if (!trust.senders.has(subject)) return { verified: false, failure: 'sender-not-allowed', subject };
  return { verified: true, subject };
}

/** A fixed code for a refusal; a key set that could not be fetched is rethrown as 503. */
function failureCode(error: unknown): string {
  if (error instanceof PlatformError) throw error;
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) {
    throw new PlatformError({
      reason: 'unavailable',
      message: 'the service-account issuer keys could not be fetched',
      upstream: 'kubernetes',
      cause: new Error(error.code),
    });
  }
  if (error instanceof joseErrors.JWTExpired) return 'expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim:${error.claim}`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'unknown-key';
  if (error instanceof joseErrors.JOSEError) return error.code.toLowerCase();
  return 'malformed';
}

export interface IssuerKeySource {
  /** The apiserver's JWKS, e.g. https://kubernetes.default.svc/openid/v1/jwks. */
  readonly jwksUrl: string;
  /** A service-account token file to authenticate the fetch with (read at every fetch: it rotates). */
  readonly tokenFile: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  readonly caFile: string;
  /** The variables naming them, for error messages. */
  readonly variables?: { readonly tokenFile: string; readonly caFile: string };
}

async function readSetting(file: string, variable: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new PlatformError({
      reason: 'unavailable',
      message: `cannot read ${variable} (${file})`,
      upstream: 'kubernetes',
      cause: error,
    });
  }
}

/**
 * The issuer's keys, fetched from the apiserver with this function's own service-account token over TLS
 * verified against the cluster CA. jose caches them (10 min) and fetches again, at most every 30 s, when a
 * token names a key it does not know (a rotated signing key).
 */
export function issuerKeys(source: IssuerKeySource): JWTVerifyGetKey {
  const variables = source.variables ?? { tokenFile: 'token file', caFile: 'CA file' };
  let agent: Promise<Agent> | undefined;
  const dispatcher = (): Promise<Agent> =>
    (agent ??= readSetting(source.caFile, variables.caFile).then(
      (ca) => new Agent({ connect: { ca } }),
      (error: unknown) => {
        agent = undefined;
        throw error;
      },
    ));
  const fetchKeys: FetchImplementation = async (url, options) => {
    const token = (await readSetting(source.tokenFile, variables.tokenFile)).trim();
    // The apiserver answers 406 to `Accept: application/json` alone: its JWKS is application/jwk-set+json.
    const headers = {
      accept: 'application/jwk-set+json, application/json',
      authorization: `Bearer ${token}`,
    };
    let answer: Awaited<ReturnType<typeof request>>;
    try {
      answer = await request(url, {
        method: 'GET',
        headers,
        dispatcher: await dispatcher(),
        signal: options.signal,
      });
    } catch (error) {
      if (error instanceof PlatformError) throw error;
      throw new PlatformError({
        reason: 'unavailable',
        message: 'the service-account issuer keys could not be fetched',
        upstream: 'kubernetes',
        cause: error,
      });
    }
    const body = await answer.body.text();
    if (answer.statusCode !== 200) {
      throw new PlatformError({
        reason: 'unavailable',
        message: `the service-account issuer keys could not be fetched: HTTP ${answer.statusCode}`,
        upstream: 'kubernetes',
      });
    }
    return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
  };
  return createRemoteJWKSet(new URL(source.jwksUrl), { [customFetch]: fetchKeys });
}
