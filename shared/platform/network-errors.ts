/**
 * Recognises transport failures (connection refused/reset, DNS, TLS handshake, timeouts) across Node's net
 * errors and undici's fetch errors ("fetch failed" with the socket error as cause), so every adapter can say
 * "unavailable, retry later" instead of a bare 500.
 */
import { PlatformError } from './errors.ts';

const transientCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const timeoutCodes = new Set([
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The first error code found on the error or along its cause chain. */
export function errorCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export type NetworkFailure = 'timeout' | 'unavailable';

/** Classifies a transport failure, or answers undefined when the error is something else. */
export function networkFailure(error: unknown): NetworkFailure | undefined {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    return 'timeout';
  const code = errorCode(error);
  if (code !== undefined && transientCodes.has(code))
    return timeoutCodes.has(code) ? 'timeout' : 'unavailable';
  if (error instanceof TypeError && error.message === 'fetch failed') return 'unavailable';
  return undefined;
}

/**
 * The PlatformError for a call to `upstream` that got no HTTP answer: a transport failure becomes a retryable
 * "unavailable" or "timeout"; anything else unrecognised is an internal error (its detail stays in `cause`).
 */
export function unansweredCallError(error: unknown, upstream: string, action: string): PlatformError {
  const failure = networkFailure(error);
  if (failure === undefined) {
    return new PlatformError({
      reason: 'internal',
      message: `${upstream}: ${action} failed`,
      upstream,
      cause: error,
    });
  }
  const what = failure === 'timeout' ? 'no answer in time' : 'server unreachable';
  return new PlatformError({
    reason: failure,
    message: `${upstream}: ${action}: ${what}`,
    upstream,
    cause: error,
  });
}
