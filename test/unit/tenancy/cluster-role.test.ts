import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderTenantClusterRole } from '../../../shared/tenancy/cluster-role.ts';

describe('the shipped tenant ClusterRole', () => {
  it('is the rendered one (regenerate knative/base/tenant-clusterrole.yaml from cluster-role.ts when this fails)', () => {
    const shipped = parse(
      readFileSync(new URL('../../../knative/base/tenant-clusterrole.yaml', import.meta.url), 'utf8'),
    ) as unknown;
    expect(shipped).toEqual(renderTenantClusterRole());
  });

  it('leaves quotas, limit ranges, network policies and RBAC read-only', () => {
    const rules = renderTenantClusterRole().rules as { resources: string[]; verbs: string[] }[];
    for (const resource of ['resourcequotas', 'limitranges', 'networkpolicies', 'rolebindings', 'roles']) {
      const verbs = rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs);
      expect(verbs.sort()).toEqual(['get', 'list', 'watch']);
    }
  });

  it('writes nothing that reaches beyond the namespace: endpoints, daemonsets, proxies, tokens, RBAC', () => {
    const rules = renderTenantClusterRole().rules as {
      apiGroups: string[];
      resources: string[];
      verbs: string[];
    }[];
    const verbsOn = (group: string, resource: string) =>
      rules
        .filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource))
        .flatMap((r) => r.verbs);
    expect(verbsOn('', 'endpoints').sort()).toEqual(['get', 'list', 'watch']);
    expect(verbsOn('discovery.k8s.io', 'endpointslices').sort()).toEqual(['get', 'list', 'watch']);
    for (const [group, resource] of [
      ['apps', 'daemonsets'],
      ['', 'pods/ephemeralcontainers'],
      ['', 'pods/proxy'],
      ['', 'services/proxy'],
      ['', 'services/status'],
      ['', 'serviceaccounts/token'],
      ['', 'namespaces'],
      ['', 'nodes'],
    ] as const)
      expect({ resource, verbs: verbsOn(group, resource) }).toEqual({ resource, verbs: [] });
    expect(rules.flatMap((r) => r.verbs)).not.toContain('bind');
    expect(rules.flatMap((r) => r.verbs)).not.toContain('escalate');
    expect(rules.flatMap((r) => r.verbs)).not.toContain('impersonate');
    expect(rules.flatMap((r) => r.resources)).not.toContain('*');
    // Positive control: the workload rights are there.
    expect(verbsOn('', 'services')).toContain('create');
    expect(verbsOn('', 'pods/exec')).toContain('create');
  });
});
