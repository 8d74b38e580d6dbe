/**
 * dead-letter: the dead-letter sink of every Trigger (and the Broker's default). Knative sends it each
 * event it could not deliver, with the extensions `knativeerrordest` (where delivery failed),
 * `knativeerrorcode` (the last HTTP status) and `knativeerrordata` (the last answer's body, base64, at
 * most 1024 characters): knative.dev/eventing v0.50.0 pkg/kncloudevents/event_dispatcher.go
 * (`dispatchExecutionInfoTransformers`) and pkg/kncloudevents/attributes/knative_error.go.
 * Path: CloudEvent of any type -> host (only EVENT_SENDERS, the Triggers' OIDC identities) -> record
 * (platform store, table dead_letters; secret-looking data redacted) -> metric -> log line.
 * Operators list the records (GET /dead-letters) and replay one (POST /dead-letters/:id/replay): the
 * event, its id and source unchanged, goes again to the Broker (REPLAY_SINK), at most once unless `force`.
 */
import { CloudEvent } from 'cloudevents';
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { PlatformError } from '../../shared/platform/errors.ts';
import { eventSinkFor, type EventSink } from '../../shared/platform/event-sink.ts';
import type { Logger } from '../../shared/platform/logger.ts';
import { operation, type FunctionSpec, type InvocationContext } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { redactSecrets } from '../../shared/store/audit.ts';
import { runAudited } from '../../shared/store/audited-run.ts';
import type { DeadLetter, DeadLetterEntry } from '../../shared/store/dead-letters.ts';
import type { PlatformStore } from '../../shared/store/store.ts';
import { connectPlatformStore } from '../../shared/wiring/platform-store.ts';
import type { DeadLetterConfig } from './config.ts';

/** Knative's extensions on a dead-lettered event (pkg/kncloudevents/attributes/knative_error.go). */
export const ERROR_DEST = 'knativeerrordest';
export const ERROR_CODE = 'knativeerrorcode';
export const ERROR_DATA = 'knativeerrordata';
/**
 * The Broker's bookkeeping on an event (pkg/broker/ttl.go `TTLAttribute`, pkg/broker/metrics.go
 * `EventArrivalTime`): its ingress sets them again on a replay, so they are not kept.
 */
export const BROKER_TTL = 'knativebrokerttl';
export const BROKER_ARRIVAL = 'knativearrivaltime';

/**
 * The event types the product routes (test/unit/functions/dead-letter.test.ts keeps this equal to what
 * the functions accept): the `type` label of the metric is one of these or `other`.
 */
export const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set([
  'dev.tenantlifecycle.tenant.provision.requested',
  'dev.tenantlifecycle.tenant.deprovision.requested',
  'dev.tenantlifecycle.tenant.reset.requested',
  'dev.tenantlifecycle.tenant.cleanup.requested',
  'dev.tenantlifecycle.tenant.sync.requested',
  'dev.tenantlifecycle.everest.limits.changed',
  'dev.tenantlifecycle.pg.reconcile.requested',
  'dev.knative.sources.ping',
  'dev.knative.apiserver.ref.add',
  'dev.knative.apiserver.ref.update',
  'dev.knative.apiserver.ref.delete',
  'dev.knative.apiserver.resource.add',
  'dev.knative.apiserver.resource.update',
  'dev.knative.apiserver.resource.delete',
]);

/** The functions events are delivered to: the `destination` label is one of these or `other`. */
export const KNOWN_DESTINATIONS: ReadonlySet<string> = new Set([
  'provision',
  'deprovision',
  'reset',
  'cleanup',
  'sync',
  'bootstrap',
  'enforce',
  'pg-reconcile',
]);

/** The metric's `type` label: bounded to the product's event types. */
export function typeLabel(type: string): string {
  return KNOWN_EVENT_TYPES.has(type) ? type : 'other';
}

/**
 * The metric's `destination` label: the function a URL addresses (a Knative Service's host starts with
 * its name: `provision.tenant-functions.svc.cluster.local`), bounded to the product's functions.
 */
export function destinationLabel(destination: string): string {
  let host: string;
  try {
    host = new URL(destination).hostname;
  } catch {
    return destination === '' ? 'unknown' : 'other';
  }
  const name = host.split('.')[0] ?? '';
  return KNOWN_DESTINATIONS.has(name) ? name : 'other';
}

/** `knativeerrordata` decoded: base64 of the last answer's body, kept when it is text. */
export function decodeErrorData(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const text = Buffer.from(value, 'base64').toString('utf8');
  return text.includes('\uFFFD') ? value : text;
}

/**
 * The event data as it may be stored: secret-looking keys redacted (the audit log's rule), and the `data`
 * and `stringData` of a Kubernetes Secret (an ApiServerSource in Resource mode sends whole objects).
 * The product's own events carry no secret; this guards against a source configured otherwise.
 */
export function redactEventData(data: unknown): { readonly data: unknown; readonly redacted: boolean } {
  if (data === undefined || typeof data === 'string') return { data, redacted: false };
  const cleaned = redactSecrets(data);
  const secretObject = (value: unknown): boolean =>
    typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Secret';
  const stripped = secretObject(cleaned)
    ? {
        ...(cleaned as Record<string, unknown>),
        ...('data' in (cleaned as object) ? { data: '[redacted]' } : {}),
        ...('stringData' in (cleaned as object) ? { stringData: '[redacted]' } : {}),
      }
    : cleaned;
  return { data: stripped, redacted: JSON.stringify(stripped) !== JSON.stringify(data) };
}

/** What the sink keeps of the event in `ctx` (attributes, extensions but Knative's error ones, data). */
export function deadLetterOf(ctx: Pick<InvocationContext, 'event' | 'eventData'>): DeadLetterEntry {
  const event = ctx.event;
  if (event === undefined)
    throw new PlatformError({
      reason: 'bad_request',
      message: 'the dead-letter sink takes CloudEvents only',
    });
  const received = event.extensions ?? {};
  const notKept = new Set([ERROR_DEST, ERROR_CODE, ERROR_DATA, BROKER_TTL, BROKER_ARRIVAL]);
  const extensions = Object.fromEntries(Object.entries(received).filter(([name]) => !notKept.has(name)));
  const destination = String(received[ERROR_DEST] ?? '');
  const code = Number(received[ERROR_CODE]);
  const errorData = decodeErrorData(received[ERROR_DATA]);
  const { data, redacted } = redactEventData(ctx.eventData);
  return {
    eventId: event.id,
    eventSource: event.source,
    eventType: event.type,
    ...(event.subject === undefined ? {} : { eventSubject: event.subject }),
    destination,
    ...(Number.isInteger(code) ? { errorCode: code } : {}),
    ...(errorData === undefined ? {} : { errorData }),
    event: {
      attributes: {
        ...extensions,
        id: event.id,
        type: event.type,
        source: event.source,
        ...(event.subject === undefined ? {} : { subject: event.subject }),
        ...(event.time === undefined ? {} : { time: event.time }),
        ...(event.datacontenttype === undefined ? {} : { datacontenttype: event.datacontenttype }),
        ...(event.dataschema === undefined ? {} : { dataschema: event.dataschema }),
      },
      ...(data === undefined ? {} : { data }),
    },
    redacted,
  };
}

/** The event a replay sends: the stored one, id and source unchanged (receivers dedupe by them). */
export function replayEvent(letter: DeadLetter): CloudEvent<unknown> {
  return new CloudEvent<unknown>({
    ...letter.event.attributes,
    ...(letter.event.data === undefined ? {} : { data: letter.event.data }),
  });
}

export class DeadLetterMetrics {
  private readonly received = new Counter({
    name: 'tenant_lifecycle_dead_letters_total',
    help: 'Events Knative could not deliver and sent to the dead-letter sink, by event type and destination function (both bounded: unknown ones count as "other").',
    labelNames: ['type', 'destination'] as const,
    registers: [],
  });
  private readonly replayed = new Counter({
    name: 'tenant_lifecycle_dead_letter_replays_total',
    help: 'Dead letters sent again by a replay, by event type.',
    labelNames: ['type'] as const,
    registers: [],
  });

  register(registry: Registry): void {
    registry.registerMetric(this.received);
    registry.registerMetric(this.replayed);
  }

  deadLettered(type: string, destination: string): void {
    this.received.inc({ type: typeLabel(type), destination: destinationLabel(destination) });
  }

  replay(type: string): void {
    this.replayed.inc({ type: typeLabel(type) });
  }
}

const deadLetterId = z
  .string()
  .regex(/^[1-9][0-9]{0,17}$/, 'a dead letter id (a positive integer)')
  .meta({ examples: ['1'] });

export const listRequest = z
  .object({
    state: z.enum(['pending', 'replayed', 'all']).default('pending'),
    type: z.string().min(1).max(256).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    before: deadLetterId.optional(),
  })
  .strict();

export const readRequest = z.object({ id: deadLetterId }).strict();

export const replayRequest = z
  .object({
    id: deadLetterId,
    /** Say what would be sent; send nothing, mark nothing. */
    dryRun: z.boolean().default(false),
    /** Send again although the record was replayed already. */
    force: z.boolean().default(false),
  })
  .strict()
  .meta({ examples: [{ id: '1', dryRun: true }] });

export type DeadLetterStore = Pick<
  PlatformStore,
  | 'recordDeadLetter'
  | 'listDeadLetters'
  | 'readDeadLetter'
  | 'claimDeadLetterReplay'
  | 'releaseDeadLetterReplay'
  | 'recordAudit'
>;

export interface DeadLetterDependencies {
  readonly store: DeadLetterStore;
  readonly metrics: DeadLetterMetrics;
  /** The Broker replays go through; none: replays are refused. */
  readonly replaySink?: Pick<EventSink, 'deliver'>;
}

/** A record as listed: the stored event included (its data is what was received, redacted). */
function view(letter: DeadLetter): Record<string, unknown> {
  return {
    ...letter,
    receivedAt: letter.receivedAt.toISOString(),
    lastReceivedAt: letter.lastReceivedAt.toISOString(),
    ...(letter.replayedAt === undefined ? {} : { replayedAt: letter.replayedAt.toISOString() }),
  };
}

export function deadLetterSpec(deps: DeadLetterDependencies): FunctionSpec {
  return {
    name: 'dead-letter',
    operations: [
      operation({
        name: 'record',
        input: z.object({}),
        anyEvent: true,
        run: async (_input, ctx) => {
          const entry = deadLetterOf(ctx);
          const letter = await deps.store.recordDeadLetter(entry);
          deps.metrics.deadLettered(entry.eventType, entry.destination);
          ctx.log.warn(
            {
              deadLetter: letter.id,
              eventType: entry.eventType,
              eventId: entry.eventId,
              eventSource: entry.eventSource,
              destination: entry.destination,
              errorCode: entry.errorCode,
              attempts: letter.attempts,
              redacted: entry.redacted,
            },
            `event ${entry.eventType} ${entry.eventId} was not delivered to ${entry.destination || 'its destination'} (last answer ${String(entry.errorCode ?? 'none')}): kept as dead letter ${letter.id}; replay with POST /dead-letters/${letter.id}/replay`,
          );
          return { id: letter.id, attempts: letter.attempts };
        },
      }),
      operation({
        name: 'list',
        input: listRequest,
        http: [{ method: 'GET', path: '/dead-letters' }],
        run: async (input) => {
          const page = await deps.store.listDeadLetters(input);
          return { ...page, items: page.items.map(view) };
        },
      }),
      operation({
        name: 'read',
        input: readRequest,
        http: [{ method: 'GET', path: '/dead-letters/:id' }],
        run: async (input) => view(await deps.store.readDeadLetter(input.id)),
      }),
      operation({
        name: 'replay',
        input: replayRequest,
        http: [{ method: 'POST', path: '/dead-letters/:id/replay' }],
        run: async (input, ctx) => {
          const sink = deps.replaySink;
          const letter = await deps.store.readDeadLetter(input.id);
          if (input.dryRun)
            return {
              id: letter.id,
              dryRun: true,
              wouldSend: sink !== undefined && (letter.replayedAt === undefined || input.force),
              event: replayEvent(letter).toJSON(),
            };
          if (sink === undefined)
            throw new PlatformError({
              reason: 'unavailable',
              retryable: false,
              message: 'replays need the Broker to send to: no REPLAY_SINK (or K_SINK) is configured',
            });
          return runAudited(
            deps.store,
            ctx,
            {
              operation: 'replay-dead-letter',
              target: `dead-letter:${input.id}`,
              record: (r: { replayed: boolean; eventType: string; eventId: string }) =>
                r.replayed
                  ? { details: { eventType: r.eventType, eventId: r.eventId, force: input.force } }
                  : 'nothing-changed',
            },
            async () => {
              const claim = await deps.store.claimDeadLetterReplay(input.id, ctx.actor, input.force);
              const { letter } = claim;
              const facts = { id: letter.id, eventType: letter.eventType, eventId: letter.eventId };
              if (!claim.claimed)
                return {
                  ...facts,
                  replayed: false,
                  reason: 'already replayed; send { "force": true } to send it again',
                  replayedAt: letter.replayedAt?.toISOString(),
                };
              try {
                await sink.deliver(replayEvent(letter));
              } catch (error) {
                await deps.store.releaseDeadLetterReplay(letter.id, claim.previous);
                throw error;
              }
              deps.metrics.replay(letter.eventType);
              return { ...facts, replayed: true, replayedAt: letter.replayedAt?.toISOString() };
            },
          );
        },
      }),
    ],
  };
}

export function deadLetterSetup(config: DeadLetterConfig, log: Logger): FunctionSetup {
  const connection = connectPlatformStore(config, log, 'dead-letter');
  const { store } = connection;
  const metrics = new DeadLetterMetrics();
  const sink = eventSinkFor(
    { sink: config.replaySink, tokenFile: config.eventSinkTokenFile },
    '/tenant-lifecycle/dead-letter',
    config.callTimeouts.eventSinkMs,
  );
  return {
    spec: deadLetterSpec({ store, metrics, ...(sink === undefined ? {} : { replaySink: sink }) }),
    registerMetrics: (registry) => {
      metrics.register(registry);
    },
    ready: () => store.ensureSchema(),
    close: async () => {
      await sink?.close();
      await connection.close();
    },
  };
}
