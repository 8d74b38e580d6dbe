/**
 * The tenant sandbox on the real kube-apiserver, with admission: a tenant's objects rendered as provision
 * renders them and created as provision creates them, the shipped ValidatingAdmissionPolicies applied from
 * knative/base/tenant-admission.yaml as they are, and the tenant acting with its own OIDC token (a Keycloak
 * user of the OIDC realm, as access.test.ts does). Every refusal sits beside the legitimate action that
 * still succeeds.
 *
 * What the apiserver proves here: Pod Security Admission, RBAC, the admission policies, the quota keys, the
 * NetworkPolicy objects. Whether the egress policy really stops packets needs pods on a node with a CNI:
 * the real node of issue 15 runs that test against running pods; here the policies are checked as objects.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { TenantPlan } from '../../../shared/tenancy/baseline.ts';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';
import { renderTenantClusterRole, TENANT_CLUSTER_ROLE } from '../../../shared/tenancy/cluster-role.ts';
import { webIdePlan } from '../../../shared/tenancy/plans.ts';
import { renderTenantObjects } from '../../../shared/tenancy/tenant-objects.ts';
import '../../env/provided.ts';
import { apiserver, type ApiAnswer } from '../../support/apiserver.ts';
import { masterAdmin } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
const suffix = randomBytes(3).toString('hex');
const tenant = `sbx-${suffix}`;
const exposed = `sbx-ports-${suffix}`;
const outsider = `sbx-plain-${suffix}`;
const lenient = `sbx-base-${suffix}`;
const password = `Sbx-${randomBytes(9).toString('hex')}`;
const starterPassword = `Starter-${randomBytes(9).toString('hex')}`;
const access = {
  tenantClusterRole: TENANT_CLUSTER_ROLE,
  oidc: { usernamePrefix: 'oidc:', groupsPrefix: 'oidc:' },
};
let token = '';

const manifestFile = new URL('../../../knative/base/tenant-admission.yaml', import.meta.url);
const admissionObjects = parseAllDocuments(readFileSync(manifestFile, 'utf8'))
  .map((d) => d.toJS() as KubernetesObject | null)
  .filter((o): o is KubernetesObject => o !== null);

const message = (answer: ApiAnswer): string =>
  (answer.json as { message?: string } | undefined)?.message ?? '';
const post = (path: string, who: string, body: unknown) => api.send('POST', path, who, body);

/** Creates the object or, when it exists, replaces it with this content. */
async function apply(object: KubernetesObject, collection: string): Promise<void> {
  const created = await post(collection, admin, object);
  if (created.status === 201) return;
  expect(created.status).toBe(409);
  const current = await api.send('GET', `${collection}/${object.metadata.name}`, admin);
  const resourceVersion = (current.json as { metadata: { resourceVersion: string } }).metadata
    .resourceVersion;
  const replaced = await api.send('PUT', `${collection}/${object.metadata.name}`, admin, {
    ...object,
    metadata: { ...object.metadata, resourceVersion },
  });
  expect(replaced.status).toBe(200);
}

async function createAll(objects: readonly KubernetesObject[]): Promise<void> {
  for (const object of objects) {
    const answer = await post(pathOf(object), admin, object);
    expect({ kind: object.kind, name: object.metadata.name, status: answer.status }).toEqual({
      kind: object.kind,
      name: object.metadata.name,
      status: 201,
    });
  }
}

function pathOf(object: KubernetesObject): string {
  const ns = object.metadata.namespace ?? '';
  const paths: Record<string, string> = {
    Namespace: '/api/v1/namespaces',
    ResourceQuota: `/api/v1/namespaces/${ns}/resourcequotas`,
    LimitRange: `/api/v1/namespaces/${ns}/limitranges`,
    NetworkPolicy: `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`,
    RoleBinding: `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
    Secret: `/api/v1/namespaces/${ns}/secrets`,
    PersistentVolumeClaim: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
    Deployment: `/apis/apps/v1/namespaces/${ns}/deployments`,
    Service: `/api/v1/namespaces/${ns}/services`,
  };
  const path = paths[object.kind];
  if (path === undefined) throw new Error(`no path for ${object.kind}`);
  return path;
}

const tenantObjects = (username: string, plan: TenantPlan) =>
  renderTenantObjects(
    {
      username,
      contactEmail: `${username}@example.org`,
      plan,
      createdAt: new Date(),
      starterPassword,
    },
    access,
  );

const service = (namespace: string, name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: { ports: [{ port: 80, targetPort: 8080 }], selector: { app: name }, ...spec },
});
const services = (namespace: string) => `/api/v1/namespaces/${namespace}/services`;

/** A pod that "restricted" admits: numeric non-root user, no escalation, no capabilities, RuntimeDefault. */
const restrictedPod = (namespace: string, name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace },
  spec: {
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [
      {
        name: 'app',
        image: 'busybox',
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      },
    ],
  },
});

beforeAll(async () => {
  expect([201, 409]).toContain(await api.create(renderTenantClusterRole(), admin));
  for (const object of admissionObjects) {
    const plural =
      object.kind === 'ValidatingAdmissionPolicy'
        ? 'validatingadmissionpolicies'
        : 'validatingadmissionpolicybindings';
    await apply(object, `/apis/admissionregistration.k8s.io/v1/${plural}`);
  }
  // The tenant on the webide plan, as provision renders and creates it; a second tenant whose plan allows
  // node ports; a namespace that is no tenant's.
  await createAll(tenantObjects(tenant, webIdePlan));
  await createAll(
    tenantObjects(exposed, {
      ...webIdePlan,
      name: 'ports',
      manifests: [],
      allowNodePorts: true,
      quota: { ...webIdePlan.quota, 'services.nodeports': '2' },
    }),
  );
  await createAll(
    tenantObjects(lenient, { ...webIdePlan, name: 'lenient', manifests: [], podSecurity: 'baseline' }),
  );
  expect(await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: outsider } }, admin)).toBe(
    201,
  );

  const kc = await masterAdmin(env);
  await kc.users.create({
    realm: env.oidc.realm,
    username: tenant,
    email: `${tenant}@example.org`,
    emailVerified: true,
    firstName: 'Sandbox',
    lastName: 'Tenant',
    enabled: true,
    credentials: [{ type: 'password', value: password, temporary: false }],
  });
  const answer = await fetch(`${env.keycloak.url}/realms/${env.oidc.realm}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: env.oidc.clientId,
      username: tenant,
      password,
      scope: 'openid',
    }),
  });
  token = ((await answer.json()) as { id_token: string }).id_token;

  // Readiness, not timing: the apiserver has the issuer's keys, and the policies have been compiled
  // (an admin's externalIPs Service in a tenant namespace is refused).
  const externalIp = service(tenant, 'probe', { externalIPs: ['192.0.2.10'] });
  for (let i = 0; i < 100; i++) {
    const tokenWorks = (await api.status('GET', `/api/v1/namespaces/${tenant}/configmaps`, token)) === 200;
    const policyActive = (await post(`${services(tenant)}?dryRun=All`, admin, externalIp)).status === 403;
    if (tokenWorks && policyActive) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}, 120_000);

describe('Pod Security Admission in a tenant namespace', () => {
  it('refuses a privileged pod with hostPID and the node’s / mounted, admits a restricted one', async () => {
    const pods = `/api/v1/namespaces/${tenant}/pods`;
    const rootOnTheNode = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'root', namespace: tenant },
      spec: {
        hostPID: true,
        containers: [
          {
            name: 'shell',
            image: 'busybox',
            securityContext: { privileged: true },
            volumeMounts: [{ name: 'host', mountPath: '/host' }],
          },
        ],
        volumes: [{ name: 'host', hostPath: { path: '/' } }],
      },
    };
    const refused = await post(pods, token, rootOnTheNode);
    expect(refused.status).toBe(403);
    expect(message(refused)).toContain('violates PodSecurity "restricted:latest"');
    expect(message(refused)).toMatch(/host namespaces.*hostPID=true/);
    expect(message(refused)).toContain('restricted volume type "hostPath"');

    expect((await post(pods, token, restrictedPod(tenant, 'fine'))).status).toBe(201);
  });

  it('on a baseline plan admits a plain root pod, and still refuses hostPID and the node’s /', async () => {
    const pods = `/api/v1/namespaces/${lenient}/pods`;
    const plain = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'plain', namespace: lenient },
      spec: { containers: [{ name: 'app', image: 'busybox' }] },
    };
    expect((await post(pods, admin, plain)).status).toBe(201);
    const rootOnTheNode = {
      ...plain,
      metadata: { name: 'root', namespace: lenient },
      spec: {
        hostPID: true,
        containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'host', mountPath: '/host' }] }],
        volumes: [{ name: 'host', hostPath: { path: '/' } }],
      },
    };
    const refused = await post(pods, admin, rootOnTheNode);
    expect(refused.status).toBe(403);
    expect(message(refused)).toContain('violates PodSecurity "baseline:latest"');
  });

  it('labels the namespace restricted for enforce, warn and audit', async () => {
    const ns = await api.send('GET', `/api/v1/namespaces/${tenant}`, admin);
    expect((ns.json as KubernetesObject).metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
    });
  });
});

describe('Endpoints and EndpointSlices in a tenant namespace', () => {
  const endpoints = (namespace: string) => ({
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'hijack', namespace },
    subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 443 }] }],
  });
  const slice = (namespace: string) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'hijack', namespace, labels: { 'kubernetes.io/service-name': 'hijack' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'] }],
    ports: [{ port: 443 }],
  });
  const endpointsPath = (ns: string) => `/api/v1/namespaces/${ns}/endpoints`;
  const slicesPath = (ns: string) => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;

  it('are forbidden to the tenant, while a ConfigMap beside them is created', async () => {
    expect((await post(endpointsPath(tenant), token, endpoints(tenant))).status).toBe(403);
    expect((await post(slicesPath(tenant), token, slice(tenant))).status).toBe(403);
    expect(
      (
        await post(`/api/v1/namespaces/${tenant}/configmaps`, token, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'settings', namespace: tenant },
        })
      ).status,
    ).toBe(201);
    // The tenant still reads them.
    expect(await api.status('GET', endpointsPath(tenant), token)).toBe(200);
    expect(await api.status('GET', slicesPath(tenant), token)).toBe(200);
  });

  it('are refused by the admission policy to anyone but the endpoint controllers, outside tenants allowed', async () => {
    // The admin passes RBAC: the refusal is the policy's.
    const byAdmin = await post(endpointsPath(tenant), admin, endpoints(tenant));
    expect(byAdmin.status).toBe(403);
    expect(message(byAdmin)).toContain('kept by the endpoint controllers only');
    const sliceByAdmin = await post(slicesPath(tenant), admin, slice(tenant));
    expect(sliceByAdmin.status).toBe(403);
    expect(message(sliceByAdmin)).toContain('kept by the endpoint controllers only');
    expect((await post(endpointsPath(outsider), admin, endpoints(outsider))).status).toBe(201);
    expect((await post(slicesPath(outsider), admin, slice(outsider))).status).toBe(201);
  });
});

describe('Services in a tenant namespace', () => {
  it('refuses externalIPs, NodePort and LoadBalancer to the tenant, accepts ClusterIP', async () => {
    const withExternalIp = await post(
      services(tenant),
      token,
      service(tenant, 'intercept', { externalIPs: ['8.8.8.8'] }),
    );
    expect(withExternalIp.status).toBe(403);
    expect(message(withExternalIp)).toContain('may not set spec.externalIPs');

    const nodePort = await post(services(tenant), token, service(tenant, 'np', { type: 'NodePort' }));
    expect(nodePort.status).toBe(403);
    expect(message(nodePort)).toContain('NodePort Services are not allowed');

    const balancer = await post(services(tenant), token, service(tenant, 'lb', { type: 'LoadBalancer' }));
    expect(balancer.status).toBe(403);
    expect(message(balancer)).toContain('LoadBalancer Services are not allowed');

    expect((await post(services(tenant), token, service(tenant, 'web', {}))).status).toBe(201);
  });

  it('refuses turning an accepted ClusterIP Service into a NodePort or adding externalIPs', async () => {
    const path = `${services(tenant)}/web`;
    expect((await api.send('PATCH', path, token, { spec: { type: 'NodePort' } })).status).toBe(403);
    expect((await api.send('PATCH', path, token, { spec: { externalIPs: ['8.8.4.4'] } })).status).toBe(403);
    expect((await api.send('PATCH', path, token, { metadata: { labels: { tier: 'web' } } })).status).toBe(
      200,
    );
  });

  it('admits a NodePort where the plan allows node ports, never externalIPs', async () => {
    expect((await post(services(exposed), admin, service(exposed, 'np', { type: 'NodePort' }))).status).toBe(
      201,
    );
    const withExternalIp = await post(
      services(exposed),
      admin,
      service(exposed, 'intercept', { externalIPs: ['8.8.8.8'] }),
    );
    expect(withExternalIp.status).toBe(403);
    // Outside tenant namespaces the policy does not apply.
    expect(
      (await post(services(outsider), admin, service(outsider, 'intercept', { externalIPs: ['192.0.2.1'] })))
        .status,
    ).toBe(201);
  });
});

describe('quota and network policies of a tenant', () => {
  it('caps load balancers, node ports, volumes, storage and object counts', async () => {
    const quota = await api.send('GET', `/api/v1/namespaces/${tenant}/resourcequotas/tenant-quota`, token);
    expect(quota.status).toBe(200);
    expect((quota.json as { spec: { hard: Record<string, string> } }).spec.hard).toMatchObject({
      pods: '20',
      'services.loadbalancers': '0',
      'services.nodeports': '0',
      persistentvolumeclaims: '5',
      'requests.storage': '10Gi',
      'count/services': '10',
      'count/secrets': '20',
      'count/configmaps': '20',
      'count/deployments.apps': '10',
    });
  });

  it('stores the egress policy: DNS, the namespace, all but the platform namespaces, all but private ranges', async () => {
    const answer = await api.send(
      'GET',
      `/apis/networking.k8s.io/v1/namespaces/${tenant}/networkpolicies/tenant-egress`,
      token,
    );
    expect(answer.status).toBe(200);
    const spec = (answer.json as { spec: { policyTypes: string[]; egress: unknown[] } }).spec;
    expect(spec.policyTypes).toEqual(['Egress']);
    expect(spec.egress[0]).toEqual({
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
          podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
        },
      ],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
        { protocol: 'UDP', port: 'dns' },
        { protocol: 'TCP', port: 'dns-tcp' },
      ],
    });
    expect(spec.egress[1]).toEqual({ to: [{ podSelector: {} }] });
    const denied = (
      spec.egress[2] as {
        to: [{ namespaceSelector: { matchExpressions: [{ operator: string; values: string[] }] } }];
      }
    ).to[0].namespaceSelector.matchExpressions[0];
    expect(denied.operator).toBe('NotIn');
    expect(denied.values).toEqual(
      expect.arrayContaining(['tenant-functions', 'kube-system', 'knative-serving', 'everest-system']),
    );
    expect(spec.egress[3]).toEqual({
      to: [
        {
          ipBlock: {
            cidr: '0.0.0.0/0',
            except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'],
          },
        },
        { ipBlock: { cidr: '::/0', except: ['fc00::/7', 'fe80::/10'] } },
      ],
    });
    // The tenant cannot change or remove it.
    expect(
      await api.status(
        'DELETE',
        `/apis/networking.k8s.io/v1/namespaces/${tenant}/networkpolicies/tenant-egress`,
        token,
      ),
    ).toBe(403);
  });
});

describe('the webide starter', () => {
  const starters = () =>
    tenantObjects(tenant, webIdePlan).filter(
      (o) => o.metadata.labels?.['tenant-lifecycle.dev/starter'] === 'true',
    );

  it('was created in the restricted namespace, its pod admitted by "restricted", a root pod refused', async () => {
    for (const object of starters()) {
      expect({
        kind: object.kind,
        status: await api.status('GET', `${pathOf(object)}/${object.metadata.name}`, admin),
      }).toEqual({ kind: object.kind, status: 200 });
    }
    const deployment = starters().find((o) => o.kind === 'Deployment') as KubernetesObject & {
      spec: { template: { spec: Record<string, unknown> } };
    };
    const template = deployment.spec.template.spec;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'webide', namespace: tenant },
      spec: template,
    };
    const pods = `/api/v1/namespaces/${tenant}/pods?dryRun=All&fieldValidation=Strict`;
    expect((await post(pods, token, pod)).status).toBe(201);
    // The same pod without its security context is refused: the dry run does enforce "restricted".
    const withoutSecurityContext = (object: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(object).filter(([key]) => key !== 'securityContext'));
    const bare = withoutSecurityContext(template);
    const containers = (template.containers as Record<string, unknown>[]).map(withoutSecurityContext);
    const refused = await post(pods, token, { ...pod, spec: { ...bare, containers } });
    expect(refused.status).toBe(403);
    expect(message(refused)).toContain('violates PodSecurity "restricted:latest"');
  });

  it('logs in with the password of the Secret, which provision generated', async () => {
    const secret = await api.send('GET', `/api/v1/namespaces/${tenant}/secrets/webide-auth`, token);
    expect(secret.status).toBe(200);
    const data = (secret.json as { data: { PASSWORD: string } }).data;
    expect(Buffer.from(data.PASSWORD, 'base64').toString()).toBe(starterPassword);
    const deployment = await api.send('GET', `/apis/apps/v1/namespaces/${tenant}/deployments/webide`, token);
    const container = (
      deployment.json as { spec: { template: { spec: { containers: { args: string[] }[] } } } }
    ).spec.template.spec.containers[0];
    expect(container?.args.slice(0, 2)).toEqual(['--auth', 'password']);
  });
});
