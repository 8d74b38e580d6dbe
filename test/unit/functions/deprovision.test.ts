/**
 * The deprovision operation over fake systems and a fake store: a dry run answers the names it would try
 * without touching any system, lock or audit record; the same request for real runs under the tenant's
 * lock, is audited, and removes the tenant.
 */
import { describe, expect, it } from 'vitest';
import { deprovisionSpec } from '../../../functions/deprovision/index.ts';
import type { FunctionSpec } from '../../../shared/platform/operation.ts';
import { applyProvision, planProvision } from '../../../shared/tenancy/provision.ts';
import { FakeStore, FakeTenantSystems, provisionSettings } from '../../support/fake-tenant-systems.ts';
import { runFirstOperation, testInvocation } from '../../support/operations.ts';

const ctx = testInvocation('deprovision-test');
const call = (spec: FunctionSpec, body: unknown) => runFirstOperation(spec, body, ctx);

describe('deprovision operation', () => {
  it('answers the candidate names in a dry run without touching any system; the real run removes the tenant', async () => {
    const s = new FakeTenantSystems();
    s.addGroup(provisionSettings.markerGroup);
    const empty = s.state();
    const plan = planProvision(
      { full_name: 'Ann' },
      provisionSettings,
      new Date('2026-11-01T00:00:00Z'),
      'x',
    );
    await applyProvision(plan, provisionSettings, s.ports);
    s.calls.length = 0;
    const provisioned = s.state();
    const store = new FakeStore();
    const spec = deprovisionSpec({ settings: provisionSettings, ports: s.ports, store });

    const dry = await call(spec, { email: 'ann@example.org', full_name: 'Ann Lee', dryRun: true });
    expect(dry).toEqual({ dryRun: true, candidates: ['ann', 'ann-lee'] });
    expect(s.calls).toEqual([]);
    expect(store.locks).toEqual([]);
    expect(store.records).toEqual([]);
    expect(s.state()).toEqual(provisioned);

    // Control: the same request for real, under the tenant's lock, removes the tenant and is audited.
    const done = await call(spec, { email: 'ann@example.org', full_name: 'Ann Lee' });
    expect(done).toMatchObject({ username: 'ann', message: 'User has been deleted successfully' });
    expect(store.locks).toEqual(['tenant:ann']);
    expect(store.records).toEqual([
      expect.objectContaining({ operation: 'deprovision', target: 'ann', outcome: 'success' }),
    ]);
    expect(s.state()).toEqual(empty);
  });
});
