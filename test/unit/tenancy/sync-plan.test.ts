import { describe, expect, it } from 'vitest';
import {
  completePlan,
  diffInventory,
  namesToLookUp,
  pruneNeedsForce,
  type SyncInventory,
  type TenantIdentity,
} from '../../../shared/tenancy/sync-plan.ts';
import { annotations, labels, MANAGER } from '../../../shared/tenancy/labels.ts';

const tenant = (username: string): TenantIdentity => ({ id: `id-${username}`, username });
/** A namespace as provision makes it. */
const ns = (name: string, terminating = false) => ({
  name,
  terminating,
  labels: { [labels.managedBy]: MANAGER, [labels.tenant]: name },
  annotations: { [annotations.ownerTenant]: name },
});
/** A Grafana user as provision makes it for a tenant without an email. */
const gf = (login: string, id = 0, isAdmin = false) => ({
  id,
  login,
  email: `${login.toLowerCase()}@tenants.invalid`,
  isAdmin,
});

describe('diffInventory', () => {
  it('finds nothing to do when every tenant has its namespace and Grafana user', () => {
    const diff = diffInventory({
      tenants: [tenant('ann'), tenant('bob')],
      namespaces: [ns('ann'), ns('bob')],
      grafanaUsers: [gf('ann'), gf('Bob'), gf('admin', 1, true)],
    });
    expect(diff).toMatchObject({ repairs: [], notOwned: [], strayNamespaces: [], strayGrafanaUsers: [] });
  });

  it('plans a missing namespace, a missing Grafana user, and flags a terminating namespace', () => {
    const diff = diffInventory({
      tenants: [tenant('ann'), tenant('bob'), tenant('cid')],
      namespaces: [ns('bob'), ns('cid', true)],
      grafanaUsers: [gf('ann'), gf('cid')],
    });
    expect(diff.repairs).toEqual([
      { username: 'ann', userId: 'id-ann', namespace: 'create', grafana: 'ok', membership: false },
      { username: 'bob', userId: 'id-bob', namespace: 'ok', grafana: 'create', membership: false },
      { username: 'cid', userId: 'id-cid', namespace: 'terminating', grafana: 'ok', membership: false },
    ]);
  });

  it('sets aside namespaces and non-admin Grafana users that belong to no tenant', () => {
    const diff = diffInventory({
      tenants: [tenant('ann')],
      namespaces: [ns('ann'), ns('old')],
      grafanaUsers: [gf('ann'), gf('old'), gf('admin', 1, true), gf('human')],
    });
    expect(diff.strayNamespaces).toEqual([ns('old')]);
    expect(diff.strayGrafanaUsers.map((g) => g.login)).toEqual(['old', 'human']);
  });
});

describe('namesToLookUp', () => {
  it('looks up stray namespaces and only the Grafana users this product made', () => {
    const diff = diffInventory({
      tenants: [],
      namespaces: [ns('old')],
      grafanaUsers: [gf('Made'), gf('human')],
    });
    expect(namesToLookUp(diff, new Set(['made']))).toEqual(['made', 'old']);
  });
});

describe('completePlan', () => {
  const inventory: SyncInventory = {
    tenants: [tenant('ann')],
    namespaces: [ns('ann'), ns('lost'), ns('gone'), ns('dying', true)],
    grafanaUsers: [gf('ann', 2), gf('gone', 3), gf('human', 4), gf('made', 5)],
  };
  const diff = diffInventory(inventory);
  const product = new Set(['gone', 'made']);
  const found = new Map<string, TenantIdentity | undefined>([
    ['lost', tenant('lost')],
    ['gone', undefined],
    ['dying', undefined],
    ['made', undefined],
  ]);
  const plan = completePlan(inventory, diff, found, product);

  it('restores the membership of a tenant whose Keycloak user still exists, with what else it lacks', () => {
    expect(plan.repairs).toEqual([
      { username: 'lost', userId: 'id-lost', namespace: 'ok', grafana: 'create', membership: true },
    ]);
    expect(plan.totalTenants).toBe(2);
  });

  it('reports as orphans what has no Keycloak user, never a person’s Grafana account or a dying namespace', () => {
    expect(plan.orphans.namespaces).toEqual(['gone']);
    expect(plan.orphans.grafanaUsers.map((g) => g.login)).toEqual(['gone', 'made']);
  });
});

describe('what the product did not make', () => {
  const foreign = { name: 'web', terminating: false, labels: {}, annotations: {} };

  it('never repairs, binds into or prunes a labelled namespace that fails the ownership rule', () => {
    const handLabelled = {
      ...ns('cat'),
      annotations: {}, // labelled by hand: the owner annotation is missing
    };
    const otherTenants = { ...ns('dan'), labels: { ...ns('dan').labels, [labels.tenant]: 'eve' } };
    const inventory: SyncInventory = {
      tenants: [tenant('ann'), tenant('cat')],
      namespaces: [ns('ann'), handLabelled, otherTenants, foreign],
      grafanaUsers: [gf('ann'), gf('cat')],
    };
    const diff = diffInventory(inventory);
    const plan = completePlan(inventory, diff, new Map(), new Set());
    expect(plan.notOwned.map((o) => [o.kind, o.name])).toEqual([
      ['Namespace', 'cat'],
      ['Namespace', 'dan'],
      ['Namespace', 'web'],
    ]);
    // cat's namespace is foreign: cat is left as it is (no create into it), ann needs nothing.
    expect(plan.repairs).toEqual([]);
    expect(plan.orphans.namespaces).toEqual([]);
  });

  it("leaves a tenant whose same-named Grafana user is someone else's, and repairs the others", () => {
    const person = { id: 9, login: 'ann', email: 'ann@people.example', isAdmin: false };
    const inventory: SyncInventory = {
      tenants: [tenant('ann'), tenant('bob')],
      namespaces: [],
      grafanaUsers: [person],
    };
    const plan = completePlan(inventory, diffInventory(inventory), new Map(), new Set());
    expect(plan.notOwned).toEqual([expect.objectContaining({ kind: 'GrafanaUser', name: 'ann' })]);
    expect(plan.repairs.map((r) => r.username)).toEqual(['bob']);
  });

  it('accepts the Grafana user whose email the Keycloak tenant or its namespace annotation holds', () => {
    const withEmail = { ...tenant('ann'), email: 'Ann@Example.org' };
    const inventory: SyncInventory = {
      tenants: [withEmail],
      namespaces: [ns('ann')],
      grafanaUsers: [{ id: 2, login: 'ann', email: 'ann@example.org', isAdmin: false }],
    };
    const plan = completePlan(inventory, diffInventory(inventory), new Map(), new Set());
    expect(plan).toMatchObject({ notOwned: [], repairs: [] });
  });

  it('prunes a made Grafana orphan only when its email is one provision gave it', () => {
    const inventory: SyncInventory = {
      tenants: [],
      namespaces: [],
      grafanaUsers: [
        gf('gone', 3),
        { id: 4, login: 'reused', email: 'someone@people.example', isAdmin: false },
      ],
    };
    const plan = completePlan(
      inventory,
      diffInventory(inventory),
      new Map([
        ['gone', undefined],
        ['reused', undefined],
      ]),
      new Set(['gone', 'reused']),
    );
    expect(plan.orphans.grafanaUsers.map((g) => g.login)).toEqual(['gone']);
  });
});

describe('restoring a lost membership', () => {
  it('grants the tenant only to the Keycloak user whose email is the one recorded on the namespace', () => {
    const recorded = (name: string, email: string) => ({
      ...ns(name),
      annotations: { ...ns(name).annotations, [annotations.owner]: email },
    });
    const inventory: SyncInventory = {
      tenants: [],
      namespaces: [recorded('kept', 'kept@example.org'), recorded('taken', 'first@example.org')],
      grafanaUsers: [],
    };
    const plan = completePlan(
      inventory,
      diffInventory(inventory),
      new Map([
        ['kept', { ...tenant('kept'), email: 'Kept@Example.org' }],
        ['taken', { ...tenant('taken'), email: 'newcomer@example.org' }],
      ]),
      new Set(),
    );
    expect(plan.repairs.map((r) => [r.username, r.membership])).toEqual([['kept', true]]);
    expect(plan.notOwned).toEqual([expect.objectContaining({ kind: 'KeycloakUser', name: 'taken' })]);
    expect(plan.orphans.namespaces).toEqual([]);
  });
});

describe('a tenant provisioned without an email (its Keycloak user has the placeholder)', () => {
  it('gets its membership back, and no owner email recorded on a recreated namespace', () => {
    const inventory: SyncInventory = {
      tenants: [{ ...tenant('solo'), email: 'solo@tenants.invalid' }],
      namespaces: [ns('solo'), ns('lone'), ns('stolen')],
      grafanaUsers: [gf('solo'), gf('lone'), gf('stolen')],
    };
    const plan = completePlan(
      inventory,
      diffInventory(inventory),
      new Map([
        ['lone', { ...tenant('lone'), email: 'lone@tenants.invalid' }],
        // Someone else's placeholder is not this tenant's: no membership for it.
        ['stolen', { ...tenant('stolen'), email: 'lone@tenants.invalid' }],
      ]),
      new Set(),
    );
    expect(plan.repairs).toEqual([
      { username: 'lone', userId: 'id-lone', namespace: 'ok', grafana: 'ok', membership: true },
    ]);
    expect(plan.notOwned).toEqual([expect.objectContaining({ kind: 'KeycloakUser', name: 'stolen' })]);
    const missing = diffInventory({ ...inventory, namespaces: [] });
    expect(missing.repairs).toEqual([
      { username: 'solo', userId: 'id-solo', namespace: 'create', grafana: 'ok', membership: false },
    ]);
  });
});

describe('reserved names', () => {
  it('never takes a labelled reserved namespace for a tenant’s, nor prunes it', () => {
    const inventory: SyncInventory = {
      tenants: [],
      namespaces: [ns('kube-system'), ns('gone')],
      grafanaUsers: [],
    };
    const reserved = { exact: [], patterns: [/^kube-/] };
    const diff = diffInventory(inventory, reserved);
    const plan = completePlan(inventory, diff, new Map(), new Set());
    expect(plan.orphans.namespaces).toEqual(['gone']);
    expect(plan.notOwned).toEqual([expect.objectContaining({ kind: 'Namespace', name: 'kube-system' })]);
  });
});

describe('pruneNeedsForce', () => {
  const plan = (orphans: number) => ({
    notOwned: [],
    totalTenants: 0,
    repairs: [],
    orphans: { namespaces: Array.from({ length: orphans }, (_, i) => `o${i}`), grafanaUsers: [] },
  });
  it('lets one orphan go, and up to the share of the tenant namespaces', () => {
    expect(pruneNeedsForce(plan(1), 1, 0.1)).toBe(false);
    expect(pruneNeedsForce(plan(10), 100, 0.1)).toBe(false);
  });
  it('needs force beyond the share (a renamed marker group makes everything look orphaned)', () => {
    expect(pruneNeedsForce(plan(11), 100, 0.1)).toBe(true);
    expect(pruneNeedsForce(plan(2), 2, 0.1)).toBe(true);
  });
});
