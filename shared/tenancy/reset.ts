/**
 * Resetting one tenant namespace: for each reset target, DELETE the collection in the namespace (objects
 * of the baseline and those Kubernetes recreates are excluded by the target's selectors), in a dry run with
 * dryRun=All, counting what goes (or would). One request per resource type, never one per object.
 */
import pLimit from 'p-limit';
import { toPlatformError } from '../platform/errors.ts';
import { collectionUrl, type ResetTarget } from './reset-plan.ts';

export interface CollectionClient {
  send(method: 'GET' | 'DELETE', path: string, action: string): Promise<unknown>;
}

export interface NamespaceResetReport {
  readonly namespace: string;
  /** Objects deleted (or, in a dry run, that would be) per kind; kinds with none are left out. */
  readonly counts: Readonly<Record<string, number>>;
  readonly failures: readonly { readonly kind: string; readonly error: string }[];
}

function itemCount(answer: unknown): number {
  const items = (answer as { items?: unknown[] } | undefined)?.items;
  return Array.isArray(items) ? items.length : 0;
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
        const url = collectionUrl(target, namespace);
        try {
          // A dry run is the same DELETE with dryRun=All: the apiserver answers what it would delete, after
          // admission, and reset needs no right to list (it has none on Secrets).
          const answer = await client.send(
            'DELETE',
            `${url}&propagationPolicy=Background${options.dryRun ? '&dryRun=All' : ''}`,
            `${options.dryRun ? 'count' : 'delete'} ${target.resource} in ${namespace}`,
          );
          const n = itemCount(answer);
          if (n > 0) counts[target.kind] = n;
        } catch (error) {
          failures.push({ kind: target.kind, error: toPlatformError(error).message });
        }
      }),
    ),
  );
  return { namespace, counts, failures };
}
