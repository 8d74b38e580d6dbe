/**
 * The Grafana adapter against the test environment's Grafana. That Grafana is a fake of Grafana's documented
 * HTTP API (see test/env/grafana-contract-server.ts for why); the transport failures use real sockets.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import pLimit from 'p-limit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { GrafanaAdmin } from '../../../../shared/adapters/grafana/client.ts';
import { freePort } from '../../../env/ports.ts';
import '../../../env/provided.ts';
import { platformErrorOf } from '../../../support/platform-error.ts';

const env = inject('testEnv').grafana;
const grafana = new GrafanaAdmin({
  url: env.url,
  adminUser: env.adminUser,
  adminPassword: env.adminPassword,
  pageSize: 100,
});
const unique = (prefix: string): string => `${prefix}-${randomBytes(3).toString('hex')}`;

afterAll(async () => {
  await grafana.close();
});

async function loginWorks(login: string, password: string): Promise<boolean> {
  const response = await fetch(`${env.url}/api/user`, {
    headers: { authorization: `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}` },
  });
  await response.arrayBuffer();
  return response.ok;
}

describe('grafana users', () => {
  it('creates, looks up, changes the password, sets the org role and deletes idempotently', async () => {
    const login = unique('john-doe');
    const id = await grafana.createUser({ login, email: `${login}@example.org`, password: 'first-Passw0rd' });
    expect(await grafana.lookupUser(login)).toEqual({
      id,
      login,
      email: `${login}@example.org`,
      name: login,
      isAdmin: false,
    });
    expect((await grafana.lookupUser(`${login}@example.org`))?.id).toBe(id);
    expect(await loginWorks(login, 'first-Passw0rd')).toBe(true);

    await grafana.setPassword(id, 'second-Passw0rd');
    expect(await loginWorks(login, 'second-Passw0rd')).toBe(true);
    expect(await loginWorks(login, 'first-Passw0rd')).toBe(false);

    expect((await grafana.orgMembers()).find((m) => m.userId === id)?.role).toBe('Viewer');
    await grafana.setOrgRole(id, login, 'Editor');
    expect((await grafana.orgMembers()).find((m) => m.userId === id)?.role).toBe('Editor');
    expect(await grafana.removeFromOrg(id)).toBe(true);
    await grafana.setOrgRole(id, login, 'Viewer'); // not a member any more: added back with the role
    expect((await grafana.orgMembers()).find((m) => m.userId === id)?.role).toBe('Viewer');

    const duplicate = await platformErrorOf(
      grafana.createUser({ login, email: 'other@example.org', password: 'x-Passw0rd' }),
    );
    expect(duplicate).toMatchObject({
      reason: 'conflict',
      status: 409,
      retryable: false,
      upstream: 'grafana',
    });
    expect(duplicate.message).toMatch(/already exists/);

    expect(await grafana.deleteUser(id)).toBe(true);
    expect(await grafana.deleteUser(id)).toBe(false);
    expect(await grafana.lookupUser(login)).toBeUndefined();
  });

  it('refuses a too short password as a validation error and never shows it', async () => {
    const error = await platformErrorOf(
      grafana.createUser({ login: unique('short'), email: 'short@example.org', password: 'ab' }),
    );
    expect(error).toMatchObject({ reason: 'validation', status: 400, retryable: false });
    expect(error.message).not.toContain('"ab"');
  });

  it('searches 250 users in pages of 100', async () => {
    const prefix = unique('paged');
    const limit = pLimit(8);
    await Promise.all(
      Array.from({ length: 250 }, (_, i) =>
        limit(() =>
          grafana.createUser({
            login: `${prefix}-${i}`,
            email: `${prefix}-${i}@example.org`,
            password: 'paged-Passw0rd',
          }),
        ),
      ),
    );
    const pages: number[] = [];
    const logins = new Set<string>();
    for await (const page of grafana.searchUsers(prefix)) {
      pages.push(page.length);
      for (const u of page) logins.add(u.login);
    }
    expect(pages).toEqual([100, 100, 50]);
    expect(logins.size).toBe(250);
  });
});

describe('grafana failures', () => {
  it('reports wrong admin credentials as a platform problem, not retried', async () => {
    const wrong = new GrafanaAdmin({
      url: env.url,
      adminUser: env.adminUser,
      adminPassword: 'wrong-password',
    });
    const error = await platformErrorOf(wrong.lookupUser('admin'));
    expect(error).toMatchObject({ reason: 'unavailable', status: 502, retryable: false });
    expect(error.message).not.toContain('wrong-password');
    await wrong.close();
  });

  it('gives a retryable "unavailable" error for a stopped server', async () => {
    const stopped = new GrafanaAdmin({
      url: `http://127.0.0.1:${await freePort()}`,
      adminUser: 'admin',
      adminPassword: 'x',
      retry: { retries: 1, minDelayMs: 10 },
    });
    expect(await platformErrorOf(stopped.lookupUser('a'))).toMatchObject({
      reason: 'unavailable',
      status: 503,
      retryable: true,
    });
    // A POST that certainly did not reach the server stays retryable too.
    expect(
      await platformErrorOf(stopped.createUser({ login: 'a', email: 'a@x', password: 'abcd' })),
    ).toMatchObject({
      retryable: true,
    });
    await stopped.close();
  });

  it('gives a timeout, not a hang, for a server that never answers; a POST is then not retried', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const hanging = new GrafanaAdmin({
      url: `http://127.0.0.1:${port}`,
      adminUser: 'admin',
      adminPassword: 'x',
      timeoutMs: 300,
      retry: { retries: 1, minDelayMs: 10 },
    });
    try {
      expect(await platformErrorOf(hanging.lookupUser('a'))).toMatchObject({
        reason: 'timeout',
        status: 504,
        retryable: true,
      });
      const before = sockets.length;
      expect(
        await platformErrorOf(hanging.createUser({ login: 'a', email: 'a@x', password: 'abcd' })),
      ).toMatchObject({
        reason: 'timeout',
        retryable: false,
      });
      expect(sockets.length - before).toBe(1); // one attempt: it may have been processed
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
      await hanging.close();
    }
  });
});
