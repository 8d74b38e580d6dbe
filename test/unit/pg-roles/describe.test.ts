import { describe, expect, it } from 'vitest';
import { describePlan, pyRepr } from '../../../shared/pg-roles/describe.ts';
import { planReconcile } from '../../../shared/pg-roles/plan.ts';
import { actual, desired, managedUser, planInput, role, SCOPE, secrets } from './fixtures.ts';

describe('describePlan', () => {
  it("speaks the predecessor's dry-run lines for the seed example", () => {
    const plan = planReconcile(planInput(desired(), actual([]), secrets('alice', 'bob')), {
      scope: SCOPE,
      maxDropShare: 0.25,
      force: false,
    });
    expect(describePlan(plan, true)).toEqual([
      '[DRY-RUN] Would create role: analyst',
      '[DRY-RUN] Would create role: developer',
      '[DRY-RUN] Would create role: read_only',
      '[DRY-RUN] Would create role: read_write',
      "[DRY-RUN] Would create user: alice with roles ['analyst', 'read_only']",
      "[DRY-RUN] Would create user: bob with roles ['developer', 'read_write']",
      '[DRY-RUN] Would grant CONNECT on database myapp to alice',
      '[DRY-RUN] Would grant CONNECT on database myapp to bob',
      'Drift detected: 2 changes needed',
    ]);
  });

  it('uses set notation for grants and revokes, and says what was applied without the prefix', () => {
    const plan = planReconcile(
      planInput(
        desired('users:\n  - username: bob\n    database: myapp\n    roles: [developer]\n'),
        actual([
          role('developer'),
          role('read_write'),
          managedUser('bob', { memberOf: ['read_write'] }),
          managedUser('carol'),
        ]),
        secrets('bob'),
        new Map([['bob', 'current']]),
      ),
      { scope: SCOPE, maxDropShare: 0.25, force: false },
    );
    expect(describePlan(plan, true)).toEqual([
      "[DRY-RUN] Would revoke roles from bob: {'read_write'}",
      "[DRY-RUN] Would grant roles to bob: {'developer'}",
      '[DRY-RUN] Would drop user: carol',
      'Drift detected: 2 changes needed',
    ]);
    expect(describePlan(plan, false)).toEqual([
      "Revoked roles from bob: {'read_write'}",
      "Granted roles to bob: {'developer'}",
      'Dropped user: carol',
      'Drift detected: 2 changes needed',
    ]);
  });

  it('reports no drift, skipped users and refused drops', () => {
    const plan = planReconcile(planInput(desired(), actual([]), secrets()), {
      scope: SCOPE,
      maxDropShare: 0.25,
      force: false,
    });
    expect(describePlan(plan, true)).toEqual([
      'Skipped user alice: Secret user-alice-secret (key password) not found',
      'Skipped user bob: Secret user-bob-secret (key password) not found',
      'No drift detected - system in desired state',
    ]);
  });

  it("writes Python's repr of odd names", () => {
    expect(pyRepr('a')).toBe("'a'");
    expect(pyRepr("o'brien")).toBe(`"o'brien"`);
    expect(pyRepr(`"'`)).toBe(`'"\\''`);
    expect(pyRepr('back\\slash')).toBe("'back\\\\slash'");
  });
});
