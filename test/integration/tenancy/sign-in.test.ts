/**
 * Sign-in for every request shape provision accepts (an email only, a full name only, both), on the realm
 * the apiserver trusts, set up as the README tells operators (Keycloak's default user profile, which requires
 * a first name, a last name and an email of every user). Each tenant's password from the provision answer
 * gets an OIDC token by a direct grant and a Grafana login; a wrong password gets neither.
 */
import { randomBytes } from 'node:crypto';
import type KcAdminClient from '@keycloak/keycloak-admin-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import {
  FUNCTION_TOKEN,
  masterAdmin,
  startTenantFunctions,
  type RunningTenantFunctions,
} from '../../support/tenant-functions.ts';

const env = inject('testEnv');
/** Names of this run: the realm is shared by every test file and outlives a run. */
const run = randomBytes(3).toString('hex');
const WRONG_PASSWORD = {
  status: 400,
  body: { error: 'invalid_grant', error_description: 'Invalid user credentials' },
};
let db: TestDatabase;
let functions: RunningTenantFunctions;
let kcAdmin: KcAdminClient;

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'sign_in');
  kcAdmin = await masterAdmin(env);
  functions = await startTenantFunctions(env, db.url);
});
afterAll(async () => {
  await functions.stop();
  await db.drop();
});

const call = (method: 'POST' | 'DELETE', url: string, body: unknown) =>
  fetch(`${url}/provisioner`, {
    method,
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** A resource-owner password grant on the realm's public client, as kubectl users' scripts do. */
async function directGrant(
  username: string,
  password: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${env.keycloak.url}/realms/${env.oidc.realm}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: env.oidc.clientId,
      username,
      password,
      scope: 'openid',
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const claims = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;

async function grafanaLogin(login: string, password: string): Promise<{ status: number; login?: string }> {
  const response = await fetch(`${env.grafana.url}/api/user`, {
    headers: { authorization: `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}` },
  });
  const text = await response.text();
  return response.ok
    ? { status: response.status, login: (JSON.parse(text) as { login: string }).login }
    : { status: response.status };
}

describe('the realm as operators set it up', () => {
  it('requires a first name, a last name and an email of users, and refuses a password grant without them', async () => {
    const profile = await kcAdmin.users.getProfile({ realm: env.oidc.realm });
    for (const name of ['email', 'firstName', 'lastName']) {
      const attribute = profile.attributes?.find((a) => a.name === name);
      expect(attribute?.required?.roles, name).toContain('user');
    }
    // Control: a user with only a first name, what provision made of a one-word full name before, is
    // refused; one with all three is served. So the shapes below sign in because provision fills the profile.
    const password = 'signin-Control-Passw0rd';
    const incompleteUser = `signin-incomplete-${run}`;
    const completeUser = `signin-complete-${run}`;
    for (const [username, fields] of [
      [incompleteUser, { firstName: 'Incomplete' }],
      [completeUser, { firstName: 'Complete', lastName: 'User', email: `${completeUser}@example.org` }],
    ] as const) {
      await kcAdmin.users.create({
        realm: env.oidc.realm,
        username,
        enabled: true,
        ...fields,
        credentials: [{ type: 'password', value: password, temporary: false }],
      });
    }
    const incomplete = await directGrant(incompleteUser, password);
    expect(incomplete.status).toBe(400);
    expect(incomplete.body).toMatchObject({
      error: 'invalid_grant',
      error_description: 'Account is not fully set up',
    });
    expect((await directGrant(completeUser, password)).status).toBe(200);
  });
});

describe.each([
  {
    shape: 'an email only',
    request: { email: `sam.solo${run}@example.org` },
    tenant: `sam-solo${run}`,
    profile: { firstName: 'sam', lastName: `solo${run}`, email: `sam.solo${run}@example.org` },
  },
  {
    shape: 'a full name only',
    request: { full_name: `Nora Nomail${run}` },
    tenant: `nora-nomail${run}`,
    profile: { firstName: 'Nora', lastName: `Nomail${run}`, email: `nora-nomail${run}@tenants.invalid` },
  },
  {
    shape: 'a one-word full name only',
    request: { full_name: `Mononym${run}` },
    tenant: `mononym${run}`,
    profile: {
      firstName: `Mononym${run}`,
      lastName: `Mononym${run}`,
      email: `mononym${run}@tenants.invalid`,
    },
  },
  {
    shape: 'a full name and an email',
    request: { full_name: 'Bea Both', email: `bea.both${run}@example.org` },
    tenant: `bea-both${run}`,
    profile: { firstName: 'Bea', lastName: 'Both', email: `bea.both${run}@example.org` },
  },
])('a tenant provisioned from $shape', ({ request, tenant, profile }) => {
  it('gets an OIDC token and a Grafana login with its password, and neither with a wrong one', async () => {
    const response = await call('POST', functions.provision.url, request);
    const answer = (await response.json()) as { username: string; password: string; user_id: string };
    expect(response.status).toBe(200);
    expect(answer.username).toBe(tenant);

    const user = await kcAdmin.users.findOne({ realm: env.oidc.realm, id: answer.user_id });
    expect(user).toMatchObject({ username: tenant, ...profile, requiredActions: [] });

    const granted = await directGrant(tenant, answer.password);
    expect(granted.status).toBe(200);
    expect(claims(granted.body.id_token as string)).toMatchObject({
      preferred_username: tenant,
      groups: expect.arrayContaining([`tenant-${tenant}`]) as unknown,
    });
    // RFC 6749: a refused grant is 400 invalid_grant.
    expect(await directGrant(tenant, `${answer.password}x`)).toEqual(WRONG_PASSWORD);

    expect(await grafanaLogin(tenant, answer.password)).toEqual({ status: 200, login: tenant });
    expect((await grafanaLogin(tenant, `${answer.password}x`)).status).toBe(401);

    // Every part is still provably the tenant's: deprovision removes it all, and the password is dead.
    const removed = await call('DELETE', functions.deprovision.url, request);
    expect(removed.status).toBe(200);
    await removed.arrayBuffer();
    expect(await directGrant(tenant, answer.password)).toEqual(WRONG_PASSWORD);
  });
});

describe('a name Keycloak cannot hold', () => {
  it('is refused (400) before anything is created, while a 3-character name is provisioned', async () => {
    // Two characters: from an email's local part; `run` keeps the 3-character control unique.
    const short = await call('POST', functions.provision.url, { email: 'jo@example.org' });
    expect(short.status).toBe(400);
    expect(((await short.json()) as { detail: string }).detail).toMatch(
      /"jo" is shorter than the 3 characters/,
    );
    expect(await kcAdmin.users.find({ realm: env.oidc.realm, username: 'jo', exact: true })).toEqual([]);

    const three = `z${run.slice(0, 2)}`;
    const accepted = await call('POST', functions.provision.url, { email: `${three}@example.org` });
    const answer = (await accepted.json()) as { username: string; password: string };
    expect(accepted.status).toBe(200);
    expect(answer.username).toBe(three);
    expect((await directGrant(three, answer.password)).status).toBe(200);
    const removed = await call('DELETE', functions.deprovision.url, { email: `${three}@example.org` });
    expect(removed.status).toBe(200);
    await removed.arrayBuffer();
  });
});
