import { describe, expect, it } from 'vitest';
import { listOccupancy, occupiedTargets } from '../../../shared/tenancy/reset-occupancy.ts';
import type { ResourceRef } from '../../../shared/adapters/kubernetes/resource-path.ts';
import type { ResetTarget } from '../../../shared/tenancy/reset-plan.ts';

const target = (group: string, resource: string, kind: string): ResetTarget => ({
  group,
  version: 'v1',
  resource,
  kind,
  labelSelector: 'tenant-lifecycle.dev/baseline!=true',
});
const configmaps = target('', 'configmaps', 'ConfigMap');
const deployments = target('apps', 'deployments', 'Deployment');
const widgets = target('example.com', 'widgets', 'Widget');

describe('listOccupancy', () => {
  const lister = {
    listMetadata: (collection: ResourceRef) =>
      (async function* () {
        await Promise.resolve();
        if (
          collection.group === '' &&
          collection.resource === 'configmaps' &&
          collection.namespace === undefined
        ) {
          yield [{ namespace: 'a', name: 'one' }];
          yield [
            { namespace: 'a', name: 'two' },
            { namespace: 'b', name: 'x' },
          ];
        } else if (collection.group === 'example.com') {
          throw new Error('the aggregated API is down');
        }
      })(),
  };

  it('counts objects per namespace and type across pages, lists across all namespaces', async () => {
    const occupancy = await listOccupancy(lister, [configmaps, deployments, widgets]);
    expect(occupancy.counts.get('a')?.get('/configmaps')).toBe(2);
    expect(occupancy.counts.get('b')?.get('/configmaps')).toBe(1);
    expect(occupancy.counts.get('a')?.has('apps/deployments')).toBe(false);
  });

  it('deletes only occupied types, and every type whose list failed', async () => {
    const occupancy = await listOccupancy(lister, [configmaps, deployments, widgets]);
    expect(occupiedTargets(occupancy, 'a', [configmaps, deployments, widgets]).map((t) => t.kind)).toEqual([
      'ConfigMap',
      'Widget',
    ]);
    expect(
      occupiedTargets(occupancy, 'empty', [configmaps, deployments, widgets]).map((t) => t.kind),
    ).toEqual(['Widget']);
  });
});
