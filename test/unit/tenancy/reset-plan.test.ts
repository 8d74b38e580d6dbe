import { describe, expect, it } from 'vitest';
import type { DiscoveredResource } from '../../../shared/adapters/kubernetes/discovery.ts';
import { resourcePath } from '../../../shared/adapters/kubernetes/resource-path.ts';
import {
  resetTargets,
  targetCollection,
  targetSelectors,
  type ResetTarget,
} from '../../../shared/tenancy/reset-plan.ts';

/** The apiserver path of a target's collection in one namespace, with its selectors. */
const collectionUrl = (target: ResetTarget, namespace: string) =>
  resourcePath(targetCollection(target, namespace), targetSelectors(target));

const all = ['get', 'list', 'create', 'delete', 'deletecollection'];
const r = (
  group: string,
  resource: string,
  kind: string,
  namespaced = true,
  verbs = all,
): DiscoveredResource => ({
  group,
  version: group === '' ? 'v1' : 'v1',
  resource,
  kind,
  namespaced,
  verbs,
});

describe('resetTargets', () => {
  const targets = resetTargets([
    r('', 'pods', 'Pod'),
    r('', 'pods/log', 'Pod'),
    r('', 'configmaps', 'ConfigMap'),
    r('', 'serviceaccounts', 'ServiceAccount'),
    r('', 'resourcequotas', 'ResourceQuota'),
    r('', 'limitranges', 'LimitRange'),
    r('', 'events', 'Event'),
    r('', 'namespaces', 'Namespace', false),
    r('', 'services', 'Service'),
    r('', 'bindings', 'Binding', true, ['create']),
    r('apps', 'deployments', 'Deployment'),
    r('rbac.authorization.k8s.io', 'rolebindings', 'RoleBinding'),
    r('networking.k8s.io', 'networkpolicies', 'NetworkPolicy'),
    r('example.org', 'widgets', 'Widget'),
    r('example.org', 'widgets', 'Widget'),
  ]);

  it('keeps every namespaced, deletable type of every group except the platform kept ones', () => {
    expect(targets.map((t) => `${t.group}/${t.resource}`)).toEqual([
      '/pods',
      '/configmaps',
      '/serviceaccounts',
      '/limitranges',
      '/services',
      'apps/deployments',
      'networking.k8s.io/networkpolicies',
      'example.org/widgets',
    ]);
  });

  it('spares baseline objects by label and what Kubernetes recreates by name', () => {
    for (const t of targets) expect(t.labelSelector).toBe('tenant-lifecycle.dev/baseline!=true');
    expect(targets.find((t) => t.resource === 'serviceaccounts')?.fieldSelector).toBe(
      'metadata.name!=default',
    );
    expect(targets.find((t) => t.resource === 'configmaps')?.fieldSelector).toBe(
      'metadata.name!=kube-root-ca.crt',
    );
  });

  it('addresses core and grouped collections', () => {
    const [pods] = targets;
    const deployments = targets.find((t) => t.resource === 'deployments');
    if (pods === undefined || deployments === undefined) throw new Error('missing targets');
    expect(collectionUrl(pods, 'john-doe')).toBe(
      '/api/v1/namespaces/john-doe/pods?labelSelector=tenant-lifecycle.dev%2Fbaseline%21%3Dtrue',
    );
    expect(collectionUrl(deployments, 'john-doe')).toMatch(
      /^\/apis\/apps\/v1\/namespaces\/john-doe\/deployments\?/,
    );
  });
});
