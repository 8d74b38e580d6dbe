/** The deprovision function over HTTP on the real test servers, after a real provision. */
import type KcAdminClient from '@keycloak/keycloak-admin-client';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GrafanaAdmin } from '../../../shared/adapters/grafana/client.ts';
import type { RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { FUNCTION_TOKEN, masterAdmin, startTenantFunctions } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
let db: TestDatabase;
let provision: RunningFunction;
let deprovision: RunningFunction;
let stop: () => Promise<void>;
let kcAdmin: KcAdminClient;
let core: CoreV1Api;
const grafana = new GrafanaAdmin({
  url: env.grafana.url,
  adminUser: env.grafana.adminUser,
  adminPassword: env.grafana.adminPassword,
});

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'deprovision');
  kcAdmin = await masterAdmin(env);
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  ({ provision, deprovision, stop } = await startTenantFunctions(env, db.url));
});
afterAll(async () => {
  await stop();
  await grafana.close();
  await db.drop();
});

const call = (fn: RunningFunction, method: string, body: unknown) =>
  fetch(`${fn.url}/provisioner`, {
    method,
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

async function namespaceGone(name: string): Promise<boolean> {
  for (let i = 0; i < 450; i++) {
    try {
      await core.readNamespace({ name });
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

describe('deprovision', () => {
  it('removes everything provision made, and a second call finds everything absent', async () => {
    const body = { full_name: 'Jill Gone', email: 'jill.gone@example.org' };
    const created = await call(provision, 'POST', body);
    expect(created.status).toBe(200);
    const { user_id: userId } = (await created.json()) as { user_id: string };

    const deleted = await call(deprovision, 'DELETE', body);
    expect(deleted.status).toBe(200);
    const answer = (await deleted.json()) as { message: string; systems: { kubernetes: string } };
    expect(answer).toMatchObject({
      username: 'jill-gone',
      user_id: userId,
      systems: { keycloak: 'deleted', keycloakGroup: 'deleted', grafana: 'deleted' },
    });
    // The namespace controller, busy with the suite's other namespaces, may take longer than deprovision
    // waits: the answer then says so instead of claiming the namespace deleted (awaited below either way).
    expect(
      answer.systems.kubernetes === 'terminating'
        ? answer.message.startsWith('User has been deleted; namespace jill-gone is still being deleted')
        : answer.systems.kubernetes === 'deleted' && answer.message === 'User has been deleted successfully',
    ).toBe(true);
    expect(await kcAdmin.users.find({ realm: env.oidc.realm, username: 'jill-gone', exact: true })).toEqual(
      [],
    );
    expect(await grafana.lookupUser('jill-gone')).toBeUndefined();
    expect(await namespaceGone('jill-gone')).toBe(true);

    const again = await call(deprovision, 'DELETE', body);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({
      user_id: null,
      namespace: { status: 'absent', finished: true },
      systems: { kubernetes: 'absent', keycloak: 'absent', keycloakGroup: 'absent', grafana: 'absent' },
    });
  });

  it('finds the tenant by the full-name-derived name when the email names nobody', async () => {
    expect((await call(provision, 'POST', { full_name: 'Kim Fallback' })).status).toBe(200);
    const deleted = await call(deprovision, 'DELETE', {
      full_name: 'Kim Fallback',
      email: 'someone.else@example.org',
    });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({
      username: 'kim-fallback',
      systems: { keycloak: 'deleted', grafana: 'deleted' },
    });
  });

  it.each([
    [{}, /Email address and full name are missing/],
    [{ full_name: 'kube-system' }, /reserved/],
    [{ full_name: 'default' }, /reserved/],
  ])('refuses %j as provision would', async (body, detail) => {
    const response = await call(deprovision, 'DELETE', body);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(detail);
  });
});
