/**
 * RFC 9457 problem details. Every error leaves a function as application/problem+json with a stable `type`
 * derived from the error's reason, so clients can branch on `type` instead of parsing messages.
 * Internal errors are reported without their message or stack: those stay in the logs.
 */
import { type ErrorReason, type FieldIssue, toPlatformError } from './errors.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Stable problem type URIs: `urn:tenant-lifecycle:problem:<reason>` (documented in README). */
export function problemType(reason: ErrorReason): string {
  return `urn:tenant-lifecycle:problem:${reason.replaceAll('_', '-')}`;
}

const titles: Record<ErrorReason, string> = {
  validation: 'Request validation failed',
  bad_request: 'Bad request',
  malformed_body: 'Malformed request body',
  unsupported_event_type: 'Unsupported CloudEvent type',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  conflict: 'Conflict',
  not_owned: 'Not owned by tenant-lifecycle',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  rate_limited: 'Too many requests',
  internal: 'Internal error',
  upstream: 'Upstream system failed',
  unavailable: 'Service unavailable',
  timeout: 'Upstream timeout',
};

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly requestId?: string;
  readonly retryable: boolean;
  readonly upstream?: string;
  readonly errors?: readonly FieldIssue[];
  readonly [extension: string]: unknown;
}

export function toProblem(error: unknown, requestId?: string): Problem {
  const e = toPlatformError(error);
  return {
    // Extensions first: the standard members below always win.
    ...(e.extensions ?? {}),
    type: problemType(e.reason),
    title: titles[e.reason],
    status: e.status,
    // An internal error's message may describe internals; the request id links the caller to the log line.
    detail:
      e.reason === 'internal' ? 'An internal error occurred; see the logs for this request id.' : e.message,
    ...(requestId === undefined ? {} : { requestId }),
    retryable: e.retryable,
    ...(e.upstream === undefined ? {} : { upstream: e.upstream }),
    ...(e.issues === undefined ? {} : { errors: e.issues }),
  };
}
