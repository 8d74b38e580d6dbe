import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../functions/provision/config.ts';
import { loadConfig as loadResetConfig } from '../../../functions/reset/config.ts';
import { loadConfig as loadSyncConfig } from '../../../functions/sync/config.ts';
import { ConfigError } from '../../../shared/platform/config.ts';
import { defaultQuota, type TenantPlan } from '../../../shared/tenancy/baseline.ts';
import { isImageReference } from '../../../shared/tenancy/plans.ts';

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
  CLUSTER_SERVER: 'https://kubernetes.example',
  OIDC_ISSUER_URL: 'https://keycloak.example/realms/tenants',
  IDEMPOTENCY_KEY_SECRET: 'an-idempotency-key-secret-of-32-characters',
};

const containerDefaults = {
  request: { cpu: '10m', memory: '32Mi' },
  limit: { cpu: '50m', memory: '64Mi' },
};

function configError(extra: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...env, ...extra });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('plans from PLANS', () => {
  it('completes a configured quota with the default keys it does not set, its own keys winning', () => {
    const plans = loadConfig({
      ...env,
      PLANS: JSON.stringify({ small: { quota: { pods: '5', 'count/secrets': '3' }, containerDefaults } }),
    }).provision.plans;
    const small = plans.get('small');
    expect(small?.quota).toEqual({ ...defaultQuota, pods: '5', 'count/secrets': '3' });
    for (const key of [
      'services.loadbalancers',
      'services.nodeports',
      'persistentvolumeclaims',
      'requests.storage',
      'count/configmaps',
      'count/services',
    ])
      expect(small?.quota[key]).toBe(defaultQuota[key]);
    expect(small).toMatchObject({
      podSecurity: 'restricted',
      allowNodePorts: false,
      allowLoadBalancers: false,
    });
    expect(plans.get('default')).toMatchObject({ quota: defaultQuota, podSecurity: 'restricted' });
    expect(plans.get('webide')).toMatchObject({ quota: defaultQuota, podSecurity: 'restricted' });
  });

  it('lets a plan choose baseline and allow node ports and load balancers', () => {
    const plans = loadConfig({
      ...env,
      PLANS: JSON.stringify({
        lab: {
          quota: { 'services.nodeports': '2' },
          containerDefaults,
          podSecurity: 'baseline',
          allowNodePorts: true,
          allowLoadBalancers: true,
        },
      }),
    }).provision.plans;
    expect(plans.get('lab')).toMatchObject({
      podSecurity: 'baseline',
      allowNodePorts: true,
      allowLoadBalancers: true,
      quota: { 'services.nodeports': '2', 'services.loadbalancers': '0' },
    });
  });

  it('refuses to start with a privileged plan, naming PLANS', () => {
    const error = configError({
      PLANS: JSON.stringify({ root: { quota: {}, containerDefaults, podSecurity: 'privileged' } }),
    });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]?.variable).toBe('PLANS');
    expect(error.problems[0]?.message).toContain('restricted or baseline');
  });
});

describe('the webide image from WEBIDE_IMAGE', () => {
  const webideImage = (plan: TenantPlan | undefined): unknown =>
    (
      plan?.manifests?.find((m) => m.kind === 'Deployment') as
        { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined
    )?.spec.template.spec.containers[0]?.image;

  it('is code-server’s unless set, and the mirror in every function that renders starters', () => {
    expect(webideImage(loadConfig(env).provision.plans.get('webide'))).toBe('codercom/code-server:4.96.4');
    const mirror = 'mirror.example.org:5000/dev/code-server:4.96.4';
    expect(webideImage(loadConfig({ ...env, WEBIDE_IMAGE: mirror }).provision.plans.get('webide'))).toBe(
      mirror,
    );
    expect(webideImage(loadSyncConfig({ ...env, WEBIDE_IMAGE: mirror }).sync.plans.get('webide'))).toBe(
      mirror,
    );
    expect(
      webideImage(
        loadResetConfig({
          DATABASE_URL: 'postgres://db/x',
          API_TOKEN: env.API_TOKEN,
          WEBIDE_IMAGE: mirror,
        }).plans.get('webide'),
      ),
    ).toBe(mirror);
  });

  it('refuses a value that is no image reference, naming WEBIDE_IMAGE', () => {
    for (const bad of ['', 'Code-Server:4', 'code-server:4 --privileged', 'a/b:c\nkind: Pod', 'x:'])
      expect(configError({ WEBIDE_IMAGE: bad }).problems.map((p) => p.variable)).toEqual(['WEBIDE_IMAGE']);
  });

  it('accepts the reference forms runtimes pull', () => {
    for (const good of [
      'code-server',
      'codercom/code-server:4.96.4',
      'localhost:5000/code-server',
      'registry.tenant-lifecycle.test/test/webide-standin:1',
      '[fd00::1]:5000/mirror/code-server:v4',
      `ghcr.io/org/ide@sha256:${'a'.repeat(64)}`,
      `ghcr.io/org/ide:4.96.4@sha256:${'0'.repeat(64)}`,
    ])
      expect(isImageReference(good), good).toBe(true);
    for (const bad of ['upper/Case', 'a//b', 'a/b:', `a@sha256:${'g'.repeat(64)}`, `${'a'.repeat(256)}:1`])
      expect(isImageReference(bad), bad).toBe(false);
  });
});

describe('tenant egress settings', () => {
  it('denies the functions’ namespace on top of the built-in list, and the private ranges', () => {
    const { egress } = loadConfig({ ...env, FUNCTIONS_NAMESPACE: 'fns' }).provision;
    expect(egress.deniedNamespaces).toEqual(
      expect.arrayContaining(['fns', 'kube-system', 'knative-serving']),
    );
    expect(egress.deniedCidrs).toContain('169.254.0.0/16');
  });

  it('takes configured namespaces and ranges, and refuses a malformed range naming the variable', () => {
    const { egress } = loadConfig({
      ...env,
      TENANT_EGRESS_DENIED_NAMESPACES: 'kube-system, platform',
      TENANT_EGRESS_DENY_CIDRS: '10.244.0.0/16,10.96.0.0/12, fd00::/8',
    }).provision;
    expect(egress).toEqual({
      deniedNamespaces: ['kube-system', 'platform', 'tenant-functions'],
      deniedCidrs: ['10.244.0.0/16', '10.96.0.0/12', 'fd00::/8'],
    });
    const error = configError({ TENANT_EGRESS_DENY_CIDRS: '10.0.0.0/8,10.0.0.0/33' });
    expect(error.problems.map((p) => p.variable)).toEqual(['TENANT_EGRESS_DENY_CIDRS']);
  });
});
