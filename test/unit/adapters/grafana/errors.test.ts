import { describe, expect, it } from 'vitest';
import { grafanaError, grafanaStatusError } from '../../../../shared/adapters/grafana/errors.ts';

describe('grafanaStatusError', () => {
  it.each([
    [400, 'validation', 400, false],
    [403, 'forbidden', 403, false],
    [404, 'not_found', 404, false],
    [412, 'conflict', 409, false],
    [429, 'rate_limited', 429, true],
    [500, 'upstream', 502, true],
    [503, 'unavailable', 503, true],
  ])('HTTP %i -> %s %i retryable=%s', (status, reason, httpStatus, retryable) => {
    const error = grafanaStatusError(status, { message: 'user not found' }, 'look up user a');
    expect(error).toMatchObject({ reason, status: httpStatus, retryable, upstream: 'grafana' });
    expect(error.message).toBe('grafana: look up user a: user not found');
  });

  it('does not pass on the text of a refused admin login', () => {
    expect(grafanaStatusError(401, { message: 'invalid username or password' }, 'x').message).toBe(
      'grafana: x: Grafana refused the admin credentials',
    );
  });

  it('maps undici timeouts to retryable timeouts', () => {
    const headersTimeout = Object.assign(new Error('Headers Timeout Error'), {
      code: 'UND_ERR_HEADERS_TIMEOUT',
    });
    expect(grafanaError(headersTimeout, 'x')).toMatchObject({
      reason: 'timeout',
      status: 504,
      retryable: true,
    });
  });
});
