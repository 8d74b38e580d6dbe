/**
 * The project's one error type. Adapters convert their library's errors (ApiException, pg DatabaseError,
 * HTTP statuses, network errors) into a PlatformError so that operations and the function host deal with one
 * shape: an HTTP status, a stable reason (which becomes the problem+json `type`), whether a retry may help,
 * and the original error as `cause` (logged, never sent to the client).
 *
 * Messages must never carry a password, token or Secret value: they are shown to callers and logged.
 */

export const errorReasons = {
  validation: 400,
  bad_request: 400,
  malformed_body: 400,
  unsupported_event_type: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  /** The target exists but the product did not make it (or another tenant owns it): nothing was changed. */
  not_owned: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  upstream: 502,
  unavailable: 503,
  timeout: 504,
} as const satisfies Record<string, number>;

export type ErrorReason = keyof typeof errorReasons;

/** One problem with one input field, as reported in a validation problem's `errors` member. */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

export interface PlatformErrorOptions {
  /** Stable machine-readable reason; also decides the default status. */
  readonly reason: ErrorReason;
  /** Human-readable, safe to show to the caller (no secrets). */
  readonly message: string;
  /** Defaults to the reason's status. */
  readonly status?: number;
  /** Whether the same request may succeed later. Defaults to true for 429, 502, 503, 504. */
  readonly retryable?: boolean;
  /** The external system involved (kubernetes, postgres, keycloak, grafana), if any. */
  readonly upstream?: string;
  /** Per-field problems of a validation error. */
  readonly issues?: readonly FieldIssue[];
  /** Extra members of the problem document (e.g. per-step status of a failed saga); never secrets. */
  readonly extensions?: Readonly<Record<string, unknown>>;
  /** When a retry makes sense (busy, not broken): the host sends it as the `Retry-After` header. */
  readonly retryAfterSeconds?: number;
  readonly cause?: unknown;
}

const retryableByDefault = new Set<ErrorReason>(['rate_limited', 'upstream', 'unavailable', 'timeout']);

export class PlatformError extends Error {
  override readonly name = 'PlatformError';
  readonly reason: ErrorReason;
  readonly status: number;
  readonly retryable: boolean;
  readonly upstream: string | undefined;
  readonly issues: readonly FieldIssue[] | undefined;
  readonly extensions: Readonly<Record<string, unknown>> | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(options: PlatformErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = options.reason;
    this.status = options.status ?? errorReasons[options.reason];
    this.retryable = options.retryable ?? retryableByDefault.has(options.reason);
    this.upstream = options.upstream;
    this.issues = options.issues;
    this.extensions = options.extensions;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isPlatformError(error: unknown): error is PlatformError {
  return error instanceof PlatformError;
}

/** Whether `error` says that what was addressed does not exist (an adapter's 404, a domain's `not_found`). */
export function isNotFound(error: unknown): boolean {
  return error instanceof PlatformError && error.reason === 'not_found';
}

/** Wraps anything thrown into a PlatformError; unknown errors become a non-retryable internal error. */
export function toPlatformError(error: unknown): PlatformError {
  if (isPlatformError(error)) return error;
  return new PlatformError({ reason: 'internal', message: 'internal error', cause: error });
}
