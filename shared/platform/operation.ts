/**
 * An operation is one thing a function does (provision a tenant, reset namespaces, ...), reachable by any of
 * its triggers: HTTP routes, CloudEvent types, and the Knative PingSource schedule. The same zod schema
 * validates the JSON body, the CloudEvent data and the PingSource data.
 */
import type { z } from 'zod';
import type { Logger } from './logger.ts';
import type { EventAttributes, TriggerKind } from './trigger.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRoute {
  readonly method: HttpMethod;
  /** Literal segments and `:name` parameters, e.g. `/limits/:namespace`. */
  readonly path: string;
}

export interface InvocationContext {
  readonly requestId: string;
  readonly log: Logger;
  readonly trigger: TriggerKind;
  /**
   * Who asked, as verified: `token#<n>` (which configured API token) or
   * `system:serviceaccount:<namespace>:<name>` (an allowed sender's token); with X-Actor sent,
   * `<label> via <identity>`. Never the caller-chosen CloudEvent source (that is `event.source`).
   */
  readonly actor: string;
  /** The CloudEvent's attributes when an event triggered the call (the source is the sender's claim). */
  readonly event?: EventAttributes;
  /** The event's data as sent (parsed when JSON), for an operation that takes any event (`anyEvent`). */
  readonly eventData?: unknown;
  /** Epoch ms by which the work must have answered (the platform's request timeout, minus a margin). */
  readonly deadline: number;
  /**
   * Aborted when the caller goes away or the instance shuts down (at SIGTERM, not at the end of the grace),
   * with an InvocationStopped reason saying which. Long operations check it between items and stop at a
   * safe point.
   */
  readonly signal: AbortSignal;
  /** The Idempotency-Key header, when sent. */
  readonly idempotencyKey?: string;
}

/** The reason of an aborted `ctx.signal`: who stopped the invocation. */
export class InvocationStopped extends Error {
  override readonly name = 'InvocationStopped';
  /** `caller`: the client closed its connection; `shutdown`: the instance got SIGTERM. */
  readonly by: 'caller' | 'shutdown';
  constructor(by: 'caller' | 'shutdown') {
    super(by === 'caller' ? 'the caller closed the connection' : 'the instance is shutting down');
    this.by = by;
  }
}

/** Who stopped an invocation whose signal is aborted; undefined while it runs, or for another reason. */
export function stoppedBy(signal: AbortSignal): 'caller' | 'shutdown' | undefined {
  return signal.aborted && signal.reason instanceof InvocationStopped ? signal.reason.by : undefined;
}

/** What an audit record says stopped a run early: `caller_gone` or `shutdown`. */
export function stopCause(signal: AbortSignal): 'caller_gone' | 'shutdown' {
  return stoppedBy(signal) === 'caller' ? 'caller_gone' : 'shutdown';
}

export interface Operation<I = unknown, O = unknown> {
  readonly name: string;
  readonly input: z.ZodType<I>;
  readonly http?: readonly HttpRoute[];
  /** CloudEvent types that invoke this operation. */
  readonly events?: readonly string[];
  /** Whether a Knative PingSource event (dev.knative.sources.ping) invokes this operation. */
  readonly ping?: boolean;
  /**
   * Every CloudEvent that no other operation takes, pings included, whatever its data (the dead-letter
   * sink): the input is `{}`, the event is in `ctx.event` and its data in `ctx.eventData`.
   */
  readonly anyEvent?: boolean;
  /**
   * Honour the Idempotency-Key header: a replay gets the stored answer, a concurrent duplicate 409. Needs
   * the platform store (the function refuses to start without one).
   */
  readonly idempotent?: boolean;
  /** What an idempotent operation stores for replays; defaults to the whole answer. Strip secrets here. */
  readonly storedAnswer?: (answer: O) => unknown;
  /** `text/plain`: the answer is a string sent as text (raw listings, docs/compatibility.md); else JSON. */
  readonly answerType?: 'text/plain';
  /** HTTP status of a successful answer; defaults to 200. */
  readonly successStatus?: number;
  readonly run: (input: I, ctx: InvocationContext) => Promise<O>;
}

/** Keeps `I` and `O` checked inside the definition while the function holds a list of mixed operations. */
export function operation<I, O>(spec: Operation<I, O>): Operation {
  return spec as unknown as Operation;
}

export interface FunctionSpec {
  /** The function's name: Knative Service, FUNCTION_TARGET, metric and log label. */
  readonly name: string;
  readonly operations: readonly Operation[];
}
