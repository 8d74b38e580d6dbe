import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../functions/sync/config.ts';
import { ConfigError } from '../../../shared/platform/config.ts';

const env = {
  API_TOKEN: 'a-token-of-sixteen-chars',
  DATABASE_URL: 'postgres://db/x',
  KEYCLOAK_URL: 'https://keycloak.example',
  KEYCLOAK_REALM: 'tenants',
  KEYCLOAK_CLIENT_ID: 'functions',
  KEYCLOAK_CLIENT_SECRET: 'secret',
  GRAFANA_URL: 'https://grafana.example',
  GRAFANA_ADMIN_USER: 'admin',
  GRAFANA_ADMIN_PASSWORD: 'admin-password',
};

describe('tenant settings', () => {
  it('takes a configured plan as the default', () => {
    const config = loadConfig({
      ...env,
      PLANS: JSON.stringify({
        small: {
          quota: { pods: '5' },
          containerDefaults: {
            request: { cpu: '10m', memory: '32Mi' },
            limit: { cpu: '50m', memory: '64Mi' },
          },
        },
      }),
      DEFAULT_PLAN: 'small',
    });
    expect(config.sync.defaultPlan).toBe('small');
  });

  it('refuses to start with a default plan that does not exist, naming DEFAULT_PLAN', () => {
    let error: unknown;
    try {
      loadConfig({ ...env, DEFAULT_PLAN: 'gold' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      { variable: 'DEFAULT_PLAN', message: 'no plan "gold"; known: default, webide (add it to PLANS)' },
    ]);
  });
});
