/**
 * sync's orchestration over in-memory systems that count their calls: the call budget with no drift, the
 * repairs it makes (baseline objects of existing namespaces included), and prune's safety bound. The real
 * servers are in test/integration/functions/sync.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { defaultPlan } from '../../../shared/tenancy/baseline.ts';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';
import { sync, type SyncPorts, type SyncSettings } from '../../../shared/tenancy/sync.ts';
import { renderTenantBaseline } from '../../../shared/tenancy/tenant-objects.ts';
import type { GrafanaAccount, TenantIdentity } from '../../../shared/tenancy/sync-plan.ts';
import { annotations, labels, MANAGER } from '../../../shared/tenancy/labels.ts';

const PAGE = 100;

const placeholder = (login: string) => `${login}@tenants.invalid`;
/** A namespace as provision makes it. */
const ownedNamespace = (name: string) => ({
  name,
  terminating: false,
  labels: { [labels.managedBy]: MANAGER, [labels.tenant]: name, [labels.plan]: 'default' },
  annotations: { [annotations.ownerTenant]: name },
});

function pages<T>(items: readonly T[], count: () => void): AsyncIterable<T[]> {
  return (async function* () {
    for (let i = 0; ; i += PAGE) {
      count();
      await Promise.resolve();
      const page = items.slice(i, i + PAGE);
      if (page.length > 0) yield page;
      if (page.length < PAGE) return;
    }
  })();
}

/** A baseline object as the apiserver holds it. */
type Stored = KubernetesObject & {
  readonly metadata: KubernetesObject['metadata'] & {
    readonly uid?: string;
    readonly resourceVersion?: string;
  };
};

const access = {
  tenantClusterRole: 'tenant-edit',
  oidc: { usernamePrefix: 'oidc:', groupsPrefix: 'oidc:' },
};

function systems(options: { tenants: string[]; namespaces: string[]; grafana: string[]; made?: string[] }) {
  const calls = { total: 0 };
  const count = () => {
    calls.total++;
  };
  const users = new Map<string, TenantIdentity>(
    options.tenants.map((u) => [u, { id: `id-${u}`, username: u }]),
  );
  const members = new Set(options.tenants);
  const namespaces = new Set(options.namespaces);
  const grafana = new Map<string, GrafanaAccount>(
    options.grafana.map((login, i) => [
      login,
      { id: i + 1, login, email: placeholder(login), isAdmin: false },
    ]),
  );
  const created: KubernetesObject[] = [];
  const replaced: KubernetesObject[] = [];
  /** The baseline objects the apiserver holds, by namespace/kind/name, each with a uid and resourceVersion. */
  const stored = new Map<string, Stored>();
  const keyOf = (o: KubernetesObject) => `${o.metadata.namespace ?? ''}/${o.kind}/${o.metadata.name}`;
  let version = 0;
  const store = (o: KubernetesObject) => {
    version++;
    stored.set(keyOf(o), {
      ...o,
      metadata: { ...o.metadata, uid: `uid-${version}`, resourceVersion: String(version) },
    });
  };
  for (const name of options.namespaces)
    for (const o of renderTenantBaseline(
      { username: name, plan: defaultPlan, createdAt: new Date(0) },
      access,
    ))
      if (o.kind !== 'Namespace') store(o);
  const ports: SyncPorts = {
    identity: {
      findGroup: (name) => (count(), Promise.resolve(name === 'tenants' ? 'marker' : `g-${name}`)),
      ensureGroup: (name) => (count(), Promise.resolve(name === 'tenants' ? 'marker' : `g-${name}`)),
      addToGroup: (userId, groupId) => {
        count();
        if (groupId === 'marker') members.add(userId.replace(/^id-/, ''));
        return Promise.resolve();
      },
      findUserByUsername: (name) => (count(), Promise.resolve(users.get(name))),
      userGroups: (userId) => {
        count();
        const name = userId.replace(/^id-/, '');
        return Promise.resolve(
          members.has(name)
            ? [
                { id: 'marker', name: 'tenants' },
                { id: `g-tenant-${name}`, name: `tenant-${name}` },
              ]
            : [],
        );
      },
      groupMembers: () =>
        pages(
          [...members].map((u) => ({ id: `id-${u}`, username: u })),
          count,
        ),
    },
    cluster: {
      namespacePages: () =>
        pages(
          [...namespaces].map((name) => ownedNamespace(name)),
          count,
        ),
      readNamespace: (name) => (
        count(),
        Promise.resolve(namespaces.has(name) ? ownedNamespace(name) : undefined)
      ),
      create: (object) => {
        count();
        if (object.kind !== 'Namespace' && stored.has(keyOf(object)))
          return Promise.reject(new PlatformError({ reason: 'conflict', message: 'already exists' }));
        created.push(object);
        if (object.kind === 'Namespace') namespaces.add(object.metadata.name);
        else store(object);
        return Promise.resolve();
      },
      objectPages: (kind, _selector, namespace) =>
        pages(
          [...stored.values()].filter(
            (o) =>
              o.kind === kind.kind &&
              o.metadata.labels?.[labels.baseline] === 'true' &&
              (namespace === undefined || o.metadata.namespace === namespace),
          ),
          count,
        ),
      read: (object) => (count(), Promise.resolve(stored.get(keyOf(object)))),
      replace: (object) => {
        count();
        const current = stored.get(keyOf(object));
        if (current === undefined)
          return Promise.reject(new PlatformError({ reason: 'not_found', message: 'gone' }));
        if (current.metadata.resourceVersion !== (object as Stored).metadata.resourceVersion)
          return Promise.reject(new PlatformError({ reason: 'conflict', message: 'changed meanwhile' }));
        replaced.push(object);
        store(object);
        return Promise.resolve();
      },
      deleteObject: (object) => (
        count(),
        Promise.resolve(stored.delete(keyOf(object)) ? 'deleted' : 'absent')
      ),
      deleteNamespace: (name) => (count(), Promise.resolve(namespaces.delete(name) ? 'deleted' : 'absent')),
      labelNamespace: () => Promise.reject(new Error('not expected')),
    },
    grafana: {
      searchUsers: () => pages([...grafana.values()], count),
      lookupUser: (login) => (count(), Promise.resolve(grafana.get(login))),
      createUser: (user) => {
        count();
        grafana.set(user.login, {
          id: grafana.size + 100,
          login: user.login,
          email: user.email,
          isAdmin: false,
        });
        return Promise.resolve(grafana.size + 100);
      },
      setOrgRole: () => (count(), Promise.resolve()),
      deleteUser: (id) => {
        count();
        for (const [login, g] of grafana) if (g.id === id) grafana.delete(login);
        return Promise.resolve(true);
      },
    },
    productLogins: (logins) => Promise.resolve(new Set(logins.filter((l) => options.made?.includes(l)))),
  };
  return { ports, calls, members, namespaces, grafana, created, users, stored, replaced };
}

const settings: SyncSettings = {
  markerGroup: 'tenants',
  plans: new Map([[defaultPlan.name, defaultPlan]]),
  defaultPlan: 'default',
  access,
  grafanaRole: 'Viewer',
  pruneMaxShare: 0.1,
  concurrency: 4,
};

const names = (n: number) => Array.from({ length: n }, (_, i) => `t${i.toString().padStart(5, '0')}`);

describe('sync', () => {
  it('with no drift, calls grow with N/page: at most 9*(N/page)+14 for 2,550 tenants', async () => {
    const all = names(2_550);
    const s = systems({ tenants: all, namespaces: all, grafana: all });
    const result = await sync({}, settings, s.ports);
    expect(result.results).toMatchObject({
      total_users: 2_550,
      fixed_users: [],
      failed_fixes: [],
      baseline_repaired: [],
    });
    expect(result.counts.baseline_drift).toBe(0);
    // Three lists (members, Grafana users, namespaces) and the baseline lists: six objects per tenant in four
    // kinds, one call per page and at most one closing call per kind.
    expect(s.calls.total).toBeLessThanOrEqual(9 * Math.ceil(2_550 / PAGE) + 14);
  });

  it('recreates a missing namespace with the baseline and a missing Grafana user, and reports them', async () => {
    const s = systems({ tenants: ['ann', 'bob'], namespaces: ['bob'], grafana: ['ann'] });
    const result = await sync({}, settings, s.ports);
    expect(result.results.fixed_users).toEqual([
      { username: 'ann', fixed_grafana: false, fixed_namespace: true, fixed_membership: false },
      { username: 'bob', fixed_grafana: true, fixed_namespace: false, fixed_membership: false },
    ]);
    expect(s.created.map((o) => o.kind)).toEqual([
      'Namespace',
      'ResourceQuota',
      'LimitRange',
      'NetworkPolicy',
      'NetworkPolicy',
      'RoleBinding',
      'RoleBinding',
    ]);
    expect(s.grafana.has('bob')).toBe(true);
  });

  it('stops between tenants when its signal is aborted, and names the repairs not started', async () => {
    const s = systems({ tenants: ['ann', 'bob', 'cid', 'dan'], namespaces: [], grafana: [] });
    const stop = new AbortController();
    const createUser = s.ports.grafana.createUser.bind(s.ports.grafana);
    // Aborted during the first tenant's repair (concurrency 1): that repair finishes, no other starts.
    const ports: SyncPorts = {
      ...s.ports,
      grafana: {
        ...s.ports.grafana,
        createUser: (...args) => {
          stop.abort();
          return createUser(...args);
        },
      },
    };
    const stopped = await sync({}, { ...settings, concurrency: 1 }, ports, new Date(), stop.signal);
    expect(stopped.results.fixed_users).toEqual([
      { username: 'ann', fixed_grafana: true, fixed_namespace: true, fixed_membership: false },
    ]);
    expect(stopped.stopped).toEqual({ not_started: ['bob', 'cid', 'dan'] });
    expect(stopped.message).toMatch(/stopped early/);
    // The next run is the continuation: it repairs exactly what is still drifted.
    const next = await sync({}, settings, s.ports);
    expect(next.results.fixed_users.map((f) => f.username)).toEqual(['bob', 'cid', 'dan']);
    expect(next).not.toHaveProperty('stopped');
  });

  it('repairs each tenant under its lock: skips a tenant whose lock is held, re-reads the tenant once it holds it', async () => {
    const s = systems({ tenants: ['ann', 'bob', 'cid'], namespaces: [], grafana: [] });
    const locked: string[] = [];
    const ports: SyncPorts = {
      ...s.ports,
      tenantLock: async (username, work) => {
        // bob: a provision in flight holds his lock.
        if (username === 'bob')
          throw new PlatformError({ reason: 'conflict', message: 'tenant:bob is busy', retryable: true });
        // cid: the provision that held his lock finished him while this run waited for it.
        if (username === 'cid') {
          s.namespaces.add('cid');
          await s.ports.grafana.createUser({ login: 'cid', email: placeholder('cid'), password: 'x' });
        }
        locked.push(username);
        return work();
      },
    };
    const result = await sync({}, settings, ports);
    expect(locked.sort()).toEqual(['ann', 'cid']);
    // The control: ann, whose lock was free, is repaired.
    expect(result.results.fixed_users).toEqual([
      { username: 'ann', fixed_grafana: true, fixed_namespace: true, fixed_membership: false },
    ]);
    expect(result.results.failed_fixes).toEqual([
      {
        username: 'bob',
        error:
          'not repaired: another operation on this tenant was running; the next run repairs what is still drifted',
      },
    ]);
    // Nothing of bob was touched, and cid's namespace was not made a second time.
    expect(s.namespaces.has('bob')).toBe(false);
    expect(s.grafana.has('bob')).toBe(false);
    expect(s.created.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name)).toEqual(['ann']);
  });

  it('changes nothing in a dry run', async () => {
    const s = systems({ tenants: ['ann'], namespaces: [], grafana: [] });
    const result = await sync({ dryRun: true }, settings, s.ports);
    expect(result.results).toMatchObject({
      would_fix: [{ username: 'ann', fixed_grafana: true, fixed_namespace: true, fixed_membership: false }],
    });
    expect(s.created).toEqual([]);
    expect(s.grafana.size).toBe(0);
  });

  it('restores the membership of a tenant that still has its user and namespace', async () => {
    const s = systems({ tenants: ['ann'], namespaces: ['ann', 'lea'], grafana: ['ann', 'lea'] });
    s.users.set('lea', { id: 'id-lea', username: 'lea' });
    const result = await sync({}, settings, s.ports);
    expect(result.results.fixed_users).toEqual([
      { username: 'lea', fixed_grafana: false, fixed_namespace: false, fixed_membership: true },
    ]);
    expect(s.members.has('lea')).toBe(true);
  });

  it('reports orphans, prunes them only when asked, and refuses a mass prune unless forced', async () => {
    const tenants = names(20);
    const s = systems({
      tenants,
      namespaces: [...tenants, 'orphan-a', 'orphan-b', 'orphan-c'],
      grafana: [...tenants, 'orphan-a', 'person'],
      made: ['orphan-a'],
    });
    const report = await sync({}, settings, s.ports);
    expect(report.results.orphans).toEqual({
      namespaces: ['orphan-a', 'orphan-b', 'orphan-c'],
      grafana_users: ['orphan-a'],
    });
    expect(s.namespaces.has('orphan-a')).toBe(true);
    await expect(sync({ prune: true }, settings, s.ports)).rejects.toThrow(/refusing to prune 3 namespaces/);
    const pruned = await sync({ prune: true, force: true }, settings, s.ports);
    expect(pruned.results).toMatchObject({
      pruned: { namespaces: ['orphan-a', 'orphan-b', 'orphan-c'], grafana_users: ['orphan-a'] },
    });
    expect(s.grafana.has('person')).toBe(true);
    expect(s.namespaces.has('orphan-b')).toBe(false);
  });

  it('meets a foreign namespace on create: reports it not_owned, creates nothing in it, repairs the others', async () => {
    const s = systems({ tenants: ['ann', 'bob'], namespaces: [], grafana: ['ann', 'bob'] });
    const foreign = { name: 'ann', terminating: false, labels: {}, annotations: {} };
    const ports: SyncPorts = {
      ...s.ports,
      cluster: {
        ...s.ports.cluster,
        // ann's namespace appears (someone else's) between the list and the create.
        create: (object) =>
          object.kind === 'Namespace' && object.metadata.name === 'ann'
            ? Promise.reject(
                new PlatformError({ reason: 'conflict', message: 'namespaces "ann" already exists' }),
              )
            : s.ports.cluster.create(object),
        readNamespace: (name) =>
          name === 'ann' ? Promise.resolve(foreign) : s.ports.cluster.readNamespace(name),
      },
    };
    const result = await sync({}, settings, ports);
    expect(result.results.not_owned).toEqual([expect.objectContaining({ kind: 'Namespace', name: 'ann' })]);
    expect(result.results.failed_fixes.map((f) => f.username)).toEqual(['ann']);
    expect(s.created.filter((o) => o.metadata.namespace === 'ann')).toEqual([]);
    expect(result.results.fixed_users).toEqual([
      { username: 'bob', fixed_grafana: false, fixed_namespace: true, fixed_membership: false },
    ]);
    expect(s.created.filter((o) => o.metadata.namespace === 'bob').length).toBeGreaterThan(0);
  });

  it('refuses adopt without a username', async () => {
    const s = systems({ tenants: ['ann'], namespaces: [], grafana: ['ann'] });
    await expect(sync({ adopt: true }, settings, s.ports)).rejects.toMatchObject({ reason: 'validation' });
    expect(s.created).toEqual([]);
    await sync({}, settings, s.ports);
    expect(s.created.map((o) => o.kind)).toContain('Namespace');
  });

  it('answers not found for a username that is nothing of a tenant', async () => {
    const s = systems({ tenants: [], namespaces: [], grafana: [] });
    await expect(sync({ username: 'nobody' }, settings, s.ports)).rejects.toMatchObject({
      reason: 'not_found',
    });
  });

  it('repairs drifted and missing baseline objects: a dry run reports them, a run fixes them, the next finds none', async () => {
    const s = systems({ tenants: ['ann', 'bob'], namespaces: ['ann', 'bob'], grafana: ['ann', 'bob'] });
    const at = (name: string, kind: string, ns = 'ann') => s.stored.get(`${ns}/${kind}/${name}`);
    const wanted = renderTenantBaseline(
      { username: 'ann', plan: defaultPlan, createdAt: new Date(0) },
      access,
    );
    const desired = (kind: string, name: string) =>
      wanted.find((o) => o.kind === kind && o.metadata.name === name) as KubernetesObject;
    const isolation = at('tenant-isolation', 'NetworkPolicy') as Stored;
    const limits = at('tenant-defaults', 'LimitRange') as Stored;
    // As the old serializer stored them: a rule that admits every pod, limits without `default`.
    s.stored.set('ann/NetworkPolicy/tenant-isolation', {
      ...isolation,
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] },
    });
    s.stored.set('ann/LimitRange/tenant-defaults', {
      ...limits,
      spec: { limits: [{ type: 'Container', defaultRequest: { cpu: '10m', memory: '64Mi' } }] },
    });
    s.stored.delete('ann/ResourceQuota/tenant-quota');
    const bobBefore = [...s.stored.entries()].filter(([key]) => key.startsWith('bob/'));

    const dry = await sync({ dryRun: true }, settings, s.ports);
    const drift = [
      {
        tenant: 'ann',
        kind: 'LimitRange',
        name: 'tenant-defaults',
        action: 'update',
        fields: ['spec.limits'],
      },
      {
        tenant: 'ann',
        kind: 'NetworkPolicy',
        name: 'tenant-isolation',
        action: 'update',
        fields: ['spec.ingress'],
      },
      { tenant: 'ann', kind: 'ResourceQuota', name: 'tenant-quota', action: 'create', fields: ['*'] },
    ];
    expect(dry.results.would_repair_baseline).toEqual(drift);
    expect(dry.counts.baseline_drift).toBe(3);
    expect(s.replaced).toEqual([]);
    expect(s.created).toEqual([]);
    expect(at('tenant-isolation', 'NetworkPolicy')?.spec).toEqual({
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [{}],
    });

    const run = await sync({}, settings, s.ports);
    expect(run.results.baseline_repaired).toEqual(drift);
    expect(run.results.failed_fixes).toEqual([]);
    for (const [kind, name] of [
      ['NetworkPolicy', 'tenant-isolation'],
      ['LimitRange', 'tenant-defaults'],
      ['ResourceQuota', 'tenant-quota'],
    ] as const)
      expect(at(name, kind)?.spec).toEqual(desired(kind, name).spec);
    // Replaced in place: the same object (uid), its resourceVersion the precondition.
    expect(s.replaced.map((o) => (o as Stored).metadata.uid)).toEqual([
      limits.metadata.uid,
      isolation.metadata.uid,
    ]);
    // The control beside it: bob's correct objects were neither replaced nor created again.
    expect([...s.stored.entries()].filter(([key]) => key.startsWith('bob/'))).toEqual(bobBefore);

    const again = await sync({}, settings, s.ports);
    expect(again.results.baseline_repaired).toEqual([]);
    expect(again.counts.baseline_drift).toBe(0);
    expect(s.replaced.length).toBe(2);
  });

  it('recreates a RoleBinding whose roleRef changed, and repairs an object that lost its labels', async () => {
    const s = systems({ tenants: ['ann'], namespaces: ['ann'], grafana: ['ann'] });
    const binding = s.stored.get('ann/RoleBinding/tenant-user') as Stored;
    s.stored.set('ann/RoleBinding/tenant-user', {
      ...binding,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
    });
    // Not listed (no baseline label): the create meets it, reads it and replaces it.
    const quota = s.stored.get('ann/ResourceQuota/tenant-quota') as Stored;
    s.stored.set('ann/ResourceQuota/tenant-quota', {
      ...quota,
      metadata: { ...quota.metadata, labels: { keep: 'me' } },
      spec: { hard: { pods: '1000' } },
    });
    const result = await sync({}, settings, s.ports);
    expect(result.results.baseline_repaired).toEqual([
      { tenant: 'ann', kind: 'ResourceQuota', name: 'tenant-quota', action: 'create', fields: ['*'] },
      { tenant: 'ann', kind: 'RoleBinding', name: 'tenant-user', action: 'recreate', fields: ['roleRef'] },
    ]);
    expect(s.stored.get('ann/RoleBinding/tenant-user')?.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'tenant-edit',
    });
    const repairedQuota = s.stored.get('ann/ResourceQuota/tenant-quota');
    expect(repairedQuota?.spec).toEqual({ hard: defaultPlan.quota });
    expect(repairedQuota?.metadata.labels).toMatchObject({ keep: 'me', [labels.baseline]: 'true' });
    expect((await sync({}, settings, s.ports)).results.baseline_repaired).toEqual([]);
  });

  it('repairs a baseline under the tenant lock: a held lock skips that tenant, the other is repaired', async () => {
    const s = systems({ tenants: ['ann', 'bob'], namespaces: ['ann', 'bob'], grafana: ['ann', 'bob'] });
    for (const ns of ['ann', 'bob']) s.stored.delete(`${ns}/LimitRange/tenant-defaults`);
    const ports: SyncPorts = {
      ...s.ports,
      tenantLock: (username, work) =>
        username === 'bob'
          ? Promise.reject(new PlatformError({ reason: 'conflict', message: 'busy', retryable: true }))
          : work(),
    };
    const result = await sync({}, settings, ports);
    expect(result.results.baseline_repaired.map((r) => r.tenant)).toEqual(['ann']);
    expect(result.results.failed_fixes).toEqual([
      {
        username: 'bob',
        error:
          'baseline not repaired: another operation on this tenant was running; the next run repairs what is still drifted',
      },
    ]);
    expect(s.stored.has('bob/LimitRange/tenant-defaults')).toBe(false);
    expect(s.stored.has('ann/LimitRange/tenant-defaults')).toBe(true);
  });

  it('repairs an orphan namespace’s baseline while it stays, and not in the run that prunes it', async () => {
    const s = systems({ tenants: ['ann'], namespaces: ['ann', 'orphan'], grafana: ['ann'] });
    s.stored.delete('orphan/LimitRange/tenant-defaults');
    s.stored.delete('ann/LimitRange/tenant-defaults');
    const pruneRun = await sync({ prune: true, force: true }, settings, s.ports);
    expect(pruneRun.results.pruned?.namespaces).toEqual(['orphan']);
    // The control beside it: the tenant's own missing object is created in the same run.
    expect(pruneRun.results.baseline_repaired.map((r) => `${r.tenant}/${r.name}`)).toEqual([
      'ann/tenant-defaults',
    ]);
    expect(s.stored.has('orphan/LimitRange/tenant-defaults')).toBe(false);

    const kept = systems({ tenants: ['ann'], namespaces: ['ann', 'orphan'], grafana: ['ann'] });
    kept.stored.delete('orphan/LimitRange/tenant-defaults');
    const reportRun = await sync({}, settings, kept.ports);
    expect(reportRun.results.orphans.namespaces).toEqual(['orphan']);
    expect(reportRun.results.baseline_repaired.map((r) => `${r.tenant}/${r.name}`)).toEqual([
      'orphan/tenant-defaults',
    ]);
  });
});
