/**
 * Everest's policy through the API (shared/everest/rbac-operations.ts) over fake ports: an append is
 * audited only when it adds a line, a dry run writes nothing, a line Everest would refuse changes nothing,
 * and `can` answers from the stored policy.
 */
import { describe, expect, it } from 'vitest';
import { appendPolicyLines, policyAllows } from '../../../shared/everest/rbac-operations.ts';
import { tenantPolicyLines } from '../../../shared/everest/rbac-policy.ts';
import { platformErrorOf } from '../../support/platform-error.ts';
import { bootstrapFakes, context } from './fakes.ts';

describe('rbac append and can', () => {
  it('appends new lines with a record, and an append of present lines (or a dry run) without one', async () => {
    const f = bootstrapFakes();
    const lines = tenantPolicyLines('alice', 'ns-alice');

    const dry = await appendPolicyLines(f.ports, { lines, dryRun: true }, context());
    expect(dry).toMatchObject({ dryRun: true, lines_appended: 9, lines_already_present: 0 });
    expect(f.rbac.text).toBe('g, admin, role:admin\n');

    const first = await appendPolicyLines(f.ports, { lines, dryRun: false }, context());
    expect(first).toMatchObject({ lines_appended: 9, enforced: false });
    const again = await appendPolicyLines(f.ports, { lines, dryRun: false }, context());
    expect(again).toMatchObject({ lines_appended: 0, lines_already_present: 9 });
    expect(
      f.store.records.map((r) => [r.operation, r.outcome, (r.details?.added as unknown[]).length]),
    ).toEqual([['rbac-append', 'success', 9]]);

    expect(
      await policyAllows(f.ports, {
        user: 'alice',
        resource: 'database-clusters',
        verb: 'create',
        object: 'ns-alice/db1',
      }),
    ).toEqual({ allowed: true, enforced: false });
    expect(
      await policyAllows(f.ports, {
        user: 'alice',
        resource: 'database-clusters',
        verb: 'create',
        object: 'ns-bob/db1',
      }),
    ).toEqual({ allowed: false, enforced: false });
  });

  it('refuses a line Everest would refuse (400) and keeps the policy; a valid line beside it is added', async () => {
    const f = bootstrapFakes();
    const error = await platformErrorOf(
      appendPolicyLines(
        f.ports,
        { lines: ['p, role:x, no-such-resource, read, *', 'g, bob, role:x'], dryRun: false },
        context(),
      ),
    );
    expect(error.status).toBe(400);
    expect(f.rbac.text).toBe('g, admin, role:admin\n');

    await appendPolicyLines(
      f.ports,
      { lines: ['p, role:x, database-clusters, read, *', 'g, bob, role:x'], dryRun: false },
      context(),
    );
    expect(f.rbac.text).toContain('g, bob, role:x');
  });
});
