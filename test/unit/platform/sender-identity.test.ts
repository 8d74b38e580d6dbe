/**
 * Verification of service-account tokens against a key set held in memory (the integration test
 * test/integration/platform/event-auth.test.ts does the same with the apiserver's real keys and tokens).
 * Every refusal is checked beside a token that differs from it in the one attacked respect and is accepted.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, exportJWK, SignJWT, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { looksLikeJwt, verifySender, type SenderTrust } from '../../../shared/platform/sender-identity.ts';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const AUDIENCE = 'tenant-lifecycle/reset';
const ALLOWED = 'system:serviceaccount:tenant-functions:reset-monthly-oidc-sources.knative.dev-pingsource';
const OTHER = 'system:serviceaccount:tenant-a:default';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });

const trust: SenderTrust = {
  issuer: ISSUER,
  audience: AUDIENCE,
  senders: new Set([ALLOWED]),
  keys: createLocalJWKSet({
    keys: [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ],
  }),
};

const now = () => Math.floor(Date.now() / 1000);

/** A token as the apiserver's TokenRequest makes it, with `changes` applied. */
function token(
  changes: Partial<JWTPayload> = {},
  options: { key?: typeof rsa.privateKey; kid?: string; alg?: string } = {},
): Promise<string> {
  const defaults: JWTPayload = {
    iss: ISSUER,
    aud: [AUDIENCE],
    sub: ALLOWED,
    iat: now(),
    nbf: now(),
    exp: now() + 600,
  };
  // A claim given as undefined is left out.
  const claims = Object.fromEntries(
    Object.entries({ ...defaults, ...changes }).filter(([, value]) => value !== undefined),
  );
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? 'rsa-1' })
    .sign(options.key ?? rsa.privateKey);
}

const verdict = async (t: string | Promise<string>) => verifySender(await t, trust);
const accepted = { verified: true, subject: ALLOWED };

describe('verifySender', () => {
  it('accepts an allowed sender with the right audience, RSA or EC signed', async () => {
    expect(await verdict(token())).toEqual(accepted);
    expect(await verdict(token({}, { key: ec.privateKey, kid: 'ec-1', alg: 'ES256' }))).toEqual(accepted);
    // Several audiences, ours among them.
    expect(await verdict(token({ aud: ['https://kubernetes.default.svc', AUDIENCE] }))).toEqual(accepted);
  });

  it('refuses another service account, naming it only after verification', async () => {
    expect(await verdict(token({ sub: OTHER }))).toEqual({
      verified: false,
      failure: 'sender-not-allowed',
      subject: OTHER,
    });
    expect(await verdict(token({ sub: 'alice' }))).toEqual({ verified: false, failure: 'claim:sub' });
    expect(await verdict(token())).toEqual(accepted);
  });

  it('refuses a wrong audience or issuer', async () => {
    expect(await verdict(token({ aud: ['tenant-lifecycle/cleanup'] }))).toMatchObject({
      verified: false,
      failure: 'claim:aud',
    });
    expect(await verdict(token({ iss: 'https://evil.example' }))).toMatchObject({ failure: 'claim:iss' });
    expect(await verdict(token())).toEqual(accepted);
  });

  it('refuses an expired token, allowing 30 s of clock skew, and one without exp', async () => {
    expect(await verdict(token({ iat: now() - 700, exp: now() - 60 }))).toMatchObject({
      verified: false,
      failure: 'expired',
    });
    expect(await verdict(token({ exp: now() - 10 }))).toEqual(accepted);
    expect(await verdict(token({ exp: undefined }))).toMatchObject({ failure: 'claim:exp' });
    expect(await verdict(token({ nbf: now() + 120 }))).toMatchObject({ failure: 'claim:nbf' });
  });

  it('refuses a token signed by another key, under a known or an unknown key id', async () => {
    expect(await verdict(token({}, { key: stranger.privateKey }))).toMatchObject({ failure: 'signature' });
    expect(await verdict(token({}, { key: stranger.privateKey, kid: 'other' }))).toMatchObject({
      failure: 'unknown-key',
    });
    expect(await verdict(token())).toEqual(accepted);
  });

  it('refuses alg none and HMAC signed with the public key', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', kid: 'rsa-1' })).toString('base64url');
    const body = (await token()).split('.')[1] ?? '';
    expect(await verdict(`${header}.${body}.`)).toMatchObject({ verified: false, failure: 'algorithm' });
    const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
    const hmac = new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: ALLOWED, exp: now() + 600 })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
      .sign(Buffer.from(publicPem));
    expect(await verdict(hmac)).toMatchObject({ verified: false, failure: 'algorithm' });
    expect(await verdict(token())).toEqual(accepted);
  });

  it('refuses garbage without throwing', async () => {
    expect(await verdict('a.b.c')).toMatchObject({ verified: false });
    expect(await verdict('not a token')).toMatchObject({ verified: false });
  });
});

describe('looksLikeJwt', () => {
  it('tells compact JWS from API tokens', async () => {
    expect(looksLikeJwt(await token())).toBe(true);
    expect(looksLikeJwt('an-api-token-0123456789')).toBe(false);
    expect(looksLikeJwt('a.b')).toBe(false);
  });
});
