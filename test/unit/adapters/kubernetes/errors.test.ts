import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { kubernetesCall, kubernetesError } from '../../../../shared/adapters/kubernetes/errors.ts';
import { isNotFound, PlatformError } from '../../../../shared/platform/errors.ts';

const status = (code: number, reason: string, message: string) =>
  new ApiException(code, `HTTP-Code: ${code}`, JSON.stringify({ kind: 'Status', code, reason, message }), {});

describe('kubernetesError', () => {
  it.each([
    [404, 'NotFound', 'not_found', 404, false],
    [409, 'AlreadyExists', 'conflict', 409, false],
    [409, 'Conflict', 'conflict', 409, true],
    [410, 'Expired', 'conflict', 409, true],
    [422, 'Invalid', 'validation', 400, false],
    [403, 'Forbidden', 'forbidden', 403, false],
    [429, 'TooManyRequests', 'rate_limited', 429, true],
    [500, 'InternalError', 'upstream', 502, true],
    [503, 'ServiceUnavailable', 'unavailable', 503, true],
    [504, 'Timeout', 'timeout', 504, true],
  ])('HTTP %i %s -> %s (%i, retryable %s)', (code, reason, expected, httpStatus, retryable) => {
    const error = kubernetesError(status(code, reason, `namespaces "t1" ${reason}`), 'create namespace t1');
    expect(error).toMatchObject({ reason: expected, status: httpStatus, retryable, upstream: 'kubernetes' });
    expect(error.message).toBe(`kubernetes: create namespace t1: namespaces "t1" ${reason}`);
  });

  it('does not show the apiserver message for a refused credential', () => {
    const error = kubernetesError(status(401, 'Unauthorized', 'Unauthorized'), 'list namespaces');
    expect(error).toMatchObject({ reason: 'unavailable', status: 502, retryable: false });
  });

  it('maps a transport failure to unavailable, retryable', () => {
    const refused = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }),
    });
    expect(kubernetesError(refused, 'list namespaces')).toMatchObject({
      reason: 'unavailable',
      status: 503,
      retryable: true,
    });
  });

  it('keeps the original error as cause and passes PlatformErrors through', async () => {
    const original = status(404, 'NotFound', 'x');
    await expect(kubernetesCall('read x', () => Promise.reject(original))).rejects.toMatchObject({
      cause: original,
    });
    const platform = new PlatformError({ reason: 'conflict', message: 'mine' });
    expect(kubernetesError(platform, 'x')).toBe(platform);
  });

  it('answers a 404 as not found, and nothing else', () => {
    expect(isNotFound(kubernetesError(status(404, 'NotFound', 'gone'), 'read x'))).toBe(true);
    expect(isNotFound(kubernetesError(status(409, 'AlreadyExists', 'there'), 'create x'))).toBe(false);
    expect(isNotFound(new Error('not found'))).toBe(false);
  });
});
