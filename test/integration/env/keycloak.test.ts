import KcAdminClient from '@keycloak/keycloak-admin-client';
import { describe, expect, inject, it } from 'vitest';
import { KEYCLOAK_VERSION } from '../../env/keycloak.ts';
import '../../env/provided.ts';

const { url, adminUser, adminPassword } = inject('testEnv').keycloak;

describe('keycloak', () => {
  it('serves the downloaded version and accepts the bootstrap admin', async () => {
    const kc = new KcAdminClient({ baseUrl: url, realmName: 'master' });
    await kc.auth({
      grantType: 'password',
      clientId: 'admin-cli',
      username: adminUser,
      password: adminPassword,
    });
    const info = await kc.serverInfo.find();
    expect(info.systemInfo?.version).toBe(KEYCLOAK_VERSION);
    const realms = await kc.realms.find();
    expect(realms.map((r) => r.realm)).toContain('master');
  });

  it('refuses a wrong admin password', async () => {
    const kc = new KcAdminClient({ baseUrl: url, realmName: 'master' });
    await expect(
      kc.auth({ grantType: 'password', clientId: 'admin-cli', username: adminUser, password: 'wrong' }),
    ).rejects.toThrow();
  });
});
