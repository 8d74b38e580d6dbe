/**
 * Which tenant namespaces hold objects of which reset target, from one metadata-only list per target across
 * all namespaces (paged). A sweep then deletes only where something is: for 1,000 namespaces and 23 types,
 * about 50 lists and one DELETE per occupied (namespace, type) pair instead of 23,000 DELETEs. A target
 * whose list fails (an aggregated API that is down, a forbidden type) is treated as occupied everywhere, so
 * the sweep falls back to deleting it in every namespace and nothing is skipped by mistake. An object
 * created after the lists in a type that was empty may survive this sweep, as it may with any sweep.
 */
import pLimit from 'p-limit';
import type { ListQuery, ResourceRef } from '../adapters/kubernetes/resource-path.ts';
import { targetCollection, targetKey, targetSelectors, type ResetTarget } from './reset-plan.ts';

/** One object of a metadata list; deletion facts when the lister reads them. */
export interface ListedObject {
  readonly namespace: string;
  readonly name: string;
  /** Set once deletion was requested: the object stays until its grace period ends and its finalizers go. */
  readonly deletionTimestamp?: string;
  readonly finalizers?: readonly string[];
}

/** Metadata-only lists of a collection, in pages (the Kubernetes adapter's listMetadata). */
export interface MetadataLister {
  listMetadata(
    collection: ResourceRef,
    action: string,
    selectors: Pick<ListQuery, 'labelSelector' | 'fieldSelector'>,
  ): AsyncIterable<ListedObject[]>;
}

export interface Occupancy {
  /** namespace -> target key -> number of objects. */
  readonly counts: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** Targets whose list failed: assumed present in every namespace. */
  readonly unknown: ReadonlySet<string>;
}

export async function listOccupancy(
  lister: MetadataLister,
  targets: readonly ResetTarget[],
  concurrency = 4,
): Promise<Occupancy> {
  const counts = new Map<string, Map<string, number>>();
  const unknown = new Set<string>();
  const limit = pLimit(concurrency);
  await Promise.all(
    targets.map((target) =>
      limit(async () => {
        const key = targetKey(target);
        const found = new Map<string, number>();
        try {
          const pages = lister.listMetadata(
            targetCollection(target),
            `list ${target.resource}`,
            targetSelectors(target),
          );
          for await (const page of pages)
            for (const item of page) found.set(item.namespace, (found.get(item.namespace) ?? 0) + 1);
        } catch {
          unknown.add(key);
          return;
        }
        for (const [namespace, n] of found) {
          const perNamespace = counts.get(namespace) ?? new Map<string, number>();
          counts.set(namespace, perNamespace.set(key, n));
        }
      }),
    ),
  );
  return { counts, unknown };
}

/** The targets worth a DELETE in `namespace`: those with objects there, and those that could not be listed. */
export function occupiedTargets(
  occupancy: Occupancy,
  namespace: string,
  targets: readonly ResetTarget[],
): ResetTarget[] {
  const here = occupancy.counts.get(namespace);
  return targets.filter((t) => occupancy.unknown.has(targetKey(t)) || (here?.get(targetKey(t)) ?? 0) > 0);
}
