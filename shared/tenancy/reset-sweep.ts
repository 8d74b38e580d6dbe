/**
 * The reset sweep over tenant namespaces: discovery once, then each namespace reset with bounded concurrency
 * and its plan's starter objects applied again. A sweep stops taking new namespaces when the invocation's
 * deadline passes, its per-invocation limit is reached or its signal is aborted (the caller went away, the
 * instance shuts down, the sweep's lock lease was lost), and answers a continuation (`after`: the last
 * namespace name done, namespaces being listed in name order) so that a follow-up invocation finishes the
 * job; 10,000 namespaces take several invocations, never one that the platform kills half-way.
 *
 * The safe point is between namespaces: one namespace's reset (its collection deletes, then its starter
 * objects applied again) always runs to its end once started, so that no namespace is left emptied without
 * its starters. Namespaces are started in name order, at most `concurrency` at a time, and none is started
 * once the sweep stops, so the namespaces done are exactly those up to the cursor (a prefix of the order):
 * the continuation covers exactly the rest.
 *
 * Only tenant namespaces the product made are reset (ownership.ts): one `username` must name a namespace
 * that is that tenant's (else 409 not_owned; no namespace at all: 404), and a sweep over the tenant label
 * skips, and reports under `skipped`, every labelled namespace whose labels and owner annotation do not
 * agree, and every reserved name.
 */
import pLimit from 'p-limit';
import { PlatformError, toPlatformError } from '../platform/errors.ts';
import type { TenantPlan } from './baseline.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import { annotations, labels, tenantNamespaceSelector } from './labels.ts';
import {
  resetNamespace,
  stillTerminating,
  terminatingTotals,
  type CollectionClient,
  type Terminating,
} from './reset.ts';
import { listOccupancy, occupiedTargets, type MetadataLister } from './reset-occupancy.ts';
import type { DiscoveredResource } from '../adapters/kubernetes/discovery.ts';
import { resetTargets } from './reset-plan.ts';
import { isReserved, type ReservedNames } from '../platform/reserved-names.ts';
import { namespaceOwnership, namespaceTenant, notOwnedError, type NotOwned } from './ownership.ts';
import { renderStarter } from './starters.ts';

export interface TenantNamespace {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  /** Deletion requested: such a namespace is skipped. */
  readonly terminating?: boolean;
}

export interface ResetSweepPorts {
  readonly raw: CollectionClient;
  /** Metadata lists across namespaces: when present, a full sweep deletes only where objects are. */
  readonly lister?: MetadataLister;
  readonly discover: () => Promise<DiscoveredResource[]>;
  readonly namespacePages: (selector: string) => AsyncIterable<TenantNamespace[]>;
  readonly readNamespace: (name: string) => Promise<TenantNamespace | undefined>;
  readonly create: (object: KubernetesObject) => Promise<void>;
}

export interface ResetRequest {
  readonly username?: string | undefined;
  readonly dryRun?: boolean | undefined;
  /** Continue after this namespace (from a previous answer's `continue.after`). */
  readonly after?: string | undefined;
}

export interface ResetSweepOptions {
  readonly plans: ReadonlyMap<string, TenantPlan>;
  /** Namespaces never reset, labelled or not. */
  readonly reserved?: ReservedNames;
  readonly deadline: number;
  readonly concurrency?: number;
  /** Namespaces one invocation takes at most (spreads a large sweep over several invocations); no limit by default. */
  readonly maxNamespaces?: number;
  /** Stops the sweep at its next safe point when aborted. */
  readonly signal?: AbortSignal;
  readonly now?: () => number;
}

/** Why a sweep stopped before the end: its deadline, its per-invocation limit, or its signal. */
export type SweepStop = 'deadline' | 'limit' | 'signal';

export async function resetSweep(request: ResetRequest, ports: ResetSweepPorts, options: ResetSweepOptions) {
  const now = options.now ?? Date.now;
  const targets = resetTargets(await ports.discover());
  // One sweep over many namespaces first learns where objects are; one namespace is cheaper asked directly.
  const occupancy =
    request.username === undefined && ports.lister !== undefined
      ? await listOccupancy(ports.lister, targets)
      : undefined;
  const pages =
    request.username === undefined
      ? ports.namespacePages(tenantNamespaceSelector)
      : await oneTenantNamespace(request.username, ports);
  const skipped: NotOwned[] = [];
  const limit = pLimit(options.concurrency ?? 4);
  const reset: string[] = [];
  const failed: { namespace: string; errors: string[] }[] = [];
  const details: Record<string, Record<string, number>> = {};
  const terminating: Record<string, Terminating> = {};
  let processed = 0;
  let started = 0;
  let stoppedAt: string | undefined;
  let stopReason: SweepStop | undefined;
  let lastDone: string | undefined;
  /** Why no further namespace may start now, if so. */
  const mustStop = (): SweepStop | undefined =>
    options.signal?.aborted === true
      ? 'signal'
      : now() > options.deadline
        ? 'deadline'
        : started >= (options.maxNamespaces ?? Infinity)
          ? 'limit'
          : undefined;
  const stopAt = (name: string, reason: SweepStop) => {
    // The first namespace not started in name order; a later one seen first is replaced.
    if (stoppedAt === undefined || name < stoppedAt) {
      stoppedAt = name;
      stopReason = reason;
    }
  };

  for await (const page of pages) {
    const todo = page
      .filter((n) => {
        const refusal = sweepRefusal(n, options.reserved);
        if (refusal !== undefined) skipped.push(refusal);
        return refusal === undefined;
      })
      // A namespace being deleted (deprovision, cleanup) is not reset: it is going away anyway.
      .filter((n) => n.terminating !== true && (request.after === undefined || n.name > request.after))
      // Code-unit order, as the cursor (`>`) and the apiserver's list compare names.
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const jobs: Promise<void>[] = [];
    for (const ns of todo) {
      const reason = mustStop();
      if (reason !== undefined) {
        stopAt(ns.name, reason);
        break;
      }
      started++;
      jobs.push(
        limit(async () => {
          // Queued behind running namespaces: check again before starting this one.
          const late =
            options.signal?.aborted === true ? 'signal' : now() > options.deadline ? 'deadline' : undefined;
          if (late !== undefined) {
            stopAt(ns.name, late);
            return;
          }
          processed++;
          const here = occupancy === undefined ? targets : occupiedTargets(occupancy, ns.name, targets);
          const report = await resetNamespace(ports.raw, ns.name, here, { dryRun: request.dryRun === true });
          const errors = report.failures.map((f) => `${f.kind}: ${f.error}`);
          // What was deleted but is not gone yet (grace periods, finalizers): reported, not awaited.
          const pending =
            request.dryRun || ports.lister === undefined
              ? undefined
              : await stillTerminating(
                  ports.lister,
                  ns.name,
                  here.filter((t) => (report.counts[t.kind] ?? 0) > 0),
                );
          if (pending !== undefined && Object.keys(pending.kinds).length > 0)
            terminating[ns.name] = pending.kinds;
          if (!request.dryRun && errors.length === 0) {
            errors.push(
              ...(await reapplyStarters(ns, options.plans, ports.create, pending?.objects ?? new Set())),
            );
          }
          details[ns.name] = { ...report.counts };
          if (errors.length > 0) failed.push({ namespace: ns.name, errors });
          else reset.push(ns.name);
          if (lastDone === undefined || ns.name > lastDone) lastDone = ns.name;
        }),
      );
    }
    await Promise.all(jobs);
    if (stoppedAt !== undefined) break;
  }

  if (request.username !== undefined && processed === 0) {
    if (stoppedAt !== undefined)
      throw new PlatformError({
        reason: 'unavailable',
        message: `reset of ${request.username} was stopped before it started (${stopReason ?? 'signal'}); nothing was deleted`,
      });
    throw new PlatformError({
      reason: 'not_found',
      message: `No provisioned user found with username: ${request.username}`,
    });
  }
  const complete = stoppedAt === undefined;
  // Nothing done in this run: the rest starts where this run was asked to start.
  const cursor = lastDone ?? request.after;
  const totals = terminatingTotals(terminating);
  const stillGoing = Object.values(totals.objects).reduce((a, b) => a + b, 0);
  const goingNote =
    stillGoing === 0
      ? ''
      : `; ${stillGoing} deleted objects are still terminating (${[
          ...Object.entries(totals.objects).map(([kind, n]) => `${kind}: ${n}`),
          ...(totals.finalizers.length === 0 ? [] : [`finalizers: ${totals.finalizers.join(', ')}`]),
        ].join(
          '; ',
        )}): they go once their grace period ends and their finalizers are removed, see terminating`;
  return {
    message: request.dryRun
      ? 'Dry run: counted what a reset would delete; nothing was deleted'
      : request.username !== undefined
        ? stillGoing === 0
          ? `Namespace for user ${request.username} has been reset successfully`
          : `Namespace for user ${request.username} has been reset${goingNote}`
        : complete
          ? `All provisioned namespaces have been reset successfully${goingNote}`
          : `Reset stopped early (${stopReason === 'signal' ? 'stopped' : stopReason === 'limit' ? 'per-invocation limit' : 'deadline'}); the namespaces after the cursor are not reset yet: continue with the returned cursor${goingNote}`,
    dryRun: request.dryRun === true,
    users_processed: processed,
    namespaces_reset: reset.length,
    failed_resets: failed.map((f) => f.namespace),
    failures: failed,
    skipped: skipped.sort((a, b) => a.name.localeCompare(b.name)),
    details,
    /** Per namespace and kind: deleted objects not gone yet when the namespace's reset ended. */
    terminating,
    ...(complete
      ? {}
      : {
          stopped: { reason: stopReason ?? 'signal', next: stoppedAt },
          continue: cursor === undefined ? {} : { after: cursor },
        }),
  };
}

/** Why a labelled namespace is not reset, or undefined when it is a tenant's own. */
function sweepRefusal(namespace: TenantNamespace, reserved?: ReservedNames): NotOwned | undefined {
  if (reserved !== undefined && isReserved(namespace.name, reserved))
    return { kind: 'Namespace', name: namespace.name, reason: 'it is a reserved name' };
  const verdict = namespaceTenant(namespace);
  return 'refusal' in verdict ? verdict.refusal : undefined;
}

/** The one namespace of `username` as a page: absent or terminating is no page (404), foreign is a 409. */
async function oneTenantNamespace(username: string, ports: ResetSweepPorts): Promise<TenantNamespace[][]> {
  const namespace = await ports.readNamespace(username);
  const ownership = namespaceOwnership(username, namespace);
  if (ownership.status === 'not_owned') throw notOwnedError('reset', username, [ownership.object]);
  return namespace === undefined ? [] : [[namespace]];
}

/**
 * The plan's starter objects, created again after a reset; an object already there is fine, unless it is
 * the deleted one still terminating (a PersistentVolumeClaim a pod still mounts): that starter would be
 * gone once it finishes, so it is a failure of this namespace's reset, and resetting again recreates it.
 */
async function reapplyStarters(
  ns: TenantNamespace,
  plans: ReadonlyMap<string, TenantPlan>,
  create: (object: KubernetesObject) => Promise<void>,
  terminating: ReadonlySet<string>,
): Promise<string[]> {
  const plan = plans.get(ns.labels[labels.plan] ?? '');
  const errors: string[] = [];
  for (const template of plan?.manifests ?? []) {
    const starter = renderStarter(template, {
      tenant: ns.name,
      namespace: ns.name,
      email: ns.annotations[annotations.owner] ?? '',
    });
    try {
      await create(starter);
    } catch (error) {
      const failure = toPlatformError(error);
      const what = `${starter.kind}/${starter.metadata.name}`;
      if (failure.reason !== 'conflict') errors.push(`starter: ${failure.message}`);
      else if (terminating.has(what))
        errors.push(
          `starter ${what}: the deleted one is still terminating, so it was not created again; reset again once it is gone`,
        );
    }
  }
  return errors;
}
