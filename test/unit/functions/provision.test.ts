/**
 * The provision operation over fake systems and a fake store: a dry run answers the plan without touching
 * any system, lock or audit record; the same request for real runs under the tenant's lock and is audited
 * without its password.
 */
import { describe, expect, it } from 'vitest';
import { provisionSpec } from '../../../functions/provision/index.ts';
import type { FunctionSpec } from '../../../shared/platform/operation.ts';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';
import { FakeStore, FakeTenantSystems, provisionSettings } from '../../support/fake-tenant-systems.ts';
import { runFirstOperation, testInvocation } from '../../support/operations.ts';

const ctx = testInvocation('provision-test');
const call = (spec: FunctionSpec, body: unknown) => runFirstOperation(spec, body, ctx);

describe('provision operation', () => {
  it('plans in a dry run without reading or writing any system; the real run makes that plan', async () => {
    const s = new FakeTenantSystems();
    s.addGroup(provisionSettings.markerGroup);
    const store = new FakeStore();
    const spec = provisionSpec({
      settings: provisionSettings,
      ports: s.ports,
      store,
      now: () => new Date('2026-11-01T00:00:00Z'),
    });
    const before = s.state();
    const request = { full_name: 'Ann', email: 'ann@example.org' };

    const plan = (await call(spec, { ...request, dryRun: true })) as {
      dryRun: boolean;
      username: string;
      objects: KubernetesObject[];
    };
    expect(plan).toMatchObject({ dryRun: true, username: 'ann', namespace: 'ann', plan: 'default' });
    expect(plan.objects[0]).toMatchObject({ kind: 'Namespace', metadata: { name: 'ann' } });
    expect(s.calls).toEqual([]);
    expect(store.locks).toEqual([]);
    expect(store.records).toEqual([]);
    expect(s.state()).toEqual(before);

    // Control: the same request for real, under the tenant's lock, makes the objects the plan showed.
    const done = (await call(spec, request)) as { username: string; password: string };
    expect(done.username).toBe('ann');
    expect(store.locks).toEqual(['tenant:ann']);
    expect(store.records).toEqual([
      expect.objectContaining({ operation: 'provision', target: 'ann', outcome: 'success' }),
    ]);
    expect(JSON.stringify(store.records)).not.toContain(done.password);
    expect(s.objectsIn('ann')).toEqual(
      plan.objects
        .filter((o) => o.kind !== 'Namespace')
        .map((o) => `ann/${o.kind}/${o.metadata.name}`)
        .sort(),
    );
    expect(s.holds('ann')).toEqual({ keycloak: true, namespace: true, grafana: true });
  });
});
