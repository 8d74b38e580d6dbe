/**
 * What a reset clears, decided from API discovery: every namespaced resource type the apiserver serves
 * (every group, its preferred version, custom resources included) that can be deleted as a collection,
 * except what the platform made or Kubernetes recreates by itself. The predecessor walked core/v1 only, so
 * Deployments and every other non-core object survived its resets; and its exclusion list compared singular
 * names with plural ones, so it deleted the ResourceQuota it meant to keep.
 */
import type { DiscoveredResource } from '../adapters/kubernetes/discovery.ts';
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

/** The apiserver path of a target's collection in one namespace (or all), with its selectors. */
export function collectionUrl(target: ResetTarget, namespace?: string): string {
  const base = target.group === '' ? `/api/${target.version}` : `/apis/${target.group}/${target.version}`;
  const query = new URLSearchParams({ labelSelector: target.labelSelector });
  if (target.fieldSelector !== undefined) query.set('fieldSelector', target.fieldSelector);
  const scope = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `${base}${scope}/${target.resource}?${query.toString()}`;
}

/** A target's identity: its group and resource. */
export const targetKey = (target: Pick<ResetTarget, 'group' | 'resource'>): string =>
  `${target.group}/${target.resource}`;
