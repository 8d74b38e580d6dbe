/**
 * Bounded retries with exponential backoff and jitter for calls to external systems (p-retry). Only
 * PlatformErrors marked retryable are retried (429, 5xx, network failures); a 4xx answer is final, since
 * asking again cannot change it.
 */
import pRetry from 'p-retry';
import { PlatformError } from './errors.ts';
import { errorCode } from './network-errors.ts';

export interface RetryPolicy {
  /** Retries after the first attempt; default 2. */
  readonly retries?: number;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly signal?: AbortSignal;
}

export async function withRetry<T>(attempt: () => Promise<T>, policy: RetryPolicy = {}): Promise<T> {
  return pRetry(attempt, {
    retries: policy.retries ?? 2,
    minTimeout: policy.minDelayMs ?? 200,
    maxTimeout: policy.maxDelayMs ?? 2_000,
    factor: 2,
    randomize: true,
    ...(policy.signal === undefined ? {} : { signal: policy.signal }),
    shouldRetry: ({ error }) => error instanceof PlatformError && error.retryable,
  });
}

/**
 * For a request that is not idempotent (a create): a retry is safe only when the first attempt certainly
 * was not processed (throttled with 429, or the connection was refused). Any other retryable failure (a
 * reset connection, a timeout, a 5xx) may have happened after the server acted, so it becomes final.
 */
export function finalUnlessUnprocessed(failure: PlatformError): PlatformError {
  if (
    !failure.retryable ||
    failure.reason === 'rate_limited' ||
    errorCode(failure.cause) === 'ECONNREFUSED'
  ) {
    return failure;
  }
  return new PlatformError({
    reason: failure.reason,
    message: failure.message,
    status: failure.status,
    retryable: false,
    ...(failure.upstream === undefined ? {} : { upstream: failure.upstream }),
    cause: failure.cause,
  });
}
