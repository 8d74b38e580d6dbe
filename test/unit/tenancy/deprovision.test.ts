/**
 * deprovision's answer about the namespace: `deleted` only once the namespace is gone, `terminating` (with
 * what the namespace controller says remains) when its bounded wait ends first, and never a wait past the
 * bound. The systems are fakes holding state; time is a counter moved by the fake sleep.
 */
import { describe, expect, it } from 'vitest';
import {
  awaitNamespace,
  deprovision,
  NAMESPACE_WAIT_MARGIN_MS,
  NAMESPACE_WAIT_MS,
  namespaceWaitUntil,
  type DeprovisionPorts,
} from '../../../shared/tenancy/deprovision.ts';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { annotations, labels, MANAGER } from '../../../shared/tenancy/labels.ts';
import { applyProvision, planProvision } from '../../../shared/tenancy/provision.ts';
import { FakeTenantSystems, foreignParts, provisionSettings } from '../../support/fake-tenant-systems.ts';

const reserved = { exact: [], patterns: [] };
const settings = { reserved, markerGroup: 'tenants' };
const blockers = [
  'Some content in the namespace has finalizers remaining: example.com/drain in 1 resource instances',
];

/** A tenant "ann" in every system; its namespace stays (terminating) for `stays` reads after the delete. */
function systems(options: { stays: number | 'forever' }) {
  let clock = 0;
  let namespace: { uid: string; deleted: boolean; readsLeft: number } | undefined = {
    uid: 'uid-1',
    deleted: false,
    readsLeft: 0,
  };
  const calls: string[] = [];
  const ports: DeprovisionPorts = {
    identity: {
      findGroup: (name) => Promise.resolve(name === 'tenants' ? 'marker' : 'tenant-group'),
      findUserByUsername: (username) =>
        Promise.resolve(
          username === 'ann' ? { id: 'kc-ann', username, email: 'ann@example.org' } : undefined,
        ),
      userGroups: () => Promise.resolve([{ id: 'marker', name: 'tenants' }]),
      deleteUser: () => (calls.push('keycloak'), Promise.resolve(true)),
      deleteGroup: () => Promise.resolve(true),
    },
    cluster: {
      readNamespace: (name) => {
        if (name !== 'ann' || namespace === undefined) return Promise.resolve(undefined);
        if (namespace.deleted) {
          if (options.stays !== 'forever' && namespace.readsLeft-- <= 0) {
            namespace = undefined;
            return Promise.resolve(undefined);
          }
        }
        return Promise.resolve({
          name,
          uid: namespace.uid,
          labels: { [labels.managedBy]: MANAGER, [labels.tenant]: 'ann' },
          annotations: { [annotations.ownerTenant]: 'ann', [annotations.owner]: 'ann@example.org' },
          deletionBlockers: namespace.deleted ? blockers : [],
        });
      },
      deleteNamespace: (name) => {
        calls.push('namespace');
        if (name !== 'ann' || namespace === undefined) return Promise.resolve('absent');
        namespace.deleted = true;
        namespace.readsLeft = options.stays === 'forever' ? 0 : options.stays;
        return Promise.resolve('deleted');
      },
    },
    grafana: {
      lookupUser: (login) =>
        Promise.resolve(
          login === 'ann' ? { id: 7, login, email: 'ann@example.org', isAdmin: false } : undefined,
        ),
      deleteUser: () => Promise.resolve(true),
    },
  };
  const wait = {
    now: () => clock,
    sleep: (ms: number) => {
      clock += ms;
      return Promise.resolve();
    },
  };
  return { ports, wait, calls, clock: () => clock };
}

describe('deprovision: the namespace', () => {
  it('answers deleted once the namespace is gone within the wait, terminating while it is not', async () => {
    // Positive control: the namespace goes after three reads, within the 10 s wait.
    const quick = systems({ stays: 3 });
    const done = await deprovision({ full_name: 'Ann' }, settings, quick.ports, {
      ...quick.wait,
      until: 10_000,
    });
    expect(done.message).toBe('User has been deleted successfully');
    expect(done.namespace).toEqual({ status: 'deleted', finished: true });
    expect(done.systems.kubernetes).toBe('deleted');
    expect(quick.clock()).toBeLessThan(10_000);

    // The same tenant with a finalizer nobody removes: the wait ends at its bound, and the answer says so.
    const stuck = systems({ stays: 'forever' });
    const pending = await deprovision({ full_name: 'Ann' }, settings, stuck.ports, {
      ...stuck.wait,
      until: 10_000,
    });
    expect(pending.namespace).toEqual({ status: 'terminating', finished: false, waitingFor: blockers });
    expect(pending.systems).toEqual({
      kubernetes: 'terminating',
      keycloak: 'deleted',
      keycloakGroup: 'deleted',
      grafana: 'deleted',
    });
    expect(pending.message).toContain('namespace ann is still being deleted');
    expect(pending.message).toContain('example.com/drain');
    expect(pending.message).not.toContain('successfully');
    expect(stuck.clock()).toBe(10_000);
  });

  it('does not wait at all without a bound, and says terminating', async () => {
    const stuck = systems({ stays: 'forever' });
    const answer = await deprovision({ full_name: 'Ann' }, settings, stuck.ports, stuck.wait);
    expect(answer.namespace.status).toBe('terminating');
    expect(stuck.clock()).toBe(0);
    // Positive control: a namespace already gone at the first read is deleted without a wait either.
    const quick = systems({ stays: 0 });
    expect((await deprovision({ full_name: 'Ann' }, settings, quick.ports, quick.wait)).namespace).toEqual({
      status: 'deleted',
      finished: true,
    });
  });

  it('stops waiting when its signal is aborted', async () => {
    const stuck = systems({ stays: 'forever' });
    const controller = new AbortController();
    controller.abort();
    const state = await awaitNamespace({ name: 'ann', uid: 'uid-1' }, stuck.ports, {
      ...stuck.wait,
      until: 60_000,
      signal: controller.signal,
    });
    expect(state.status).toBe('terminating');
    expect(stuck.clock()).toBe(0);
    // Positive control: the same wait without the abort runs to its bound.
    const again = await awaitNamespace({ name: 'ann', uid: 'uid-1' }, stuck.ports, {
      ...stuck.wait,
      until: 3_000,
    });
    expect(again.status).toBe('terminating');
    expect(stuck.clock()).toBe(3_000);
  });

  it('counts a namespace of the same name but another uid as gone (made since, not the one deleted)', async () => {
    const stuck = systems({ stays: 'forever' });
    expect(await awaitNamespace({ name: 'ann', uid: 'another' }, stuck.ports, stuck.wait)).toEqual({
      status: 'deleted',
      finished: true,
    });
    expect((await awaitNamespace({ name: 'ann', uid: 'uid-1' }, stuck.ports, stuck.wait)).status).toBe(
      'terminating',
    );
  });

  it('waits at most NAMESPACE_WAIT_MS, and never into the margin before the deadline', () => {
    expect(namespaceWaitUntil(1_000, 1_000_000)).toBe(1_000 + NAMESPACE_WAIT_MS);
    expect(namespaceWaitUntil(1_000, 20_000)).toBe(20_000 - NAMESPACE_WAIT_MARGIN_MS);
    expect(namespaceWaitUntil(1_000, 3_000)).toBeLessThan(1_000);
  });
});

/** Systems holding the marker group and the tenants provisioned (by provision itself) from `requests`. */
async function provisioned(...requests: { full_name?: string; email?: string }[]) {
  const s = new FakeTenantSystems();
  s.addGroup(provisionSettings.markerGroup);
  const empty = s.state();
  for (const request of requests) {
    const plan = planProvision(request, provisionSettings, new Date('2026-11-01T00:00:00Z'), 'starter');
    await applyProvision(plan, provisionSettings, s.ports);
  }
  s.calls.length = 0;
  return { s, empty };
}

const rejection = async (work: Promise<unknown>): Promise<PlatformError> => {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof PlatformError)) throw new Error(`expected a PlatformError, got ${String(error)}`);
  return error;
};

describe('deprovision through its ports', () => {
  it('removes the namespace and the Grafana user first, then the Keycloak user, then the tenant group', async () => {
    const { s, empty } = await provisioned({ full_name: 'Ann', email: 'ann@example.org' });
    const answer = await deprovision({ email: 'ann@example.org' }, settings, s.ports);
    expect(answer).toMatchObject({
      message: 'User has been deleted successfully',
      username: 'ann',
      namespace: { status: 'deleted', finished: true },
      systems: { kubernetes: 'deleted', keycloak: 'deleted', keycloakGroup: 'deleted', grafana: 'deleted' },
    });
    expect(answer).not.toHaveProperty('errors');
    // Every part is read before any is deleted.
    const firstWrite = s.calls.findIndex((c) => c.method.includes('delete'));
    expect(s.calls.slice(firstWrite).some((c) => c.method === 'grafana.lookupUser')).toBe(false);
    // Keycloak, the list of tenants, goes only after the namespace and the Grafana user.
    const keycloak = s.indexOf('identity.deleteUser', 'ann');
    expect(keycloak).toBeGreaterThan(s.indexOf('cluster.deleteNamespace', 'ann'));
    expect(keycloak).toBeGreaterThan(s.indexOf('grafana.deleteUser', 'ann'));
    expect(s.indexOf('identity.deleteGroup', 'tenant-ann')).toBeGreaterThan(keycloak);
    expect(s.state()).toEqual(empty);

    // A second deprovision finds nothing, writes nothing and says so.
    s.calls.length = 0;
    const again = await deprovision({ email: 'ann@example.org' }, settings, s.ports);
    expect(again.systems).toEqual({
      kubernetes: 'absent',
      keycloak: 'absent',
      keycloakGroup: 'absent',
      grafana: 'absent',
    });
    expect(again.user_id).toBeNull();
    expect(s.writes()).toEqual([]);
  });

  it('tries the name from the email first and the one from the full name when nothing of the first exists', async () => {
    const { s } = await provisioned({ full_name: 'Ann' }, { full_name: 'Ann Lee' });
    const request = { email: 'ann@example.org', full_name: 'Ann Lee' };
    const first = await deprovision(request, settings, s.ports);
    expect(first.username).toBe('ann');
    expect(s.holds('ann')).toEqual({ keycloak: false, namespace: false, grafana: false });
    expect(s.holds('ann-lee')).toEqual({ keycloak: true, namespace: true, grafana: true });
    // Nothing of "ann" is left, so the same request now means the full-name tenant.
    const second = await deprovision(request, settings, s.ports);
    expect(second.username).toBe('ann-lee');
    expect(s.holds('ann-lee')).toEqual({ keycloak: false, namespace: false, grafana: false });
  });

  it.each(foreignParts)(
    'refuses a tenant with %s with 409 not_owned and deletes nothing',
    async (_case, arrange, kind) => {
      // Ann's other parts are the tenant's own; one foreign part stops the whole deprovision.
      const { s } = await provisioned({ full_name: 'Bob' });
      arrange(s);
      const ann = await rejection(deprovision({ full_name: 'Ann' }, settings, s.ports));
      expect(ann).toMatchObject({ reason: 'not_owned', status: 409 });
      expect(ann.extensions?.['notOwned']).toEqual([expect.objectContaining({ kind, name: 'ann' })]);
      expect(s.writes()).toEqual([]);
      const annBefore = s.partsOf('ann');

      // Control: the tenant beside it, all its own, is deprovisioned, and the foreign part stays.
      const bob = await deprovision({ full_name: 'Bob' }, settings, s.ports);
      expect(bob.systems).toEqual({
        kubernetes: 'deleted',
        keycloak: 'deleted',
        keycloakGroup: 'deleted',
        grafana: 'deleted',
      });
      expect(s.holds('bob')).toEqual({ keycloak: false, namespace: false, grafana: false });
      expect(s.partsOf('ann')).toEqual(annBefore);
    },
  );

  it('answers absent for a part some system already lost, and deleted for the others', async () => {
    const { s, empty } = await provisioned({ full_name: 'Ann' }, { full_name: 'Bob' });
    s.drop('grafana', 'ann');
    s.drop('namespace', 'bob');
    const ann = await deprovision({ full_name: 'Ann' }, settings, s.ports);
    expect(ann.message).toBe('User has been deleted successfully');
    expect(ann.systems).toEqual({
      kubernetes: 'deleted',
      keycloak: 'deleted',
      keycloakGroup: 'deleted',
      grafana: 'absent',
    });
    expect(s.indexOf('grafana.deleteUser')).toBe(-1);
    const bob = await deprovision({ full_name: 'Bob' }, settings, s.ports);
    expect(bob.systems).toEqual({
      kubernetes: 'absent',
      keycloak: 'deleted',
      keycloakGroup: 'deleted',
      grafana: 'deleted',
    });
    expect(bob.namespace).toEqual({ status: 'absent', finished: true });
    expect(s.state()).toEqual(empty);
  });

  it('keeps the Keycloak user when a system fails, names the cause, and a retry finishes the tenant', async () => {
    const { s, empty } = await provisioned({ full_name: 'Ann' });
    s.fail(
      'grafana.deleteUser',
      new PlatformError({ reason: 'unavailable', message: 'grafana answered 503', upstream: 'grafana' }),
      { times: 1 },
    );
    const error = await rejection(deprovision({ full_name: 'Ann' }, settings, s.ports));
    expect(error).toMatchObject({ reason: 'upstream', retryable: true });
    expect(error.message).toContain('grafana: grafana answered 503');
    expect(error.extensions?.['systems']).toEqual({
      kubernetes: 'deleted',
      keycloak: 'kept',
      keycloakGroup: 'kept',
      grafana: 'failed',
    });
    // The identity stays, in the marker group: the tenant is still found, and still the tenant's.
    expect(s.holds('ann')).toEqual({ keycloak: true, namespace: false, grafana: true });
    expect(s.groupsOf('ann')).toEqual(['tenant-ann', 'tenants']);
    expect(s.indexOf('identity.deleteUser')).toBe(-1);

    // Control: the retry, with Grafana back, finishes what is left.
    const retry = await deprovision({ full_name: 'Ann' }, settings, s.ports);
    expect(retry.systems).toEqual({
      kubernetes: 'absent',
      keycloak: 'deleted',
      keycloakGroup: 'deleted',
      grafana: 'deleted',
    });
    expect(s.state()).toEqual(empty);
  });
});
