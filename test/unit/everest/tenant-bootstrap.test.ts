/**
 * The tenant bootstrap (shared/everest/tenant-bootstrap.ts) over fake ports: the order of its steps, what a
 * failing step leaves and how running again completes it, and its refusals (reserved names, Everest's
 * admin, accounts and namespaces this product did not make for the tenant), each beside the legitimate
 * bootstrap succeeding.
 */
import { describe, expect, it } from 'vitest';
import { ACCOUNT_OWNERS_ANNOTATION, accountOwners, hashPassword } from '../../../shared/everest/accounts.ts';
import { runTenantBootstrap, type BootstrapRequest } from '../../../shared/everest/tenant-bootstrap.ts';
import { DEFAULT_LIMITS, LIMITS_CHANGED_EVENT } from '../../../shared/everest/tenant-resource-policy.ts';
import { platformErrorOf } from '../../support/platform-error.ts';
import { bootstrapFakes, context, foreignNamespace, ownedNamespace, SALT, type Journal } from './fakes.ts';

const request = (
  username: string,
  namespace: string,
  extra: Partial<BootstrapRequest> = {},
): BootstrapRequest => ({
  username,
  password: 'Tenant-Pass-1',
  namespace,
  operators: { postgresql: true },
  takeOwnership: false,
  dryRun: false,
  ...extra,
});

/** The calls that change something, in order. */
const writes = (journal: Journal) =>
  journal.filter((c) =>
    /^(rbac\.append$|rbac\.removeUser|namespaces\.(apply|remove)|accounts\.update|limits\.write|events\.send)/.test(
      c,
    ),
  );

describe('bootstrap tenant: steps', () => {
  it('writes the policy, the namespace, the account and the limits in that order, under the lock, then asks enforce', async () => {
    const f = bootstrapFakes();
    const result = await runTenantBootstrap(f.ports, request('alice', 'ns-alice'), context());

    expect(writes(f.journal)).toEqual([
      'rbac.append',
      'namespaces.apply ns-alice',
      'accounts.update set account alice',
      'limits.write ns-alice',
      `events.send ${LIMITS_CHANGED_EVENT}`,
    ]);
    // Every write inside the tenant's lock, the audit record before the lock is released, the event after.
    const lock = f.journal.indexOf('store.lock tenant:everest/ns-alice');
    const record = f.journal.indexOf('store.recordAudit bootstrap-tenant everest/ns-alice success');
    const unlock = f.journal.indexOf('store.unlock tenant:everest/ns-alice');
    expect(lock).toBeGreaterThanOrEqual(0);
    expect(f.journal.indexOf('rbac.append')).toBeGreaterThan(lock);
    expect(f.journal.indexOf('limits.write ns-alice')).toBeLessThan(record);
    expect(record).toBeLessThan(unlock);
    expect(f.journal.indexOf(`events.send ${LIMITS_CHANGED_EVENT}`)).toBeGreaterThan(unlock);

    expect(result).toMatchObject({
      status: 'ok',
      namespace_created: true,
      operators_installed: ['postgresql'],
      account: 'created',
      rbac: { added: 9, already_present: 0 },
      limits: { ...DEFAULT_LIMITS, namespace: 'ns-alice', source: 'default' },
      enforcement: 'requested',
    });
    // The state the steps left: the account is the tenant's and its password hashes as Everest's would.
    expect(f.namespaces.namespaces.get('ns-alice')).toMatchObject({ managed: true, owned: true });
    expect(accountOwners(f.accounts.doc)).toEqual({ alice: 'ns-alice' });
    expect(f.accounts.doc.accounts.get('alice')?.passwordHash).toEqual(
      await hashPassword('Tenant-Pass-1', SALT),
    );
    expect(f.rbac.text).toContain('g, alice, role:tenant-ns-alice\n');
    expect(f.limits.specs.get('ns-alice')?.limits.maxClusters).toBe(DEFAULT_LIMITS.max_clusters);
    expect(f.events.sent).toEqual([
      { type: LIMITS_CHANGED_EVENT, data: { namespace: 'ns-alice' }, subject: 'ns-alice' },
    ]);
    expect(f.store.records).toEqual([
      expect.objectContaining({
        operation: 'bootstrap-tenant',
        target: 'everest/ns-alice',
        outcome: 'success',
        details: {
          username: 'alice',
          namespace_created: true,
          operators_installed: ['postgresql'],
          account: 'created',
          rbac_added: 9,
          limits_source: 'default',
        },
      }),
    ]);
  });

  it('runs again without duplicating: the password is set, the limits kept, no event sent', async () => {
    const f = bootstrapFakes();
    await runTenantBootstrap(f.ports, request('alice', 'ns-alice'), context());
    const policy = f.rbac.text;
    f.journal.length = 0;

    const again = await runTenantBootstrap(
      f.ports,
      request('alice', 'ns-alice', { password: 'Other-Pass-2' }),
      context(),
    );

    expect(again).toMatchObject({
      account: 'password_set',
      namespace_created: false,
      operators_installed: [],
      operators_present: ['postgresql'],
      rbac: { added: 0, already_present: 9 },
      limits: { source: 'existing' },
      enforcement: 'unchanged',
    });
    expect(f.rbac.text).toBe(policy);
    expect(writes(f.journal)).not.toContain('limits.write ns-alice');
    expect(f.events.sent).toHaveLength(1);
    expect(f.accounts.doc.accounts.get('alice')?.passwordHash).toEqual(
      await hashPassword('Other-Pass-2', SALT),
    );
  });

  it('plans a dry run from what is stored and writes nothing, records nothing', async () => {
    const f = bootstrapFakes();
    const dry = await runTenantBootstrap(f.ports, request('alice', 'ns-alice', { dryRun: true }), context());
    expect(dry).toMatchObject({
      dryRun: true,
      namespace_created: true,
      account: 'created',
      rbac: { added: 9 },
    });
    expect(writes(f.journal)).toEqual([]);
    expect(f.store.records).toEqual([]);
    // The same request for real then does what the dry run said.
    const real = await runTenantBootstrap(f.ports, request('alice', 'ns-alice'), context());
    expect(real).toMatchObject({
      dryRun: false,
      namespace_created: true,
      account: 'created',
      rbac: { added: 9 },
    });
  });
});

describe('bootstrap tenant: a step that fails', () => {
  it('keeps the earlier steps, runs none after it, records the failure; running again completes', async () => {
    const f = bootstrapFakes();
    f.faults.failNext('accounts.update');

    const error = await platformErrorOf(runTenantBootstrap(f.ports, request('alice', 'ns-alice'), context()));

    expect(error.message).toBe('accounts.update failed');
    // Policy and namespace were written; the account step failed; the limits and the event never ran.
    expect(writes(f.journal)).toEqual([
      'rbac.append',
      'namespaces.apply ns-alice',
      'accounts.update set account alice',
    ]);
    expect(f.accounts.doc.accounts.has('alice')).toBe(false);
    expect(f.limits.specs.has('ns-alice')).toBe(false);
    expect(f.events.sent).toEqual([]);
    expect(f.store.records.map((r) => r.outcome)).toEqual(['failure']);
    expect(f.store.held.size).toBe(0);

    // Each step is repeatable, so the repair is the same request again: it finishes what is missing.
    const again = await runTenantBootstrap(f.ports, request('alice', 'ns-alice'), context());
    expect(again).toMatchObject({
      namespace_created: false,
      account: 'created',
      rbac: { added: 0, already_present: 9 },
      limits: { source: 'default' },
      enforcement: 'requested',
    });
    expect(f.limits.specs.has('ns-alice')).toBe(true);
    expect(f.store.records.map((r) => r.outcome)).toEqual(['failure', 'success']);
  });

  it('answers "scheduled" when the limits-changed event cannot be sent: the write stands', async () => {
    const f = bootstrapFakes();
    f.faults.failNext('events.send');
    const ctx = context();
    const result = await runTenantBootstrap(f.ports, request('alice', 'ns-alice'), ctx);
    expect(result).toMatchObject({ account: 'created', enforcement: 'scheduled' });
    expect(f.limits.specs.has('ns-alice')).toBe(true);
    expect(
      ctx.lines.some((l) => l.msg === 'limits-changed event not sent; enforce applies on schedule'),
    ).toBe(true);
  });
});

describe('bootstrap tenant: refusals change nothing', () => {
  it('refuses reserved names (400) and Everest’s namespaces; another name beside them is bootstrapped', async () => {
    const f = bootstrapFakes();
    for (const [username, namespace, pattern] of [
      ['root', 'ns-root', /"root" is a reserved name and cannot be a Everest account/],
      ['dave', 'monitoring', /"monitoring" is a reserved name/],
      ['dave', 'everest-system', /reserved for Everest internals/],
    ] as const) {
      const error = await platformErrorOf(
        runTenantBootstrap(f.ports, request(username, namespace), context()),
      );
      expect(error.status).toBe(400);
      expect(error.message).toMatch(pattern);
    }
    expect(writes(f.journal)).toEqual([]);
    expect(f.namespaces.namespaces.size).toBe(0);
    expect(f.accounts.doc.accounts.size).toBe(0);
    expect(f.store.records.every((r) => r.outcome === 'failure')).toBe(true);

    const ok = await runTenantBootstrap(f.ports, request('dave', 'ns-dave'), context());
    expect(ok).toMatchObject({ account: 'created', namespace_created: true });
  });

  it('refuses admin and an account it did not make for the tenant (409); the tenant’s own account is updated', async () => {
    const f = bootstrapFakes();
    await runTenantBootstrap(f.ports, request('alice', 'ns-alice'), context());
    // bob exists, made by someone else (no owner record); admin is Everest's.
    const hash = await hashPassword('Bobs-Pass-1', SALT);
    f.accounts.doc = {
      accounts: new Map([
        ...f.accounts.doc.accounts,
        ['bob', { enabled: true, capabilities: ['login'], passwordMtime: '', passwordHash: hash }],
        ['admin', { enabled: true, capabilities: ['login'], passwordMtime: '', passwordHash: 'admin' }],
      ]),
      annotations: f.accounts.doc.annotations,
    };
    const before = {
      doc: f.accounts.doc,
      policy: f.rbac.text,
      namespaces: [...f.namespaces.namespaces.keys()],
    };
    f.journal.length = 0;

    for (const [username, namespace] of [
      ['admin', 'ns-admin'],
      ['bob', 'ns-bob'],
      ['alice', 'ns-other'],
    ] as const) {
      const error = await platformErrorOf(
        runTenantBootstrap(f.ports, request(username, namespace), context()),
      );
      expect(error.status).toBe(409);
      expect(error.reason).toBe('not_owned');
    }
    expect(writes(f.journal)).toEqual([]);
    expect(f.accounts.doc).toBe(before.doc);
    expect(f.rbac.text).toBe(before.policy);
    expect([...f.namespaces.namespaces.keys()]).toEqual(before.namespaces);

    const own = await runTenantBootstrap(
      f.ports,
      request('alice', 'ns-alice', { password: 'New-Pass-3' }),
      context(),
    );
    expect(own).toMatchObject({ account: 'password_set' });
    expect(f.accounts.doc.annotations[ACCOUNT_OWNERS_ANNOTATION]).toBe(JSON.stringify({ alice: 'ns-alice' }));
  });

  it('refuses a namespace it did not make (409), even with take_ownership; its own namespace gains the operator', async () => {
    const f = bootstrapFakes();
    f.namespaces.namespaces.set('ns-foreign', foreignNamespace());
    f.namespaces.namespaces.set('ns-carol', ownedNamespace('postgresql'));

    for (const takeOwnership of [false, true]) {
      const error = await platformErrorOf(
        runTenantBootstrap(f.ports, request('erin', 'ns-foreign', { takeOwnership }), context()),
      );
      expect(error.status).toBe(409);
      expect(error.message).toMatch(
        /namespace ns-foreign is managed by Everest but not a tenant of this product/,
      );
    }
    expect(writes(f.journal)).toEqual([]);
    expect(f.namespaces.namespaces.get('ns-foreign')).toEqual(foreignNamespace());
    expect(f.accounts.doc.accounts.has('erin')).toBe(false);

    const own = await runTenantBootstrap(
      f.ports,
      request('carol', 'ns-carol', { operators: { postgresql: true, mongodb: true } }),
      context(),
    );
    expect(own).toMatchObject({
      namespace_created: false,
      operators_installed: ['mongodb'],
      operators_present: ['postgresql'],
    });
    expect([...(f.namespaces.namespaces.get('ns-carol')?.installed ?? [])].sort()).toEqual([
      'mongodb',
      'postgresql',
    ]);
  });
});
