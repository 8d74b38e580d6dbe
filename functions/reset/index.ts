/**
 * reset: HTTP POST / (and /reset, docs/compatibility.md) with { username?, dryRun?, after? }, the CloudEvent
 * dev.tenantlifecycle.tenant.reset.requested, or the monthly PingSource. Path: trigger -> host ->
 * resetSweep (discovery once, namespaces in pages, bounded concurrency, deadline) -> resetNamespace
 * (one DELETE of a collection per resource type) -> starters applied again -> audit; a scheduled sweep that
 * stopped early sends itself the continuation event through the sink (CONTINUATION_SINK, a Broker).
 */
import { z } from 'zod';
import type { Logger } from '../../shared/platform/logger.ts';
import { eventSinkFor, type EventSink } from '../../shared/platform/event-sink.ts';
import {
  operation,
  stopCause,
  stoppedBy,
  type FunctionSpec,
  type InvocationContext,
} from '../../shared/platform/operation.ts';
import { PlatformError } from '../../shared/platform/errors.ts';
import { LOCK_BUSY_RETRY_AFTER_SECONDS } from '../../shared/store/lock-lease.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { DNS_LABEL } from '../../shared/platform/kubernetes-names.ts';
import { assertNotReserved, type ReservedNames } from '../../shared/platform/reserved-names.ts';
import { runAudited } from '../../shared/store/audited-run.ts';
import type { PlatformStore } from '../../shared/store/store.ts';
import type { TenantPlan } from '../../shared/tenancy/baseline.ts';
import { resetSweep, type ResetSweepPorts, type SweepStop } from '../../shared/tenancy/reset-sweep.ts';
import { terminatingTotals } from '../../shared/tenancy/reset.ts';
import { TenantRunMetrics } from '../../shared/tenancy/run-metrics.ts';
import { connectResetSystems } from '../../shared/wiring/reset-systems.ts';
import type { ResetConfig } from './config.ts';

export const RESET_EVENT = 'dev.tenantlifecycle.tenant.reset.requested';

export const resetRequest = z
  .object({
    username: z.string().regex(DNS_LABEL).optional(),
    dryRun: z.boolean().default(false),
    after: z.string().max(63).optional(),
  })
  .strict();

export interface ResetDependencies {
  readonly ports: ResetSweepPorts;
  readonly plans: ReadonlyMap<string, TenantPlan>;
  readonly reserved: ReservedNames;
  readonly concurrency: number;
  readonly maxNamespaces?: number | undefined;
  readonly store: Pick<PlatformStore, 'recordAudit' | 'withLock'>;
  readonly metrics?: TenantRunMetrics | undefined;
  /** Where the event that continues an unfinished scheduled sweep goes; without it the rest is left undone. */
  readonly continuation?: Pick<EventSink, 'send'> | undefined;
}

/**
 * A sweep that stopped early (deadline, per-invocation limit, SIGTERM) continues by itself when no one is
 * waiting for the answer (a PingSource or an event started it): an event carrying the cursor goes to the
 * sink, and a Trigger brings it back here. An HTTP caller gets the cursor in the answer and decides. A
 * sweep whose caller went away sends none: an HTTP caller cancelled it, and an event's sender, having no
 * answer, delivers the event again (the audit record holds the cursor either way).
 */
async function continueLater(
  deps: ResetDependencies,
  ctx: InvocationContext,
  request: z.infer<typeof resetRequest>,
  after: string | undefined,
): Promise<'scheduled' | 'not_configured' | 'caller' | 'caller_gone'> {
  if (stoppedBy(ctx.signal) === 'caller') return 'caller_gone';
  if (ctx.trigger === 'http') return 'caller';
  if (deps.continuation === undefined) {
    ctx.log.warn(
      { after },
      'reset stopped early and no CONTINUATION_SINK is configured: the namespaces after the cursor are not reset by this run',
    );
    return 'not_configured';
  }
  // If this fails the error answers the event, and the platform's delivery retries the whole sweep (resetting
  // a namespace twice is harmless), so no namespace is left out.
  const id = await deps.continuation.send(RESET_EVENT, {
    ...(after === undefined ? {} : { after }),
    dryRun: request.dryRun,
    ...(request.username === undefined ? {} : { username: request.username }),
  });
  ctx.log.info({ after, eventId: id }, 'reset continues in a follow-up invocation');
  return 'scheduled';
}

/**
 * The lock a reset holds: the tenant's (shared with provision and deprovision) for one tenant, the sweep's
 * for a sweep over all, so that two sweeps never run at once (a continuation and a retried event, a
 * schedule and an operator).
 */
function resetLock(username: string | undefined): string {
  return username === undefined ? 'reset:sweep' : `tenant:${username}`;
}

/** What stopped a sweep, as the audit record says it: deadline, limit, shutdown or caller_gone. */
function stopDetail(reason: SweepStop, signal: AbortSignal): string {
  return reason === 'signal' ? stopCause(signal) : reason;
}

/** The retryable problem of a sweep stopped by a lost lease, carrying what was done and the cursor. */
function leaseLostError(
  lost: unknown,
  done: { namespaces_reset: number; failed_resets: readonly string[]; continue?: { after?: string } },
): PlatformError {
  const cause = lost instanceof PlatformError ? lost : undefined;
  return new PlatformError({
    reason: cause?.reason === 'unavailable' ? 'unavailable' : 'conflict',
    message: `reset stopped: ${cause?.message ?? 'the lock lease was lost'}; ${done.namespaces_reset} namespaces were reset, those after the cursor were not; retry later`,
    retryable: true,
    retryAfterSeconds: LOCK_BUSY_RETRY_AFTER_SECONDS,
    extensions: {
      lockLost: true,
      namespacesReset: done.namespaces_reset,
      failed: done.failed_resets,
      continue: done.continue ?? {},
    },
  });
}

export function resetSpec(deps: ResetDependencies): FunctionSpec {
  return {
    name: 'reset',
    operations: [
      operation({
        name: 'reset',
        input: resetRequest,
        http: [
          { method: 'POST', path: '/' },
          { method: 'POST', path: '/reset' },
        ],
        events: [RESET_EVENT],
        ping: true,
        run: async (input, ctx) => {
          if (input.username !== undefined)
            assertNotReserved(input.username, deps.reserved, 'tenant', 'username');
          const swept = await runAudited<Awaited<ReturnType<typeof resetSweep>>>(
            deps.store,
            ctx,
            {
              operation: 'reset',
              target: input.username ?? '*',
              dryRun: input.dryRun,
              // A dry run changes nothing and takes no lock.
              lock: input.dryRun ? undefined : resetLock(input.username),
              lockWait: { until: ctx.deadline, signal: ctx.signal },
              record: (r) => ({
                // A sweep that stopped early did part of its work: the rest is in `continue`.
                partial: r.failed_resets.length > 0 || r.stopped !== undefined,
                details: {
                  namespacesReset: r.namespaces_reset,
                  failed: r.failed_resets,
                  skipped: r.skipped,
                  // Totals only: a sweep's per-namespace list can be long; the answer has it.
                  ...(Object.keys(r.terminating).length === 0
                    ? {}
                    : { terminating: terminatingTotals(r.terminating) }),
                  ...(r.stopped === undefined
                    ? {}
                    : { stopped: stopDetail(r.stopped.reason, ctx.signal), continue: r.continue }),
                },
              }),
            },
            async (lock) => {
              const done = await resetSweep(input, deps.ports, {
                plans: deps.plans,
                reserved: deps.reserved,
                deadline: ctx.deadline,
                concurrency: deps.concurrency,
                ...(deps.maxNamespaces === undefined ? {} : { maxNamespaces: deps.maxNamespaces }),
                signal: lock === undefined ? ctx.signal : AbortSignal.any([ctx.signal, lock.lost]),
              });
              if (!input.dryRun)
                deps.metrics?.run('reset', {
                  reset: done.namespaces_reset,
                  failed: done.failed_resets.length,
                });
              // Stopped because another instance may hold the lock now: the run fails, retryably, and its
              // record (failure, lockLost) says what was done; the sender's retry or the caller continues.
              if (done.stopped?.reason === 'signal' && lock?.lost.aborted === true)
                throw leaseLostError(lock.lost.reason, done);
              return done;
            },
          );
          // Sent once the sweep so far is recorded: the continuation never outruns the record of its part.
          return swept.continue === undefined
            ? swept
            : { ...swept, continuation: await continueLater(deps, ctx, input, swept.continue.after) };
        },
      }),
    ],
  };
}

export function resetSetup(config: ResetConfig, log: Logger): FunctionSetup {
  const systems = connectResetSystems(config, log);
  const { store } = systems;
  const metrics = new TenantRunMetrics();
  const sink = eventSinkFor(
    { ...config.continuation, tokenFile: config.eventSinkTokenFile },
    '/tenant-lifecycle/reset',
    config.callTimeouts.eventSinkMs,
  );
  return {
    spec: resetSpec({
      ports: systems.ports,
      plans: config.plans,
      reserved: config.reserved,
      concurrency: config.concurrency,
      maxNamespaces: config.maxNamespaces,
      store,
      continuation: sink,
      metrics,
    }),
    registerMetrics: (registry) => {
      metrics.register(registry);
    },
    ready: () => store.ensureSchema(),
    close: async () => {
      await sink?.close();
      await systems.close();
    },
  };
}
