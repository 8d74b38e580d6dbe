/**
 * Converts @kubernetes/client-node errors into PlatformError. ApiException carries the HTTP code and the
 * apiserver's Status object as a raw JSON string; its `reason` (NotFound, AlreadyExists, Conflict, Invalid,
 * Expired, ...) decides the mapping. The Status message names objects, never Secret data, so it is safe to
 * show; the raw body is kept only as the cause.
 */
import { ApiException } from '@kubernetes/client-node';
import { PlatformError, type ErrorReason } from '../../platform/errors.ts';
import { unansweredCallError } from '../../platform/network-errors.ts';

export interface KubernetesStatus {
  readonly reason?: string;
  readonly message?: string;
  readonly code?: number;
}

export function parseStatus(body: unknown): KubernetesStatus {
  if (typeof body === 'object' && body !== null) return body;
  if (typeof body !== 'string' || body === '') return {};
  try {
    const parsed = JSON.parse(body) as unknown;
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return {};
  }
}

function byStatus(
  code: number,
  reason: string | undefined,
): { reason: ErrorReason; retryable?: boolean; status?: number } {
  switch (code) {
    case 400:
    case 422:
      return { reason: 'validation' };
    case 401:
      return { reason: 'unavailable', retryable: false, status: 502 };
    case 403:
      return { reason: 'forbidden' };
    case 404:
      return { reason: 'not_found' };
    case 409:
      // Conflict = stale resourceVersion: re-read and retry. AlreadyExists: retrying changes nothing.
      return { reason: 'conflict', retryable: reason === 'Conflict' };
    case 410:
      return { reason: 'conflict', retryable: true }; // Expired continue token: restart the list
    case 429:
      return { reason: 'rate_limited' };
    case 504:
      return { reason: 'timeout' };
    default:
      return code >= 500
        ? { reason: code === 503 ? 'unavailable' : 'upstream' }
        : { reason: 'upstream', retryable: false };
  }
}

export function kubernetesError(error: unknown, action: string): PlatformError {
  if (error instanceof PlatformError) return error;
  if (error instanceof ApiException) {
    const code = error.code;
    const status = parseStatus(error.body);
    const mapped = byStatus(code, status.reason);
    const detail =
      code === 401 ? 'the apiserver refused the function credentials' : (status.message ?? `HTTP ${code}`);
    return new PlatformError({
      reason: mapped.reason,
      message: `kubernetes: ${action}: ${detail}`,
      ...(mapped.status === undefined ? {} : { status: mapped.status }),
      ...(mapped.retryable === undefined ? {} : { retryable: mapped.retryable }),
      upstream: 'kubernetes',
      cause: error,
    });
  }
  return unansweredCallError(error, 'kubernetes', action);
}

/** Runs one apiserver call and converts its failure. */
export async function kubernetesCall<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw kubernetesError(error, action);
  }
}
