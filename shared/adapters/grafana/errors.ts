/**
 * Grafana's HTTP statuses and transport failures as PlatformError. Grafana answers errors as
 * {"message": "..."}; its messages name users and organisations, never passwords, so they are kept.
 */
import { PlatformError, type ErrorReason } from '../../platform/errors.ts';
import { unansweredCallError } from '../../platform/network-errors.ts';

function mapping(status: number): { reason: ErrorReason; status?: number; retryable?: boolean } {
  if (status === 400 || status === 422) return { reason: 'validation' };
  // 401/403 mean the configured admin credentials are wrong or not a server admin: a platform problem.
  if (status === 401) return { reason: 'unavailable', status: 502, retryable: false };
  if (status === 403) return { reason: 'forbidden' };
  if (status === 404) return { reason: 'not_found' };
  if (status === 409 || status === 412) return { reason: 'conflict', status: 409, retryable: false };
  if (status === 429) return { reason: 'rate_limited' };
  if (status === 503) return { reason: 'unavailable' };
  if (status === 504) return { reason: 'timeout' };
  if (status >= 500) return { reason: 'upstream' };
  return { reason: 'upstream', retryable: false };
}

export function grafanaStatusError(status: number, body: unknown, action: string): PlatformError {
  const m = mapping(status);
  const text =
    status === 401
      ? 'Grafana refused the admin credentials'
      : typeof body === 'object' &&
          body !== null &&
          typeof (body as { message?: unknown }).message === 'string'
        ? (body as { message: string }).message
        : `HTTP ${status}`;
  return new PlatformError({
    reason: m.reason,
    message: `grafana: ${action}: ${text}`,
    upstream: 'grafana',
    ...(m.status === undefined ? {} : { status: m.status }),
    ...(m.retryable === undefined ? {} : { retryable: m.retryable }),
  });
}

export function grafanaError(error: unknown, action: string): PlatformError {
  if (error instanceof PlatformError) return error;
  return unansweredCallError(error, 'grafana', action);
}
