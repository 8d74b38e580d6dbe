/**
 * The reset sweep over tenant namespaces: discovery once, then each namespace reset with bounded concurrency
 * and its plan's starter objects applied again. A sweep stops taking new namespaces before the invocation's
 * deadline and answers a continuation (`after`: the last namespace name done, namespaces being listed in
 * name order) so that a follow-up invocation finishes the job; 10,000 namespaces take several invocations,
 * never one that the platform kills half-way.
 *
 * Only tenant namespaces the product made are reset (ownership.ts): one `username` must name a namespace
 * that is that tenant's (else 409 not_owned; no namespace at all: 404), and a sweep over the tenant label
 * skips, and reports under `skipped`, every labelled namespace whose labels and owner annotation do not
 * agree, and every reserved name.
 */
import pLimit from 'p-limit';
import { PlatformError, toPlatformError } from '../platform/errors.ts';
import type { KubernetesObject, TenantPlan } from './baseline.ts';
import { annotations, labels, tenantNamespaceSelector } from './labels.ts';
import { resetNamespace, type CollectionClient } from './reset.ts';
import { listOccupancy, occupiedTargets, type MetadataLister } from './reset-occupancy.ts';
import type { DiscoveredResource } from './reset-plan.ts';
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
  readonly now?: () => number;
}

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
  let processed = 0;
  let started = 0;
  let stoppedAt: string | undefined;
  let lastDone: string | undefined;

  for await (const page of pages) {
    const todo = page
      .filter((n) => {
        const refusal = sweepRefusal(n, options.reserved);
        if (refusal !== undefined) skipped.push(refusal);
        return refusal === undefined;
      })
      // A namespace being deleted (deprovision, cleanup) is not reset: it is going away anyway.
      .filter((n) => n.terminating !== true && (request.after === undefined || n.name > request.after))
      .sort((a, b) => a.name.localeCompare(b.name));
    const jobs: Promise<void>[] = [];
    for (const ns of todo) {
      if (now() > options.deadline || started >= (options.maxNamespaces ?? Infinity)) {
        stoppedAt ??= ns.name;
        break;
      }
      started++;
      jobs.push(
        limit(async () => {
          if (now() > options.deadline) {
            stoppedAt ??= ns.name;
            return;
          }
          processed++;
          const here = occupancy === undefined ? targets : occupiedTargets(occupancy, ns.name, targets);
          const report = await resetNamespace(ports.raw, ns.name, here, { dryRun: request.dryRun === true });
          const errors = report.failures.map((f) => `${f.kind}: ${f.error}`);
          if (!request.dryRun && errors.length === 0) {
            errors.push(...(await reapplyStarters(ns, options.plans, ports.create)));
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
    throw new PlatformError({
      reason: 'not_found',
      message: `No provisioned user found with username: ${request.username}`,
    });
  }
  const complete = stoppedAt === undefined;
  return {
    message: request.dryRun
      ? 'Dry run: counted what a reset would delete; nothing was deleted'
      : request.username !== undefined
        ? `Namespace for user ${request.username} has been reset successfully`
        : complete
          ? 'All provisioned namespaces have been reset successfully'
          : 'Reset stopped before the deadline or the per-invocation limit; continue with the returned cursor',
    dryRun: request.dryRun === true,
    users_processed: processed,
    namespaces_reset: reset.length,
    failed_resets: failed.map((f) => f.namespace),
    failures: failed,
    skipped: skipped.sort((a, b) => a.name.localeCompare(b.name)),
    details,
    ...(complete || lastDone === undefined ? {} : { continue: { after: lastDone } }),
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

/** The plan's starter objects, created again after a reset; an object already there is fine. */
async function reapplyStarters(
  ns: TenantNamespace,
  plans: ReadonlyMap<string, TenantPlan>,
  create: (object: KubernetesObject) => Promise<void>,
): Promise<string[]> {
  const plan = plans.get(ns.labels[labels.plan] ?? '');
  const errors: string[] = [];
  for (const template of plan?.manifests ?? []) {
    try {
      await create(
        renderStarter(template, {
          tenant: ns.name,
          namespace: ns.name,
          email: ns.annotations[annotations.owner] ?? '',
        }),
      );
    } catch (error) {
      const failure = toPlatformError(error);
      if (failure.reason !== 'conflict') errors.push(`starter: ${failure.message}`);
    }
  }
  return errors;
}
