/**
 * A realm of its own for a test file, the way a platform team sets one up for the functions: a confidential
 * client with a service account holding the realm-management roles the product needs.
 */
import { randomBytes } from 'node:crypto';
import KcAdminClient from '@keycloak/keycloak-admin-client';
import type { TestEnv } from './provided.ts';

export interface TestRealm {
  readonly realm: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Admin client logged in to master as the bootstrap admin. */
  readonly admin: KcAdminClient;
  drop(): Promise<void>;
}

/** The admin client of the master realm, logged in as the bootstrap admin. */
export async function masterAdmin(keycloak: TestEnv['keycloak']): Promise<KcAdminClient> {
  const admin = new KcAdminClient({ baseUrl: keycloak.url, realmName: 'master' });
  await admin.auth({
    grantType: 'password',
    clientId: 'admin-cli',
    username: keycloak.adminUser,
    password: keycloak.adminPassword,
  });
  return admin;
}

const SERVICE_ROLES = ['manage-users', 'view-users', 'query-users', 'query-groups', 'view-realm'];

export async function createTestRealm(
  env: TestEnv['keycloak'],
  options: { prefix?: string; accessTokenLifespanSeconds?: number } = {},
): Promise<TestRealm> {
  const admin = await masterAdmin(env);
  const realm = `${options.prefix ?? 't'}-${randomBytes(4).toString('hex')}`;
  await admin.realms.create({
    realm,
    enabled: true,
    accessTokenLifespan: options.accessTokenLifespanSeconds ?? 300,
  });
  const { clientId, clientSecret } = await addServiceClient(admin, realm);
  return {
    realm,
    clientId,
    clientSecret,
    admin,
    drop: async () => {
      await admin.auth({
        grantType: 'password',
        clientId: 'admin-cli',
        username: env.adminUser,
        password: env.adminPassword,
      });
      await admin.realms.del({ realm });
    },
  };
}

/** A confidential client with a service account holding the realm-management roles the functions need. */
export async function addServiceClient(
  admin: KcAdminClient,
  realm: string,
  clientId = 'tenant-functions',
): Promise<{ clientId: string; clientSecret: string }> {
  const { id } = await admin.clients.create({
    realm,
    clientId,
    publicClient: false,
    serviceAccountsEnabled: true,
    standardFlowEnabled: false,
    directAccessGrantsEnabled: false,
  });
  const secret = await admin.clients.getClientSecret({ realm, id });
  const serviceAccount = await admin.clients.getServiceAccountUser({ realm, id });
  const [management] = await admin.clients.find({ realm, clientId: 'realm-management' });
  if (management?.id === undefined || serviceAccount.id === undefined || secret.value === undefined) {
    throw new Error(`realm ${realm}: client setup incomplete`);
  }
  const roles = await Promise.all(
    SERVICE_ROLES.map((roleName) => admin.clients.findRole({ realm, id: management.id ?? '', roleName })),
  );
  await admin.users.addClientRoleMappings({
    realm,
    id: serviceAccount.id,
    clientUniqueId: management.id,
    roles: roles.flatMap((r) =>
      r?.id !== undefined && r.name !== undefined ? [{ id: r.id, name: r.name }] : [],
    ),
  });
  return { clientId, clientSecret: secret.value };
}
