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
import { annotations, labels, MANAGER } from '../../../shared/tenancy/labels.ts';

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
