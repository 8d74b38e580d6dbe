/**
 * The realm the test apiserver trusts as its OIDC issuer, set up as a platform team would for kubectl with
 * kubelogin: a public client "kubernetes" whose tokens carry the audience "kubernetes", the user's
 * preferred_username and a "groups" claim with group names. Direct grants are enabled so tests (and
 * `make dev` scripts) can get a token for a user with its password.
 */
import { masterAdmin } from './keycloak-realms.ts';
import type { OidcTrust } from './kubernetes.ts';

export const OIDC_REALM = 'tenants';
export const OIDC_CLIENT_ID = 'kubernetes';

export function oidcTrust(issuerBase: string): OidcTrust {
  return {
    issuerUrl: `${issuerBase}/realms/${OIDC_REALM}`,
    clientId: OIDC_CLIENT_ID,
    usernameClaim: 'preferred_username',
    usernamePrefix: 'oidc:',
    groupsClaim: 'groups',
    groupsPrefix: 'oidc:',
  };
}

export async function createOidcRealm(keycloak: {
  url: string;
  adminUser: string;
  adminPassword: string;
}): Promise<void> {
  const admin = await masterAdmin(keycloak);
  await admin.realms.create({ realm: OIDC_REALM, enabled: true });
  await admin.clients.create({
    realm: OIDC_REALM,
    clientId: OIDC_CLIENT_ID,
    publicClient: true,
    standardFlowEnabled: true,
    directAccessGrantsEnabled: true,
    redirectUris: ['http://localhost:8000', 'http://localhost:18000'],
    protocolMappers: [
      {
        name: 'groups',
        protocol: 'openid-connect',
        protocolMapper: 'oidc-group-membership-mapper',
        config: {
          'claim.name': 'groups',
          'full.path': 'false',
          'id.token.claim': 'true',
          'access.token.claim': 'true',
          'userinfo.token.claim': 'true',
        },
      },
      {
        name: 'audience',
        protocol: 'openid-connect',
        protocolMapper: 'oidc-audience-mapper',
        config: {
          'included.client.audience': OIDC_CLIENT_ID,
          'id.token.claim': 'true',
          'access.token.claim': 'true',
        },
      },
    ],
  });
}
