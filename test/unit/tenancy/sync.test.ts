/**
 * sync's orchestration over in-memory systems that count their calls: the call budget with no drift, the
 * repairs it makes, and prune's safety bound. The real servers are in test/integration/functions/sync.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { defaultPlan } from '../../../shared/tenancy/baseline.ts';
import type { KubernetesObject } from '../../../shared/tenancy/baseline.ts';
import { sync, type SyncPorts, type SyncSettings } from '../../../shared/tenancy/sync.ts';
import type { GrafanaAccount, TenantIdentity } from '../../../shared/tenancy/sync-plan.ts';
import { annotations, labels, MANAGER } from '../../../shared/tenancy/labels.ts';

const PAGE = 100;

const placeholder = (login: string) => `${login}@tenants.invalid`;
/** A namespace as provision makes it. */
const ownedNamespace = (name: string) => ({
  name,
  terminating: false,
  labels: { [labels.managedBy]: MANAGER, [labels.tenant]: name },
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
        created.push(object);
        if (object.kind === 'Namespace') namespaces.add(object.metadata.name);
        return Promise.resolve();
      },
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
  return { ports, calls, members, namespaces, grafana, created, users };
}

const settings: SyncSettings = {
  markerGroup: 'tenants',
  plans: new Map([[defaultPlan.name, defaultPlan]]),
  defaultPlan: 'default',
  access: { tenantClusterRole: 'tenant-edit', oidc: { usernamePrefix: 'oidc:', groupsPrefix: 'oidc:' } },
  grafanaRole: 'Viewer',
  pruneMaxShare: 0.1,
  concurrency: 4,
};

const names = (n: number) => Array.from({ length: n }, (_, i) => `t${i.toString().padStart(5, '0')}`);

describe('sync', () => {
  it('with no drift, calls grow with N/page: at most 3*(N/page)+10 for 2,550 tenants', async () => {
    const all = names(2_550);
    const s = systems({ tenants: all, namespaces: all, grafana: all });
    const result = await sync({}, settings, s.ports);
    expect(result.results).toMatchObject({ total_users: 2_550, fixed_users: [], failed_fixes: [] });
    expect(s.calls.total).toBeLessThanOrEqual(3 * Math.ceil(2_550 / PAGE) + 10);
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
});
