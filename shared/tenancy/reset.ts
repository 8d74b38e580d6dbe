/**
 * Resetting one tenant namespace: for each reset target, DELETE the collection in the namespace (objects
 * of the baseline and those Kubernetes recreates are excluded by the target's selectors), in a dry run with
 * dryRun=All, counting what goes (or would). One request per resource type, never one per object.
 */
import pLimit from 'p-limit';
import type { ListQuery, ResourceRef } from '../adapters/kubernetes/resource-path.ts';
import { toPlatformError } from '../platform/errors.ts';
import type { MetadataLister } from './reset-occupancy.ts';
import { targetCollection, targetSelectors, type ResetTarget } from './reset-plan.ts';

/** Collection deletes (the Kubernetes adapter's deleteCollection): answers how many objects went (or would). */
export interface CollectionClient {
  deleteCollection(
    collection: ResourceRef,
    action: string,
    options: Pick<ListQuery, 'labelSelector' | 'fieldSelector'> & {
      readonly propagationPolicy?: 'Background';
      readonly dryRun?: boolean;
    },
  ): Promise<number>;
}

export interface NamespaceResetReport {
  readonly namespace: string;
  /** Objects deleted (or, in a dry run, that would be) per kind; kinds with none are left out. */
  readonly counts: Readonly<Record<string, number>>;
  readonly failures: readonly { readonly kind: string; readonly error: string }[];
}

export async function resetNamespace(
  client: CollectionClient,
  namespace: string,
  targets: readonly ResetTarget[],
  options: { dryRun?: boolean; concurrency?: number } = {},
): Promise<NamespaceResetReport> {
  const limit = pLimit(options.concurrency ?? 4);
  const counts: Record<string, number> = {};
  const failures: { kind: string; error: string }[] = [];
  await Promise.all(
    targets.map((target) =>
      limit(async () => {
        try {
          // A dry run is the same DELETE with dryRun=All: the apiserver answers what it would delete, after
          // admission, and reset needs no right to list (it has none on Secrets).
          const n = await client.deleteCollection(
            targetCollection(target, namespace),
            `${options.dryRun ? 'count' : 'delete'} ${target.resource} in ${namespace}`,
            { ...targetSelectors(target), propagationPolicy: 'Background', dryRun: options.dryRun === true },
          );
          if (n > 0) counts[target.kind] = n;
        } catch (error) {
          failures.push({ kind: target.kind, error: toPlatformError(error).message });
        }
      }),
    ),
  );
  return { namespace, counts, failures };
}

/**
 * Per kind, the objects a reset deleted that are still there: a pod in its grace period, a
 * PersistentVolumeClaim a running pod still mounts (kubernetes.io/pvc-protection), an object whose finalizer
 * its controller has not removed yet. With the finalizers they wait for (sorted, once each).
 */
export type Terminating = Record<string, { count: number; finalizers: string[] }>;

/**
 * What is still terminating in `namespace` among the types just deleted, from one metadata list per type.
 * Only objects whose deletion was requested count: one created since (a pod a ReplicaSet made before the
 * garbage collector removed it) is not the reset's to report. A type the function may not list (Secrets)
 * is not checked. `objects` names each as `Kind/name`.
 */
export async function stillTerminating(
  lister: MetadataLister,
  namespace: string,
  deleted: readonly ResetTarget[],
  concurrency = 4,
): Promise<{ kinds: Terminating; objects: ReadonlySet<string> }> {
  const limit = pLimit(concurrency);
  const found: Record<string, { count: number; finalizers: Set<string> }> = {};
  const objects = new Set<string>();
  await Promise.all(
    deleted.map((target) =>
      limit(async () => {
        try {
          const pages = lister.listMetadata(
            targetCollection(target, namespace),
            `list ${target.resource} in ${namespace}`,
            targetSelectors(target),
          );
          for await (const page of pages)
            for (const item of page) {
              if (item.deletionTimestamp === undefined) continue;
              const entry = (found[target.kind] ??= { count: 0, finalizers: new Set() });
              entry.count++;
              objects.add(`${target.kind}/${item.name}`);
              for (const finalizer of item.finalizers ?? []) entry.finalizers.add(finalizer);
            }
        } catch {
          // Not listable by this function: unchecked.
        }
      }),
    ),
  );
  const kinds = Object.fromEntries(
    Object.entries(found)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([kind, { count, finalizers }]) => [kind, { count, finalizers: [...finalizers].sort() }]),
  );
  return { kinds, objects };
}

/** Totals of a sweep's terminating objects: how many namespaces, objects per kind, and every finalizer. */
export function terminatingTotals(perNamespace: Readonly<Record<string, Terminating>>): {
  namespaces: number;
  objects: Record<string, number>;
  finalizers: string[];
} {
  const objects: Record<string, number> = {};
  const finalizers = new Set<string>();
  for (const kinds of Object.values(perNamespace))
    for (const [kind, entry] of Object.entries(kinds)) {
      objects[kind] = (objects[kind] ?? 0) + entry.count;
      for (const finalizer of entry.finalizers) finalizers.add(finalizer);
    }
  return { namespaces: Object.keys(perNamespace).length, objects, finalizers: [...finalizers].sort() };
}
