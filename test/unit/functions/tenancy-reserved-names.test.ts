/**
 * Every tenancy function that takes a name refuses a reserved one with 400 before it touches any system:
 * the built-in names, and one configured through RESERVED_NAMES (each function's real configuration
 * loader). The ports throw on any use, so a refusal proves nothing was read or written; the positive
 * control, an ordinary name, gets past the check and reaches the ports.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig as loadDeprovisionConfig } from '../../../functions/deprovision/config.ts';
import { deprovisionSpec } from '../../../functions/deprovision/index.ts';
import { loadConfig as loadProvisionConfig } from '../../../functions/provision/config.ts';
import { provisionSpec } from '../../../functions/provision/index.ts';
import { loadConfig as loadResetConfig } from '../../../functions/reset/config.ts';
import { resetSpec } from '../../../functions/reset/index.ts';
import { loadConfig as loadSyncConfig } from '../../../functions/sync/config.ts';
import { syncSpec } from '../../../functions/sync/index.ts';
import type { FunctionSpec } from '../../../shared/platform/operation.ts';
import { runFirstOperation, testInvocation } from '../../support/operations.ts';

const env = {
  API_TOKEN: 'unit-test-token-0123456789',
  DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused',
  KEYCLOAK_URL: 'http://127.0.0.1:1',
  KEYCLOAK_REALM: 'tenants',
  KEYCLOAK_CLIENT_ID: 'functions',
  KEYCLOAK_CLIENT_SECRET: 'unused-secret',
  GRAFANA_URL: 'http://127.0.0.1:1',
  GRAFANA_ADMIN_USER: 'admin',
  GRAFANA_ADMIN_PASSWORD: 'unused-password',
  CLUSTER_SERVER: 'https://127.0.0.1:1',
  OIDC_ISSUER_URL: 'http://127.0.0.1:1/realms/tenants',
  RESERVED_NAMES: 'acme-platform, billing',
  IDEMPOTENCY_KEY_SECRET: 'an-idempotency-key-secret-of-32-characters',
};

/** Any use of a port: every property is a function that fails, at any depth. */
class Touched extends Error {}
function untouchable(): never {
  const handler: ProxyHandler<() => void> = {
    get: (_target, property) => (property === 'then' ? undefined : new Proxy(() => undefined, handler)),
    apply: () => {
      throw new Touched('a system was touched');
    },
  };
  return new Proxy(() => undefined, handler) as never;
}

const ctx = testInvocation('reserved-names-test');

/** The operation's answer, or what it threw. */
async function call(spec: FunctionSpec, body: unknown): Promise<unknown> {
  try {
    return await runFirstOperation(spec, body, ctx);
  } catch (error) {
    return error;
  }
}

const provision = loadProvisionConfig(env);
const deprovision = loadDeprovisionConfig(env);
const reset = loadResetConfig(env);
const sync = loadSyncConfig(env);

const functions: [string, FunctionSpec, (name: string) => unknown][] = [
  [
    'provision',
    provisionSpec({ settings: provision.provision, ports: untouchable(), store: untouchable() }),
    (name) => ({ full_name: name }),
  ],
  [
    'deprovision',
    deprovisionSpec({ settings: deprovision, ports: untouchable(), store: untouchable() }),
    (name) => ({ full_name: name }),
  ],
  [
    'reset',
    resetSpec({
      ports: untouchable(),
      plans: reset.plans,
      reserved: reset.reserved,
      concurrency: 1,
      store: untouchable(),
    }),
    (name) => ({ username: name }),
  ],
  [
    'sync',
    syncSpec({
      settings: { ...sync.sync, markerGroup: sync.markerGroup },
      reserved: sync.reserved,
      ports: untouchable(),
      store: untouchable(),
    }),
    (name) => ({ username: name }),
  ],
];

const builtin = [
  'kube-system',
  'knative-serving',
  'default',
  'everest-system',
  'everest',
  'tenant-functions',
  'postgres',
  'monitoring',
  'ingress-nginx',
  'cert-manager',
  'istio-system',
];

describe.each(functions)('%s', (_name, spec, body) => {
  it.each([...builtin, 'acme-platform', 'billing'])(
    'refuses "%s" with 400 before touching anything',
    async (name) => {
      const error = await call(spec, body(name));
      expect(error).toMatchObject({ reason: 'validation', status: 400 });
      expect((error as Error).message).toMatch(/reserved name/);
    },
  );

  it('lets an ordinary name through to the systems (positive control)', async () => {
    expect(await call(spec, body('acme-web'))).toBeInstanceOf(Touched);
  });
});
