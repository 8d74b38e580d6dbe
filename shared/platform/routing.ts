/**
 * Finds the operation a trigger addresses: an HTTP route (method + path with `:param` segments), a
 * CloudEvent type, or the PingSource schedule. Pure, so the dispatch table is unit-tested without a server.
 */
import { PlatformError } from './errors.ts';
import type { FunctionSpec, HttpMethod, Operation } from './operation.ts';
import type { Trigger } from './trigger.ts';

export interface Match {
  readonly operation: Operation;
  readonly params: Readonly<Record<string, string>>;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/** A path parameter, percent-decoded; a malformed escape (`%E0%A4%A`) is the caller's error: 400. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new PlatformError({
      reason: 'bad_request',
      message: 'the path holds a malformed percent-escape',
    });
  }
}

/**
 * Refuses a path with a malformed percent-escape anywhere in it (400), before the framework's router, which
 * would answer it with an HTML error page.
 */
export function checkPathEscapes(path: string): void {
  for (const segment of splitPath(path)) decodeSegment(segment);
}

function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = splitPath(pattern);
  const got = splitPath(path);
  if (want.length !== got.length) return undefined;
  if (want.some((segment, i) => !segment.startsWith(':') && segment !== got[i])) return undefined;
  // Decoded only once the route matches, so that a malformed escape elsewhere stays a 404.
  return Object.fromEntries(
    want.flatMap((segment, i) =>
      segment.startsWith(':') ? [[segment.slice(1), decodeSegment(got[i] ?? '')]] : [],
    ),
  );
}

export function matchHttp(spec: FunctionSpec, method: string, path: string): Match {
  const allowed = new Set<HttpMethod>();
  for (const operation of spec.operations) {
    for (const route of operation.http ?? []) {
      const params = matchPath(route.path, path);
      if (params === undefined) continue;
      if (route.method === method) return { operation, params };
      allowed.add(route.method);
    }
  }
  if (allowed.size > 0) {
    throw new PlatformError({
      reason: 'method_not_allowed',
      message: `${method} is not allowed on ${path}; allowed: ${[...allowed].join(', ')}`,
    });
  }
  throw new PlatformError({ reason: 'not_found', message: `no operation at ${method} ${path}` });
}

export function matchEvent(spec: FunctionSpec, trigger: Exclude<Trigger, { kind: 'http' }>): Match {
  const operation =
    spec.operations.find((op) =>
      trigger.kind === 'ping' ? op.ping === true : (op.events ?? []).includes(trigger.event.type),
    ) ?? spec.operations.find((op) => op.anyEvent === true);
  if (operation === undefined) {
    const accepted = spec.operations.flatMap((op) => [
      ...(op.events ?? []),
      ...(op.ping === true ? ['dev.knative.sources.ping'] : []),
    ]);
    throw new PlatformError({
      reason: 'unsupported_event_type',
      message: `${spec.name} does not handle CloudEvents of type ${trigger.event.type}; accepted: ${accepted.join(', ') || 'none'}`,
    });
  }
  return { operation, params: {} };
}

/** The methods allowed on a path, for the Allow header of a 405. */
export function allowedMethods(spec: FunctionSpec, path: string): HttpMethod[] {
  return spec.operations.flatMap((op) =>
    (op.http ?? []).filter((r) => matchPath(r.path, path) !== undefined).map((r) => r.method),
  );
}
