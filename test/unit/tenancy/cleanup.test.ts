/** cleanup's own logic with in-memory ports: a run stopped by its signal, and the next run finishing it. */
import { describe, expect, it } from 'vitest';
import { cleanup, type CleanupPorts } from '../../../shared/tenancy/cleanup.ts';

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
