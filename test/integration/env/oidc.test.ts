/**
 * The apiserver trusts the test Keycloak as its OIDC issuer: a token Keycloak issues to a user of the
 * "tenants" realm authenticates to the apiserver as oidc:<username>, with the user's groups as oidc:<group>.
 */
import { describe, expect, inject, it } from 'vitest';
import '../../env/provided.ts';
import { apiserver, type ApiAnswer } from '../../support/apiserver.ts';
import { masterAdmin } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);

describe('OIDC: the apiserver trusts the test Keycloak', () => {
  it('authenticates a Keycloak user as oidc:<username> with its groups, and RBAC still applies', async () => {
    const admin = await masterAdmin(env);
    const realm = env.oidc.realm;
    const { id } = await admin.users.create({
      realm,
      username: 'oidc-alice',
      email: 'oidc-alice@example.org',
      emailVerified: true,
      firstName: 'Alice',
      lastName: 'Oidc',
      enabled: true,
      credentials: [{ type: 'password', value: 'alice-Passw0rd', temporary: false }],
    });
    const group = await admin.groups.create({ realm, name: 'tenant-alice' });
    await admin.users.addToGroup({ realm, id, groupId: group.id });

    const tokenResponse = await fetch(`${env.keycloak.url}/realms/${realm}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: env.oidc.clientId,
        username: 'oidc-alice',
        password: 'alice-Passw0rd',
        scope: 'openid',
      }),
    });
    expect(tokenResponse.status).toBe(200);
    const { id_token: idToken } = (await tokenResponse.json()) as { id_token: string };
    const claims = JSON.parse(Buffer.from(idToken.split('.')[1] ?? '', 'base64url').toString()) as {
      iss: string;
      aud: string | string[];
    };
    expect(claims.iss).toBe(env.oidc.issuerUrl);

    // The apiserver loads the issuer's keys in the background: allow it a few seconds after start.
    let review: ApiAnswer = { status: 0, json: undefined };
    for (let i = 0; i < 50; i++) {
      review = await api.send('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', idToken, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'SelfSubjectReview',
      });
      if (review.status === 201) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(review.status).toBe(201);
    const userInfo = (review.json as { status: { userInfo: { username: string; groups: string[] } } }).status
      .userInfo;
    expect(userInfo.username).toBe('oidc:oidc-alice');
    expect(userInfo.groups).toContain('oidc:tenant-alice');
    expect(userInfo.groups).toContain('system:authenticated');

    // Authenticated is not authorised: no binding, no access.
    expect((await api.send('GET', '/api/v1/namespaces', idToken)).status).toBe(403);
    // A token signed by anyone else is not accepted.
    const forged = `${idToken.slice(0, idToken.lastIndexOf('.'))}.${Buffer.from('not-a-signature').toString('base64url')}`;
    expect((await api.send('GET', '/api/v1/namespaces', forged)).status).toBe(401);
  });
});
