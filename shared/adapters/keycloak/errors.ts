/**
 * Converts @keycloak/keycloak-admin-client failures into PlatformError. The client throws NetworkError with
 * the HTTP response for non-2xx answers, and fetch's TypeError ("fetch failed") or a TimeoutError when the
 * server cannot be reached in time. Keycloak's error texts ("User exists with same username") name no
 * secret and are kept; request bodies never reach a message.
 */
import { NetworkError } from '@keycloak/keycloak-admin-client';
import { PlatformError, type ErrorReason } from '../../platform/errors.ts';
import { unansweredCallError } from '../../platform/network-errors.ts';

function describe(data: unknown): string | undefined {
  if (typeof data === 'string') return data.slice(0, 300) || undefined;
  if (typeof data === 'object' && data !== null) {
    const d = data as { errorMessage?: unknown; error_description?: unknown; error?: unknown };
    for (const field of [d.errorMessage, d.error_description, d.error])
      if (typeof field === 'string') return field;
  }
  return undefined;
}

export function statusReason(status: number): { reason: ErrorReason; status?: number; retryable?: boolean } {
  if (status === 400 || status === 422) return { reason: 'validation' };
  if (status === 401) return { reason: 'unavailable', status: 502, retryable: false };
  if (status === 403) return { reason: 'forbidden' };
  if (status === 404) return { reason: 'not_found' };
  if (status === 409) return { reason: 'conflict', retryable: false };
  if (status === 429) return { reason: 'rate_limited' };
  if (status === 503) return { reason: 'unavailable' };
  if (status === 504) return { reason: 'timeout' };
  if (status >= 500) return { reason: 'upstream' };
  return { reason: 'upstream', retryable: false };
}

export function keycloakError(error: unknown, action: string): PlatformError {
  if (error instanceof PlatformError) return error;
  if (error instanceof NetworkError) {
    const status = error.response.status;
    const mapped = statusReason(status);
    const detail =
      status === 401
        ? 'Keycloak refused the function credentials'
        : (describe(error.responseData) ?? `HTTP ${status}`);
    return new PlatformError({
      reason: mapped.reason,
      message: `keycloak: ${action}: ${detail}`,
      upstream: 'keycloak',
      cause: error,
      ...(mapped.status === undefined ? {} : { status: mapped.status }),
      ...(mapped.retryable === undefined ? {} : { retryable: mapped.retryable }),
    });
  }
  return unansweredCallError(error, 'keycloak', action);
}
