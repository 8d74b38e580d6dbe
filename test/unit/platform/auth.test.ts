import { describe, expect, it } from 'vitest';
import { presentedToken, tokenAuthenticator } from '../../../shared/platform/auth.ts';

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
