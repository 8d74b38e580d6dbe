/** The Keycloak adapter against the real Keycloak of the test environment, in a realm of its own. */
import { createServer, type Server } from 'node:net';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KeycloakDirectory } from '../../../../shared/adapters/keycloak/directory.ts';
import { createTestRealm, type TestRealm } from '../../../env/keycloak-realms.ts';
import { freePort } from '../../../env/ports.ts';
import '../../../env/provided.ts';
import { platformErrorOf } from '../../../support/platform-error.ts';

const env = inject('testEnv').keycloak;
let realm: TestRealm;
let directory: KeycloakDirectory;

function directoryFor(
  r: TestRealm,
  overrides: Partial<ConstructorParameters<typeof KeycloakDirectory>[0]> = {},
) {
  return new KeycloakDirectory({
    baseUrl: env.url,
    realm: r.realm,
    credentials: { grant: 'client_credentials', clientId: r.clientId, clientSecret: r.clientSecret },
    ...overrides,
  });
}

beforeAll(async () => {
  realm = await createTestRealm(env, { prefix: 'dir' });
  directory = directoryFor(realm);
});
afterAll(async () => {
  await realm.drop();
});

describe('users', () => {
  it('creates, finds, sets a password that works, and deletes idempotently', async () => {
    const id = await directory.createUser({
      username: 'john-doe',
      email: 'John.Doe@example.org',
      firstName: 'John',
      lastName: 'Doe',
    });
    expect(await directory.findUserByUsername('john-doe')).toMatchObject({
      id,
      username: 'john-doe',
      firstName: 'John',
      enabled: true,
    });
    expect((await directory.findUserByEmail('john.doe@example.org'))?.id).toBe(id);
    expect(await directory.findUserByUsername('john')).toBeUndefined(); // exact, not a prefix search

    await directory.setPassword(id, 'a-Strong-passw0rd');
    // The password works: log in as the user with the password grant of admin-cli in the realm.
    const login = await fetch(`${env.url}/realms/${realm.realm}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: 'admin-cli',
        username: 'john-doe',
        password: 'a-Strong-passw0rd',
      }),
    });
    expect(login.status).toBe(200);
    await login.arrayBuffer();

    const duplicate = await platformErrorOf(directory.createUser({ username: 'john-doe' }));
    expect(duplicate).toMatchObject({
      reason: 'conflict',
      status: 409,
      retryable: false,
      upstream: 'keycloak',
    });
    expect(duplicate.message).toMatch(/same username/i);

    expect(await directory.deleteUser(id)).toBe(true);
    expect(await directory.deleteUser(id)).toBe(false);
    expect(await directory.findUserByUsername('john-doe')).toBeUndefined();
  });

  it('refuses an invalid user with a validation error and does not retry it', async () => {
    const error = await platformErrorOf(directory.createUser({ username: 'x', email: 'not-an-email' }));
    expect(error).toMatchObject({ reason: 'validation', status: 400, retryable: false });
  });
});

describe('groups', () => {
  it('creates nested groups idempotently and manages membership', async () => {
    const tenants = await directory.ensureGroup('tenants');
    expect(await directory.ensureGroup('tenants')).toBe(tenants);
    const team = await directory.ensureGroup('tenant-alice', tenants);
    expect(await directory.ensureGroup('tenant-alice', tenants)).toBe(team);
    expect(await directory.findGroup('tenant-alice')).toBeUndefined(); // not a top-level group

    const alice = await directory.createUser({ username: 'alice' });
    await directory.addToGroup(alice, tenants);
    await directory.addToGroup(alice, team);
    expect((await directory.userGroups(alice)).map((g) => g.name).sort()).toEqual([
      'tenant-alice',
      'tenants',
    ]);
    await directory.removeFromGroup(alice, team);
    expect((await directory.userGroups(alice)).map((g) => g.name)).toEqual(['tenants']);
    expect(await directory.deleteGroup(team)).toBe(true);
    expect(await directory.deleteGroup(team)).toBe(false);
  });

  it('adds a member again, and several times at once, without an error: one membership', async () => {
    const group = await directory.ensureGroup('tenants');
    const bob = await directory.createUser({ username: 'bob-twice' });
    await directory.addToGroup(bob, group);
    // Provision and sync may add the same membership at once; Keycloak answers the loser 409.
    await Promise.all([1, 2, 3, 4, 5].map(() => directory.addToGroup(bob, group)));
    expect((await directory.userGroups(bob)).map((g) => g.name)).toEqual(['tenants']);
    // The control beside it: a user that does not exist is still an error.
    await expect(directory.addToGroup('00000000-0000-0000-0000-000000000000', group)).rejects.toMatchObject({
      reason: 'not_found',
    });
  });

  it('lists 250 members of a group in pages of 100', async () => {
    const group = await directory.ensureGroup('paged');
    const limit = pLimit(8);
    await Promise.all(
      Array.from({ length: 250 }, (_, i) =>
        limit(async () => {
          const id = await directory.createUser({ username: `member-${String(i).padStart(3, '0')}` });
          await directory.addToGroup(id, group);
        }),
      ),
    );
    const pages: number[] = [];
    const names = new Set<string>();
    for await (const page of directory.groupMembers(group)) {
      pages.push(page.length);
      for (const user of page) names.add(user.username);
    }
    expect(pages).toEqual([100, 100, 50]);
    expect(names.size).toBe(250);
    expect(names.has('member-000') && names.has('member-249')).toBe(true);
  });
});

describe('users created before a date', () => {
  it('filters by creation time, server-side on Keycloak 26.6+', async () => {
    const id = await directory.createUser({ username: 'dated-user' });
    const created = (await directory.getUser(id))?.createdTimestamp ?? 0;
    expect(created).toBeGreaterThan(0);
    const collect = async (cutoff: Date) => {
      const names: string[] = [];
      for await (const page of directory.usersCreatedBefore(cutoff))
        names.push(...page.map((u) => u.username));
      return names;
    };
    expect(await collect(new Date(created + 60_000))).toContain('dated-user');
    expect(await collect(new Date(created - 1))).not.toContain('dated-user');
    // The server itself filters (26.6+): asked for users created before 1970 it answers none at all.
    const before1970 = await realm.admin.users.find({ realm: realm.realm, createdBefore: 1, max: 10 });
    expect(before1970).toEqual([]);
    expect((await realm.admin.users.find({ realm: realm.realm, max: 10 })).length).toBeGreaterThan(0);
  });
});

describe('tokens and failures', () => {
  it('renews a client-credentials token when it expires and after a revocation', async () => {
    const shortLived = await createTestRealm(env, { prefix: 'tok', accessTokenLifespanSeconds: 2 });
    try {
      const d = directoryFor(shortLived);
      await d.createUser({ username: 'first' });
      expect(d.tokens.logins).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 2_100)); // past the 2 s lifespan
      await d.createUser({ username: 'second' });
      expect(d.tokens.logins).toBe(2);
      // Revoke every token issued so far: the next call gets 401, logs in again and succeeds.
      await shortLived.admin.auth({
        grantType: 'password',
        clientId: 'admin-cli',
        username: env.adminUser,
        password: env.adminPassword,
      });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await shortLived.admin.realms.update(
        { realm: shortLived.realm },
        { notBefore: Math.floor(Date.now() / 1000) },
      );
      expect((await d.findUserByUsername('second'))?.username).toBe('second');
      expect(d.tokens.logins).toBe(3);
    } finally {
      await shortLived.drop();
    }
  });

  it('reports bad client credentials clearly, without retrying forever', async () => {
    const d = directoryFor(realm, {
      credentials: { grant: 'client_credentials', clientId: realm.clientId, clientSecret: 'wrong-secret' },
    });
    const error = await platformErrorOf(d.findUserByUsername('anyone'));
    expect(error).toMatchObject({ upstream: 'keycloak', status: 502, retryable: false });
    expect(error.message).not.toContain('wrong-secret');
  });

  it('gives a retryable "unavailable" error for a stopped server', async () => {
    const port = await freePort(); // nothing listens there
    const d = new KeycloakDirectory({
      baseUrl: `http://127.0.0.1:${port}`,
      realm: 'x',
      credentials: { grant: 'client_credentials', clientId: 'c', clientSecret: 's' },
      retry: { retries: 1, minDelayMs: 10 },
    });
    expect(await platformErrorOf(d.findUserByUsername('a'))).toMatchObject({
      reason: 'unavailable',
      status: 503,
      retryable: true,
    });
  });

  it('gives a retryable timeout, not a hang, for a server that never answers', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const address = silent.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const d = new KeycloakDirectory({
        baseUrl: `http://127.0.0.1:${port}`,
        realm: 'x',
        credentials: { grant: 'client_credentials', clientId: 'c', clientSecret: 's' },
        timeoutMs: 300,
        retry: { retries: 1, minDelayMs: 10 },
      });
      expect(await platformErrorOf(d.findUserByUsername('a'))).toMatchObject({
        reason: 'timeout',
        retryable: true,
      });
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
