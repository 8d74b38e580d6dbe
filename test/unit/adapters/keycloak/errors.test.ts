import { NetworkError } from '@keycloak/keycloak-admin-client';
import { describe, expect, it } from 'vitest';
import { keycloakError } from '../../../../shared/adapters/keycloak/errors.ts';

const networkError = (status: number, data: unknown) =>
  new NetworkError(`HTTP ${status}`, { response: new Response(null, { status }), responseData: data });

describe('keycloakError', () => {
  it.each([
    [400, 'validation', 400, false],
    [403, 'forbidden', 403, false],
    [404, 'not_found', 404, false],
    [409, 'conflict', 409, false],
    [429, 'rate_limited', 429, true],
    [500, 'upstream', 502, true],
    [503, 'unavailable', 503, true],
  ])('HTTP %i -> %s %i retryable=%s', (status, reason, httpStatus, retryable) => {
    const error = keycloakError(
      networkError(status, { errorMessage: 'User exists with same username' }),
      'create user a',
    );
    expect(error).toMatchObject({ reason, status: httpStatus, retryable, upstream: 'keycloak' });
    expect(error.message).toBe('keycloak: create user a: User exists with same username');
  });

  it('treats 401 as the platform credentials being refused, without echoing the server', () => {
    const error = keycloakError(networkError(401, { error: 'invalid_token' }), 'list users');
    expect(error).toMatchObject({ reason: 'unavailable', status: 502, retryable: false });
    expect(error.message).toBe('keycloak: list users: Keycloak refused the function credentials');
  });

  it('maps transport failures and timeouts', () => {
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
    });
    expect(keycloakError(refused, 'x')).toMatchObject({ reason: 'unavailable', retryable: true });
    expect(keycloakError(new DOMException('timed out', 'TimeoutError'), 'x')).toMatchObject({
      reason: 'timeout',
      retryable: true,
    });
  });
});
