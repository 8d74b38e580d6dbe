/** cleanup's own logic with in-memory ports: a run stopped by its signal, and the next run finishing it. */
import { describe, expect, it } from 'vitest';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { cleanup, type CleanupPorts } from '../../../shared/tenancy/cleanup.ts';
import { labels } from '../../../shared/tenancy/labels.ts';
import { applyProvision, planProvision } from '../../../shared/tenancy/provision.ts';
import { FakeTenantSystems, provisionSettings } from '../../support/fake-tenant-systems.ts';

const MARKER = 'tenants';
const names = Array.from({ length: 10 }, (_, i) => `old-${String(i).padStart(2, '0')}`);

/** Tenants that exist only as Keycloak users in the marker group, all created long ago. */
function systems(onDelete: (username: string) => void = () => undefined) {
  const users = new Map(names.map((username) => [username, { id: `id-${username}`, username }]));
  const deleted: string[] = [];
  const ports: CleanupPorts = {
    identity: {
      findGroup: (name) => Promise.resolve(name === MARKER ? 'marker' : undefined),
      findUserByUsername: (username) => Promise.resolve(users.get(username)),
      userGroups: () => Promise.resolve([{ id: 'marker', name: MARKER }]),
      deleteUser: (id) => {
        const username = id.replace(/^id-/, '');
        onDelete(username);
        deleted.push(username);
        return Promise.resolve(users.delete(username));
      },
      deleteGroup: () => Promise.resolve(false),
    },
    cluster: {
      readNamespace: () => Promise.resolve(undefined),
      deleteNamespace: () => Promise.resolve('absent'),
    },
    grafana: {
      lookupUser: () => Promise.resolve(undefined),
      deleteUser: () => Promise.resolve(false),
    },
    members: async function* () {
      yield await Promise.resolve([...users.values()]);
    },
    createdBefore: async function* () {
      yield await Promise.resolve([...users.values()].map((u) => ({ ...u, createdTimestamp: 0 })));
    },
    namespacePages: async function* () {
      yield await Promise.resolve([]);
    },
  };
  return { ports, deleted, users };
}

const settings = { markerGroup: MARKER, retentionDays: 30, maxShare: 1 };

describe('cleanup', () => {
  it('stops between tenants when its signal is aborted; the next run removes exactly the rest', async () => {
    const stop = new AbortController();
    const s = systems(() => {
      stop.abort();
    });
    const stopped = await cleanup({ force: true }, settings, s.ports, stop.signal);
    if (!('not_started' in stopped)) throw new Error('the run did not stop');
    const notStarted = stopped.not_started ?? [];
    // The tenants started before the signal finished their removal; the others were not touched.
    expect(stopped.deleted_users.map((u) => u.username).sort()).toEqual([...s.deleted].sort());
    expect(s.deleted.length).toBeGreaterThan(0);
    expect(notStarted.length).toBeGreaterThan(0);
    expect([...s.deleted, ...notStarted].sort()).toEqual(names);
    expect([...s.users.keys()].sort()).toEqual(notStarted);
    expect(stopped.message).toMatch(/stopped early/);
    expect(stopped.total_processed).toBe(s.deleted.length);

    // Control: the next run, not stopped, is the continuation and removes exactly those not started.
    const firstRun = [...s.deleted];
    const next = await cleanup({ force: true }, settings, s.ports);
    expect(next).not.toHaveProperty('not_started');
    expect('deleted_users' in next ? next.deleted_users.map((u) => u.username).sort() : []).toEqual(
      notStarted,
    );
    expect(s.deleted.slice(firstRun.length).sort()).toEqual(notStarted);
    expect(s.users.size).toBe(0);
  });
});

const NOW = '2026-11-30T00:00:00Z';
const daysBefore = (days: number) => Date.parse(NOW) - days * 86_400_000;

/**
 * Tenants made by provision itself, each on its day: `old-a` (200 days before NOW), `old-b` (45 days),
 * `new-c` (10 days: within the 30 days of retention) and `keep` (200 days, its namespace exempt); and
 * `staff`, an old Keycloak user who is no tenant (not in the marker group).
 */
async function tenants() {
  const s = new FakeTenantSystems();
  s.addGroup(MARKER);
  const made: [string, number][] = [
    ['old-a', 200],
    ['old-b', 45],
    ['new-c', 10],
    ['keep', 200],
  ];
  for (const [name, age] of made) {
    s.now = daysBefore(age);
    const plan = planProvision({ full_name: name }, provisionSettings, new Date(s.now), 'starter');
    await applyProvision(plan, provisionSettings, s.ports);
  }
  s.labelNamespace('keep', { [labels.exempt]: 'true' });
  s.addUser({ username: 'staff', email: 'staff@example.org', createdTimestamp: daysBefore(400) });
  s.calls.length = 0;
  return s;
}

const gone = { keycloak: false, namespace: false, grafana: false };
const whole = { keycloak: true, namespace: true, grafana: true };

describe('cleanup through its ports', () => {
  it('removes exactly the tenants past retention, sparing the exempt, the recent and users who are no tenant', async () => {
    const s = await tenants();
    const run = await cleanup({ now: NOW }, settings, s.ports);
    expect(run).toMatchObject({
      message: 'Cleanup completed',
      cutoff: new Date(daysBefore(30)).toISOString(),
      total_tenants: 4,
      exempt: ['keep'],
      not_owned: [],
      failed_deletions: [],
      total_processed: 2,
      successfully_deleted: 2,
    });
    expect('deleted_users' in run ? run.deleted_users.map((u) => u.username).sort() : []).toEqual([
      'old-a',
      'old-b',
    ]);
    expect(s.holds('old-a')).toEqual(gone);
    expect(s.holds('old-b')).toEqual(gone);
    expect(s.holds('new-c')).toEqual(whole);
    expect(s.holds('keep')).toEqual(whole);
    expect(s.holds('staff').keycloak).toBe(true);
    // Only those two were touched.
    expect(new Set(s.writes().map((c) => c.target.replace(/^tenant-/, '')))).toEqual(
      new Set(['old-a', 'old-b']),
    );
  });

  it('plans in a dry run without a write; the real run then removes exactly what the plan said', async () => {
    const s = await tenants();
    const before = s.state();
    const plan = await cleanup({ now: NOW, dryRun: true }, settings, s.ports);
    expect(plan).toMatchObject({ dryRun: true, would_delete: ['old-a', 'old-b'], exempt: ['keep'] });
    expect(s.writes()).toEqual([]);
    expect(s.state()).toEqual(before);

    const run = await cleanup({ now: NOW }, settings, s.ports);
    expect('deleted_users' in run ? run.deleted_users.map((u) => u.username).sort() : []).toEqual(
      'would_delete' in plan ? plan.would_delete : undefined,
    );
  });

  it('reports a tenant with a part it did not make under not_owned and leaves it whole, removing the others', async () => {
    const s = await tenants();
    // old-a's namespace replaced by one someone else made: the tenant is left entirely as it is.
    s.drop('namespace', 'old-a');
    s.addNamespace('old-a', { labels: { team: 'data' } });
    const before = s.state();
    const run = await cleanup({ now: NOW }, settings, s.ports);
    expect(run.not_owned).toEqual([
      { username: 'old-a', objects: [expect.objectContaining({ kind: 'Namespace', name: 'old-a' })] },
    ]);
    expect(s.holds('old-a')).toEqual(whole);
    expect(s.state().namespaces['old-a']).toEqual(before.namespaces['old-a']);
    expect(s.writes().some((c) => c.target.includes('old-a'))).toBe(false);
    // Control: the other tenant past retention in the same run is removed.
    expect('deleted_users' in run ? run.deleted_users.map((u) => u.username) : []).toEqual(['old-b']);
    expect(s.holds('old-b')).toEqual(gone);
  });

  it('refuses to remove more than its share of all tenants unless forced', async () => {
    const s = await tenants();
    const before = s.state();
    const refused = await cleanup({ now: NOW }, { ...settings, maxShare: 0.25 }, s.ports).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(PlatformError);
    expect(refused).toMatchObject({ reason: 'conflict' });
    expect(s.writes()).toEqual([]);
    expect(s.state()).toEqual(before);
    // Control: forced, the same run removes them.
    const forced = await cleanup({ now: NOW, force: true }, { ...settings, maxShare: 0.25 }, s.ports);
    expect('successfully_deleted' in forced ? forced.successfully_deleted : 0).toBe(2);
  });

  it('starts no tenant when its signal is already aborted, and reports them all as not started', async () => {
    const s = await tenants();
    const before = s.state();
    const stop = new AbortController();
    stop.abort();
    const stopped = await cleanup({ now: NOW }, settings, s.ports, stop.signal);
    expect(stopped).toMatchObject({ not_started: ['old-a', 'old-b'], total_processed: 0, deleted_users: [] });
    expect(s.writes()).toEqual([]);
    expect(s.state()).toEqual(before);
    // Control: the next run, not stopped, removes them.
    const next = await cleanup({ now: NOW }, settings, s.ports);
    expect(next).not.toHaveProperty('not_started');
    expect('successfully_deleted' in next ? next.successfully_deleted : 0).toBe(2);
  });

  it("goes on with the others when one tenant's removal fails, and keeps that tenant's identity", async () => {
    const s = await tenants();
    s.fail(
      'grafana.deleteUser',
      new PlatformError({ reason: 'unavailable', message: 'grafana answered 503', upstream: 'grafana' }),
      { when: (login) => login === 'old-a', times: 1 },
    );
    const run = await cleanup({ now: NOW }, settings, s.ports);
    expect(run).toMatchObject({
      message: 'Cleanup completed',
      failed_deletions: ['old-a'],
      failures: [{ username: 'old-a', errors: { grafana: 'grafana answered 503' } }],
      successfully_deleted: 1,
      failed: 1,
      total_processed: 2,
    });
    expect('deleted_users' in run ? run.deleted_users.map((u) => u.username) : []).toEqual(['old-b']);
    expect(s.holds('old-b')).toEqual(gone);
    // old-a keeps its Keycloak user (in the marker group) and its Grafana user: the next run finds it.
    expect(s.holds('old-a')).toEqual({ keycloak: true, namespace: false, grafana: true });
    expect(s.groupsOf('old-a')).toContain(MARKER);
    const next = await cleanup({ now: NOW }, settings, s.ports);
    expect('deleted_users' in next ? next.deleted_users.map((u) => u.username) : []).toEqual(['old-a']);
    expect(s.holds('old-a')).toEqual(gone);
  });
});
