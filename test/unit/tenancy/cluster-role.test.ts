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
});
