/**
 * The function host: turns a FunctionSpec into one HTTP handler for the functions framework. Every request
 * (but GET /healthz and /_/health, which the server answers before the host is loaded) goes through the same
 * steps:
 *   readiness/metrics endpoints -> authentication (auth.ts: an API token, or an allowed sender's
 *   service-account token) -> trigger decoding (JSON | CloudEvent | PingSource)
 *   -> operation lookup -> zod validation -> operation -> JSON answer, or RFC 9457 problem+json on error;
 * with a request id, one structured log line per request and Prometheus metrics per operation and outcome.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Request, Response } from '@google-cloud/functions-framework';
import type { z } from 'zod';
import type { JWTVerifyGetKey } from 'jose';
import { callerAuthenticator } from './auth.ts';
import { tooLarge } from './body.ts';
import { requestWorkMs, type PlatformConfig, type SenderSettings } from './config.ts';
import { PlatformError, toPlatformError } from './errors.ts';
import type { Logger } from './logger.ts';
import { eventAnswerStatus, eventRedelivery, fromBrokerFilter } from './event-answer.ts';
import { outcomeOf, type FunctionMetrics, type TriggerKind } from './metrics.ts';
import { InvocationStopped, type FunctionSpec, type InvocationContext } from './operation.ts';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.ts';
import { requestIdOf } from './request-id.ts';
import type { IdempotencyStore } from './idempotency.ts';
import { issuerKeys, type SenderTrust } from './sender-identity.ts';
import { allowedMethods, matchEvent, matchHttp, type Match } from './routing.ts';
import { decodeTrigger, isCloudEventRequest, type Trigger } from './trigger.ts';

export interface HostDependencies {
  readonly config: PlatformConfig;
  readonly log: Logger;
  readonly metrics: FunctionMetrics;
  /** Readiness of the function's dependencies (database, ...); GET /readyz answers 503 when it throws. */
  readonly ready?: () => Promise<void>;
  /**
   * Aborted (with an InvocationStopped reason) when the instance shuts down: running operations see it
   * through ctx.signal.
   */
  readonly shutdown?: AbortSignal;
  /** Where idempotent operations keep their answers (the platform store). */
  readonly idempotency?: IdempotencyStore;
  /** The service-account issuer's keys; fetched from SERVICE_ACCOUNT_JWKS_URL when not given. */
  readonly issuerKeys?: JWTVerifyGetKey;
}

/** The default audience of a function's sender tokens. */
export const defaultAudience = (functionName: string): string => `tenant-lifecycle/${functionName}`;

/** Whom the function accepts service-account tokens from; none when EVENT_SENDERS is empty. */
function senderTrust(
  settings: SenderSettings,
  functionName: string,
  keys: JWTVerifyGetKey | undefined,
): SenderTrust | undefined {
  if (settings.allowed.length === 0) return undefined;
  return {
    issuer: settings.issuer,
    audience: settings.audience ?? defaultAudience(functionName),
    senders: new Set(settings.allowed),
    keys:
      keys ??
      issuerKeys({
        jwksUrl: settings.jwksUrl,
        tokenFile: settings.tokenFile,
        caFile: settings.caFile,
        variables: { tokenFile: 'SERVICE_ACCOUNT_TOKEN_FILE', caFile: 'SERVICE_ACCOUNT_CA_FILE' },
      }),
  };
}

export type HttpHandler = (req: Request, res: Response) => Promise<void>;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Keeps a caller-supplied label printable and short before it reaches logs and the audit log. */
function label(value: string | undefined): string | undefined {
  const cleaned = value
    ?.replace(/[^\x20-\x7e]/g, '')
    .trim()
    .slice(0, 128);
  return cleaned === '' ? undefined : cleaned;
}

function queryInput(query: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof query !== 'object' || query === null) return out;
  for (const [key, value] of Object.entries(query)) {
    if (typeof value === 'string') out[key] = value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The operation's input: query < body < path parameters for HTTP; the event data for events; nothing for
 * an operation that takes any event (its event, data included, is in the context).
 */
function assembleInput(trigger: Trigger, match: Match, query: unknown): unknown {
  if (match.operation.anyEvent === true && trigger.kind !== 'http') return {};
  const body = trigger.kind === 'http' ? trigger.body : trigger.data;
  if (body !== undefined && !isPlainObject(body)) {
    throw new PlatformError({
      reason: 'validation',
      message: `${trigger.kind === 'http' ? 'request body' : 'CloudEvent data'} must be a JSON object`,
    });
  }
  return trigger.kind === 'http' ? { ...queryInput(query), ...body, ...match.params } : { ...body };
}

function validate<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
  throw new PlatformError({
    reason: 'validation',
    message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
    issues,
  });
}

export function createHandler(spec: FunctionSpec, deps: HostDependencies): HttpHandler {
  const senders = senderTrust(deps.config.senders, spec.name, deps.issuerKeys);
  const authenticate = callerAuthenticator({
    apiTokens: deps.config.apiTokens,
    ...(senders === undefined ? {} : { senders }),
  });
  const needsStore = spec.operations.filter((op) => op.idempotent === true).map((op) => op.name);
  if (needsStore.length > 0 && deps.idempotency === undefined) {
    throw new Error(
      `${spec.name}: operations ${needsStore.join(', ')} are idempotent but no platform store is configured`,
    );
  }
  const { config, metrics } = deps;

  return async (req, res) => {
    const started = performance.now();
    const requestId = requestIdOf(req.headers);
    const log = deps.log.child({ requestId });
    res.setHeader('X-Request-ID', requestId);
    const path = req.path;
    let trigger: TriggerKind = isCloudEventRequest(req.headers) ? 'cloudevent' : 'http';
    let operationName = 'unknown';
    let eventType: string | undefined;
    let eventId: string | undefined;
    let eventSource: string | undefined;
    let caller: string | undefined;
    /** Why authentication failed, for the request's log line (never the token). */
    let refusal: { authFailure: string; refusedSender?: string } | undefined;
    let status = 500;

    try {
      if (req.method === 'GET' && path === '/readyz') {
        await deps.ready?.();
        status = 200;
        res.status(200).json({ status: 'ready' });
        return;
      }
      if (req.method === 'GET' && path === '/metrics') {
        status = 200;
        res
          .status(200)
          .type(metrics.registry.contentType)
          .send(await metrics.registry.metrics());
        return;
      }

      const authentication = await authenticate(req.headers);
      if (!authentication.authenticated) {
        const { failure, refusedSender } = authentication;
        refusal =
          refusedSender === undefined ? { authFailure: failure } : { authFailure: failure, refusedSender };
        throw new PlatformError({ reason: 'unauthorized', message: authentication.message });
      }
      caller = authentication.caller;

      // The body was read (bounded) by the server's guard or by the framework's parser; check the bound
      // here too, for the case where the framework's own parser (1 GiB limit) read it.
      const rawBody: Buffer = req.rawBody ?? Buffer.alloc(0);
      if (rawBody.length > config.maxBodyBytes) throw tooLarge(config.maxBodyBytes);
      const decoded = decodeTrigger(req.headers, rawBody);
      trigger = decoded.kind;
      const match = decoded.kind === 'http' ? matchHttp(spec, req.method, path) : matchEvent(spec, decoded);
      operationName = match.operation.name;
      if (decoded.kind !== 'http') {
        eventType = decoded.event.type;
        eventId = decoded.event.id;
        eventSource = decoded.event.source;
      }
      const input = validate(match.operation.input, assembleInput(decoded, match, req.query));

      const gone = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) gone.abort(new InvocationStopped('caller'));
      });
      const actorLabel = label(header(req.headers, 'x-actor'));
      const idempotencyKey = label(header(req.headers, 'idempotency-key'));
      const ctx: InvocationContext = {
        requestId,
        log: log.child({ operation: operationName }),
        trigger,
        actor: actorLabel === undefined ? caller : `${actorLabel} via ${caller}`,
        ...(decoded.kind === 'http' ? {} : { event: decoded.event }),
        ...(decoded.kind !== 'http' && match.operation.anyEvent === true ? { eventData: decoded.data } : {}),
        deadline: Date.now() + requestWorkMs(config.requestTimeoutMs),
        signal: deps.shutdown === undefined ? gone.signal : AbortSignal.any([gone.signal, deps.shutdown]),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      };
      const { operation } = match;
      const runOnce = async () => {
        const body = (await operation.run(input, ctx)) ?? {};
        return {
          status: operation.successStatus ?? 200,
          body,
          ...(operation.storedAnswer === undefined ? {} : { replayBody: operation.storedAnswer(body) }),
        };
      };
      const answer =
        operation.idempotent === true && idempotencyKey !== undefined && deps.idempotency !== undefined
          ? await deps.idempotency.runIdempotent(
              {
                scope: `${spec.name}:${operation.name}`,
                key: idempotencyKey,
                request: input,
              },
              runOnce,
            )
          : { ...(await runOnce()), replayed: false };
      if (answer.replayed) res.setHeader('Idempotent-Replayed', 'true');
      status = answer.status;
      if (trigger !== 'http' && fromBrokerFilter(req.headers)) res.status(status).end();
      else if (operation.answerType === 'text/plain')
        res.status(status).type('text/plain').send(String(answer.body));
      else res.status(status).json(answer.body);
    } catch (error) {
      const failure = toPlatformError(error);
      // An event's answer tells Knative whether to retry (event-answer.ts); a plain request's is the problem's.
      status = trigger === 'http' ? failure.status : eventAnswerStatus(failure.status, failure.retryable);
      if (failure.reason === 'unauthorized')
        res.setHeader('WWW-Authenticate', 'Bearer realm="tenant-lifecycle"');
      if (failure.reason === 'method_not_allowed')
        res.setHeader('Allow', allowedMethods(spec, path).join(', '));
      if (failure.retryAfterSeconds !== undefined)
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil(failure.retryAfterSeconds))));
      const redelivery = trigger === 'http' || eventType === undefined ? undefined : eventRedelivery(status);
      const fields = {
        reason: failure.reason,
        retryable: failure.retryable,
        upstream: failure.upstream,
        ...(redelivery === undefined ? {} : { eventType, eventId, eventSource, redelivery }),
      };
      if (status >= 500) log.error({ ...fields, err: failure.cause ?? failure }, failure.message);
      else if (redelivery === 'dead-lettered')
        // The line to find at 3 a.m.: which event, why, and that Knative will not deliver it again.
        log.warn(
          fields,
          `event ${eventType ?? ''} ${eventId ?? ''} refused for good (${failure.reason}): ${failure.message}; not retried, sent to the dead-letter sink`,
        );
      else log.warn(fields, failure.message);
      const problem = toProblem(failure, requestId);
      if (!res.headersSent)
        res
          .status(status)
          .type(PROBLEM_CONTENT_TYPE)
          .send(
            JSON.stringify(
              status === failure.status ? problem : { ...problem, status, httpStatus: failure.status },
            ),
          );
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const outcome = outcomeOf(status);
      if (path !== '/metrics' && path !== '/readyz') {
        metrics.observe({ operation: operationName, trigger, outcome }, seconds);
        log.info(
          {
            method: req.method,
            path,
            trigger,
            operation: operationName,
            eventType,
            eventId,
            eventSource,
            ...(trigger === 'http' || eventType === undefined ? {} : { redelivery: eventRedelivery(status) }),
            caller,
            ...refusal,
            status,
            outcome,
            durationMs: Math.round(seconds * 1000),
          },
          'request completed',
        );
      }
    }
  };
}
