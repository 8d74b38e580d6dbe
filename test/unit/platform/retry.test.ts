import { describe, expect, it } from 'vitest';
import { finalUnlessUnprocessed, withRetry } from '../../../shared/platform/retry.ts';
import { PlatformError } from '../../../shared/platform/errors.ts';

describe('withRetry', () => {
  it('retries retryable failures within the bound', async () => {
    let calls = 0;
    const result = await withRetry(
      () => {
        calls++;
        if (calls < 3) return Promise.reject(new PlatformError({ reason: 'unavailable', message: 'down' }));
        return Promise.resolve('ok');
      },
      { retries: 2, minDelayMs: 1, maxDelayMs: 2 },
    );
    expect([result, calls]).toEqual(['ok', 3]);
  });

  it('gives up after the bound', async () => {
    let calls = 0;
    const attempt = () => {
      calls++;
      return Promise.reject(new PlatformError({ reason: 'unavailable', message: 'down' }));
    };
    await expect(withRetry(attempt, { retries: 2, minDelayMs: 1, maxDelayMs: 2 })).rejects.toThrow('down');
    expect(calls).toBe(3);
  });

  it('never retries a 4xx answer or an unknown error', async () => {
    for (const error of [new PlatformError({ reason: 'validation', message: 'bad' }), new Error('bug')]) {
      let calls = 0;
      await expect(
        withRetry(
          () => {
            calls++;
            return Promise.reject(error);
          },
          { retries: 3, minDelayMs: 1 },
        ),
      ).rejects.toBe(error);
      expect(calls).toBe(1);
    }
  });
});

describe('finalUnlessUnprocessed', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

  it('keeps a create retryable only when it certainly was not processed', () => {
    const unavailable = (cause: unknown) =>
      new PlatformError({ reason: 'unavailable', message: 'down', cause });
    expect(finalUnlessUnprocessed(unavailable(refused)).retryable).toBe(true);
    expect(
      finalUnlessUnprocessed(new PlatformError({ reason: 'rate_limited', message: 'slow down' })).retryable,
    ).toBe(true);
    const afterReset = finalUnlessUnprocessed(unavailable(reset));
    expect(afterReset).toMatchObject({
      reason: 'unavailable',
      status: 503,
      retryable: false,
      message: 'down',
    });
    expect(finalUnlessUnprocessed(new PlatformError({ reason: 'upstream', message: '500' })).retryable).toBe(
      false,
    );
  });
});
