/**
 * What a reset clears, decided from API discovery: every namespaced resource type the apiserver serves
 * (every group, its preferred version, custom resources included) that can be deleted as a collection,
 * except what the platform made or Kubernetes recreates by itself: Deployments and every other non-core
 * object go too, and types are kept by their plural resource names (the ResourceQuota stays).
 */
import type { DiscoveredResource } from '../adapters/kubernetes/discovery.ts';
import type { ListQuery, ResourceRef } from '../adapters/kubernetes/resource-path.ts';
import { labels } from './labels.ts';

export interface ResetTarget {
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly kind: string;
  /** Objects of the tenant baseline carry the baseline label and are kept. */
  readonly labelSelector: string;
  /** Objects Kubernetes recreates by itself are kept (default ServiceAccount, kube-root-ca.crt). */
  readonly fieldSelector?: string;
}

/** Kept by type: the platform's limits and grants, and what only controllers write or what expires. */
const KEPT = new Set([
  '/resourcequotas',
  'rbac.authorization.k8s.io/rolebindings',
  'rbac.authorization.k8s.io/roles',
  '/events',
  'events.k8s.io/events',
  '/endpoints',
  'discovery.k8s.io/endpointslices',
  'coordination.k8s.io/leases',
]);

const RECREATED: Readonly<Record<string, string>> = {
  '/serviceaccounts': 'metadata.name!=default',
  '/configmaps': 'metadata.name!=kube-root-ca.crt',
};

export function resetTargets(discovered: readonly DiscoveredResource[]): ResetTarget[] {
  const seen = new Set<string>();
  const targets: ResetTarget[] = [];
  for (const r of discovered) {
    const key = `${r.group}/${r.resource}`;
    if (!r.namespaced || r.resource.includes('/') || seen.has(key) || KEPT.has(key)) continue;
    if (!r.verbs.includes('deletecollection') || !r.verbs.includes('list')) continue;
    seen.add(key);
    const fieldSelector = RECREATED[key];
    targets.push({
      group: r.group,
      version: r.version,
      resource: r.resource,
      kind: r.kind,
      labelSelector: `${labels.baseline}!=true`,
      ...(fieldSelector === undefined ? {} : { fieldSelector }),
    });
  }
  return targets;
}

/** A target's collection in one namespace (or, without one, in all). */
export const targetCollection = (target: ResetTarget, namespace?: string): ResourceRef => ({
  group: target.group,
  version: target.version,
  resource: target.resource,
  namespace,
});

/** A target's selectors: what of its collection a reset deletes. */
export const targetSelectors = (target: ResetTarget): Pick<ListQuery, 'labelSelector' | 'fieldSelector'> => ({
  labelSelector: target.labelSelector,
  fieldSelector: target.fieldSelector,
});

/** A target's identity: its group and resource. */
export const targetKey = (target: Pick<ResetTarget, 'group' | 'resource'>): string =>
  `${target.group}/${target.resource}`;
