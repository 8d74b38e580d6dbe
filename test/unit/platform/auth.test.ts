import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, exportJWK, SignJWT } from 'jose';
import { callerAuthenticator, presentedToken, tokenAuthenticator } from '../../../shared/platform/auth.ts';

describe('presentedToken', () => {
  it.each([
    [{ authorization: 'Bearer abc' }, 'abc'],
    [{ authorization: 'bearer   abc ' }, 'abc'],
    [{ authorization: 'abc' }, 'abc'],
    [{ 'x-admin-key': 'xyz', authorization: 'Bearer abc' }, 'xyz'],
    [{ authorization: '' }, undefined],
    [{}, undefined],
  ])('%j -> %s', (headers, expected) => {
    expect(presentedToken(headers)).toBe(expected);
  });
});

describe('tokenAuthenticator', () => {
  const check = tokenAuthenticator(['first-token-0123456789', 'second-token-0123456789']);

  it('answers which configured token matched', () => {
    expect(check({ authorization: 'Bearer first-token-0123456789' })).toBe(0);
    expect(check({ authorization: 'second-token-0123456789' })).toBe(1);
    expect(check({ 'x-admin-key': 'second-token-0123456789' })).toBe(1);
  });

  it('refuses wrong, prefixed, empty and missing tokens', () => {
    expect(check({ authorization: 'Bearer first-token-012345678' })).toBeUndefined();
    expect(check({ authorization: 'Bearer first-token-01234567890' })).toBeUndefined();
    expect(check({ authorization: 'Basic Zmlyc3QtdG9rZW4=' })).toBeUndefined();
    expect(check({})).toBeUndefined();
  });

  it('cannot be built without tokens', () => {
    expect(() => tokenAuthenticator([])).toThrow(/no API token/);
  });
});

describe('callerAuthenticator', () => {
  const apiToken = 'first-token-0123456789';
  const issuer = 'https://kubernetes.default.svc.cluster.local';
  const audience = 'tenant-lifecycle/cleanup';
  const sender = 'system:serviceaccount:tenant-functions:cleanup-daily-oidc-sources.knative.dev-pingsource';
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const serviceAccountToken = (sub: string) =>
    new SignJWT({ iss: issuer, aud: [audience], sub, exp: Math.floor(Date.now() / 1000) + 600 })
      .setProtectedHeader({ alg: 'RS256', kid: 'k' })
      .sign(privateKey);

  it('knows API token holders and allowed senders; refuses the rest with a code', async () => {
    const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k' }] });
    const authenticate = callerAuthenticator({
      apiTokens: [apiToken],
      senders: { issuer, audience, senders: new Set([sender]), keys },
    });
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    expect(await authenticate(bearer(apiToken))).toEqual({ authenticated: true, caller: 'token#0' });
    expect(await authenticate(bearer(await serviceAccountToken(sender)))).toEqual({
      authenticated: true,
      caller: sender,
    });
    expect(await authenticate(bearer(await serviceAccountToken('system:serviceaccount:t:x')))).toEqual({
      authenticated: false,
      message: 'invalid token',
      failure: 'sender-not-allowed',
      refusedSender: 'system:serviceaccount:t:x',
    });
    expect(await authenticate(bearer('second-token-0123456789'))).toMatchObject({
      authenticated: false,
      failure: 'unknown-token',
    });
    expect(await authenticate({})).toMatchObject({ authenticated: false, failure: 'no-token' });
  });

  it('refuses every service-account token when no sender is configured', async () => {
    const authenticate = callerAuthenticator({ apiTokens: [apiToken] });
    expect(await authenticate({ authorization: `Bearer ${await serviceAccountToken(sender)}` })).toEqual({
      authenticated: false,
      message: 'invalid token',
      failure: 'no-senders-configured',
    });
    expect(await authenticate({ 'x-admin-key': apiToken })).toEqual({
      authenticated: true,
      caller: 'token#0',
    });
  });
});
