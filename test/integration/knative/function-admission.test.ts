/**
 * The functions' least privilege on the real apiserver: knative/base's RBAC and the ValidatingAdmissionPolicy
 * of function-admission.yaml applied, then requests made AS each function (a TokenRequest token of its
 * ServiceAccount, authenticated by the apiserver like the pod's own): every write outside a tenant namespace
 * is refused, and the same write in a tenant namespace, or the function's exemption, goes through. A
 * SubjectAccessReview answers for RBAC alone (never for admission), so reset's reading is proven by SARs
 * and by real reads, the writes by real requests.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KubernetesObject } from '../../../shared/adapters/kubernetes/objects.ts';
import '../../env/provided.ts';
import { apiserver, type ApiAnswer } from '../../support/apiserver.ts';
import { installEverestCrds } from '../../support/crds.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
const FUNCTIONS_NAMESPACE = 'tenant-functions';
const POLICY = 'tenant-lifecycle.function-writes';
const suffix = randomBytes(3).toString('hex');
/** A tenant namespace as provision makes it (the labels the policy looks for). */
const TENANT = `fa-tenant-${suffix}`;
/** A namespace that is nobody's tenant (as kube-system, without touching kube-system's own objects). */
const FOREIGN = `fa-foreign-${suffix}`;
/** An Everest database namespace, as bootstrap makes it. */
const EVEREST_DB = `fa-everest-${suffix}`;
const tenantLabels = {
  'app.kubernetes.io/managed-by': 'tenant-lifecycle',
  'tenant-lifecycle.dev/tenant': TENANT,
};

const manifests = (file: string): KubernetesObject[] =>
  parseAllDocuments(readFileSync(new URL(`../../../knative/base/${file}`, import.meta.url), 'utf8'))
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null);

const plural: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
  ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings',
};

function collection(object: KubernetesObject): string {
  const [group, version] = object.apiVersion.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion];
  const base = group === '' ? `/api/${version ?? ''}` : `/apis/${group ?? ''}/${version ?? ''}`;
  const ns = object.metadata.namespace === undefined ? '' : `/namespaces/${object.metadata.namespace}`;
  const resource = plural[object.kind];
  if (resource === undefined) throw new Error(`no plural known for ${object.kind}`);
  return `${base}${ns}/${resource}`;
}

/** Creates `object`, or replaces the one there (so that a changed manifest is what the test checks). */
async function apply(object: KubernetesObject): Promise<void> {
  const created = await api.send('POST', collection(object), admin, object);
  if (created.status === 409) {
    const path = `${collection(object)}/${object.metadata.name}`;
    const current = (await api.send('GET', path, admin)).json as { metadata: { resourceVersion: string } };
    const metadata = { ...object.metadata, resourceVersion: current.metadata.resourceVersion };
    const replaced = await api.send('PUT', path, admin, { ...object, metadata });
    expect(replaced.status, `${object.kind} ${object.metadata.name}`).toBe(200);
  } else
    expect(created.status, `${object.kind} ${object.metadata.name}: ${JSON.stringify(created.json)}`).toBe(
      201,
    );
}

async function namespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  const status = await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, admin);
  expect([201, 409]).toContain(status);
}

const tokens = new Map<string, string>();
/** A token of the function's ServiceAccount, as its pod would hold one (TokenRequest). */
async function tokenOf(fn: string): Promise<string> {
  const known = tokens.get(fn);
  if (known !== undefined) return known;
  const answer = await api.send(
    'POST',
    `/api/v1/namespaces/${FUNCTIONS_NAMESPACE}/serviceaccounts/${fn}/token`,
    admin,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  );
  expect(answer.status, JSON.stringify(answer.json)).toBe(201);
  const token = (answer.json as { status: { token: string } }).status.token;
  tokens.set(fn, token);
  return token;
}

const as = async (fn: string, method: string, path: string, body?: unknown): Promise<ApiAnswer> =>
  api.send(method, path, await tokenOf(fn), body);

const secret = (ns: string, name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: ns, labels },
  stringData: { key: 'value' },
});
const deployment = (ns: string, name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'c', image: 'registry.example/app:1' }] },
    },
  },
});

/** Refused by the function-writes policy (not merely by RBAC): 403 naming the policy. */
function expectRefusedByPolicy(answer: ApiAnswer, what: string): void {
  expect(answer.status, `${what}: ${JSON.stringify(answer.json)}`).toBe(403);
  expect(JSON.stringify(answer.json), what).toContain(POLICY);
}

beforeAll(async () => {
  await installEverestCrds(env);
  await namespace(FUNCTIONS_NAMESPACE);
  await namespace('postgres');
  await namespace('everest-system');
  await namespace(TENANT, tenantLabels);
  await namespace(FOREIGN);
  await namespace(EVEREST_DB, { 'app.kubernetes.io/managed-by': 'everest' });
  for (const object of [
    ...manifests('tenant-clusterrole.yaml'),
    ...manifests('rbac.yaml'),
    ...manifests('bootstrap.yaml'),
    ...manifests('pg-reconcile.yaml').filter((o) => !o.apiVersion.includes('knative.dev')),
    ...manifests('function-admission.yaml'),
  ])
    await apply(object);
  // The apiserver loads a policy asynchronously: wait until a write it refuses is refused (dry run: nothing
  // is written either way).
  for (let i = 0; ; i++) {
    const probe = await as(
      'provision',
      'POST',
      `/api/v1/namespaces/${FOREIGN}/secrets?dryRun=All`,
      secret(FOREIGN, 'probe'),
    );
    if (probe.status === 403) break;
    expect(probe.status).toBe(201);
    if (i > 300) throw new Error('the function-writes policy did not take effect within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}, 120_000);

afterAll(async () => {
  // The policy binds only the functions' ServiceAccounts; removing it leaves the shared apiserver as found.
  await api.send(
    'DELETE',
    `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${POLICY}`,
    admin,
  );
  await api.send(
    'DELETE',
    `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${POLICY}`,
    admin,
  );
  for (const name of [TENANT, FOREIGN, EVEREST_DB])
    await api.send('DELETE', `/api/v1/namespaces/${name}`, admin);
});

describe('knative/base/function-admission.yaml with the functions’ RBAC', () => {
  it('refuses provision, sync and reset a Secret and a Deployment in kube-system, and lets them create both in a tenant namespace', async () => {
    for (const fn of ['provision', 'sync', 'reset']) {
      const name = `${fn}-${suffix}`;
      expectRefusedByPolicy(
        await as(fn, 'POST', '/api/v1/namespaces/kube-system/secrets', secret('kube-system', name)),
        `${fn} Secret in kube-system`,
      );
      expectRefusedByPolicy(
        await as(
          fn,
          'POST',
          '/apis/apps/v1/namespaces/kube-system/deployments',
          deployment('kube-system', name),
        ),
        `${fn} Deployment in kube-system`,
      );
      expect((await api.send('GET', `/api/v1/namespaces/kube-system/secrets/${name}`, admin)).status).toBe(
        404,
      );
      // The same writes in a tenant namespace: what provision, sync and reset (starters) are for.
      expect(
        (await as(fn, 'POST', `/api/v1/namespaces/${TENANT}/secrets`, secret(TENANT, name))).status,
      ).toBe(201);
      expect(
        (await as(fn, 'POST', `/apis/apps/v1/namespaces/${TENANT}/deployments`, deployment(TENANT, name)))
          .status,
      ).toBe(201);
    }
  });

  it('refuses a Namespace without the tenant labels and creates one with them', async () => {
    for (const fn of ['provision', 'sync']) {
      const bare = `fa-bare-${fn}-${suffix}`;
      expectRefusedByPolicy(
        await as(fn, 'POST', '/api/v1/namespaces', {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: bare },
        }),
        `${fn} unlabelled Namespace`,
      );
      expect((await api.send('GET', `/api/v1/namespaces/${bare}`, admin)).status).toBe(404);
      expectRefusedByPolicy(
        await as(fn, 'POST', '/api/v1/namespaces', {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: {
            name: `kube-${fn}-${suffix}`,
            labels: { ...tenantLabels, 'tenant-lifecycle.dev/tenant': `kube-${fn}-${suffix}` },
          },
        }),
        `${fn} tenant-labelled kube-* Namespace`,
      );
      const tenant = `fa-new-${fn}-${suffix}`;
      const created = await as(fn, 'POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: tenant, labels: { ...tenantLabels, 'tenant-lifecycle.dev/tenant': tenant } },
      });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      // provision's rollback (and sync's prune) deletes it again: allowed, it is a tenant namespace.
      expect((await as(fn, 'DELETE', `/api/v1/namespaces/${tenant}`)).status).toBe(200);
    }
  });

  it('lets sync adopt (label) a namespace no manager labels, nothing else, and no other function', async () => {
    const adoptable = `fa-adoptable-${suffix}`;
    const managed = `fa-managed-${suffix}`;
    const platform = `kube-fa-${suffix}`;
    await namespace(adoptable);
    await namespace(managed, { 'app.kubernetes.io/managed-by': 'someone-else' });
    await namespace(platform);
    const adopt = (name: string) => ({
      metadata: { labels: { ...tenantLabels, 'tenant-lifecycle.dev/tenant': name } },
    });
    // provision may not change a namespace at all (RBAC).
    expect((await as('provision', 'PATCH', `/api/v1/namespaces/${adoptable}`, adopt(adoptable))).status).toBe(
      403,
    );
    expectRefusedByPolicy(
      await as('sync', 'PATCH', `/api/v1/namespaces/${managed}`, adopt(managed)),
      'sync adopts a namespace another manager labels',
    );
    expectRefusedByPolicy(
      await as('sync', 'PATCH', `/api/v1/namespaces/${platform}`, adopt(platform)),
      'sync adopts a platform namespace',
    );
    expect((await as('sync', 'PATCH', `/api/v1/namespaces/${adoptable}`, adopt(adoptable))).status).toBe(200);
    // Once a tenant's, sync may change it but not strip it of the tenant labels.
    expectRefusedByPolicy(
      await as('sync', 'PATCH', `/api/v1/namespaces/${adoptable}`, {
        metadata: { labels: { 'app.kubernetes.io/managed-by': null } },
      }),
      'sync unlabels a tenant namespace',
    );
    for (const name of [adoptable, managed, platform])
      await api.send('DELETE', `/api/v1/namespaces/${name}`, admin);
  });

  it('lets sync list baseline objects everywhere and replace or delete them in a tenant namespace only', async () => {
    const policy = (ns: string) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: `fa-isolation-${suffix}`,
        namespace: ns,
        labels: { 'tenant-lifecycle.dev/baseline': 'true' },
      },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] },
    });
    const binding = (ns: string) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `fa-binding-${suffix}`, namespace: ns },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'tenant-lifecycle:tenant-edit',
      },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: `fa-user-${suffix}` }],
    });
    const npPath = (ns: string) =>
      `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/fa-isolation-${suffix}`;
    const rbPath = (ns: string) =>
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/fa-binding-${suffix}`;
    for (const ns of [TENANT, FOREIGN]) {
      expect(await api.create(policy(ns), admin)).toBe(201);
      expect(await api.create(binding(ns), admin)).toBe(201);
    }
    const listed = await as(
      'sync',
      'GET',
      '/apis/networking.k8s.io/v1/networkpolicies?labelSelector=tenant-lifecycle.dev%2Fbaseline%3Dtrue&limit=500',
    );
    expect(listed.status).toBe(200);
    const repaired = (ns: string, resourceVersion: string) => ({
      ...policy(ns),
      metadata: { ...policy(ns).metadata, resourceVersion },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] },
    });
    const versionOf = async (path: string) =>
      ((await api.send('GET', path, admin)).json as { metadata: { resourceVersion: string } }).metadata
        .resourceVersion;
    expectRefusedByPolicy(
      await as('sync', 'PUT', npPath(FOREIGN), repaired(FOREIGN, await versionOf(npPath(FOREIGN)))),
      'sync replacing a NetworkPolicy outside a tenant namespace',
    );
    expectRefusedByPolicy(await as('sync', 'DELETE', rbPath(FOREIGN)), 'sync deleting a RoleBinding outside');
    expect((await api.send('GET', npPath(FOREIGN), admin)).json).toMatchObject({ spec: { ingress: [{}] } });
    expect((await api.send('GET', rbPath(FOREIGN), admin)).status).toBe(200);
    // The same requests in the tenant namespace go through.
    const replaced = await as(
      'sync',
      'PUT',
      npPath(TENANT),
      repaired(TENANT, await versionOf(npPath(TENANT))),
    );
    expect(replaced.status, JSON.stringify(replaced.json)).toBe(200);
    expect((await as('sync', 'DELETE', rbPath(TENANT))).status).toBe(200);
    for (const path of [npPath(FOREIGN), rbPath(FOREIGN), npPath(TENANT)])
      await api.send('DELETE', path, admin);
  });

  it('lets deprovision and cleanup delete a tenant namespace and no other', async () => {
    for (const fn of ['deprovision', 'cleanup']) {
      expectRefusedByPolicy(
        await as(fn, 'DELETE', `/api/v1/namespaces/${FOREIGN}`),
        `${fn} deletes ${FOREIGN}`,
      );
      const tenant = `fa-gone-${fn}-${suffix}`;
      await namespace(tenant, { ...tenantLabels, 'tenant-lifecycle.dev/tenant': tenant });
      expect((await as(fn, 'DELETE', `/api/v1/namespaces/${tenant}`)).status).toBe(200);
    }
    const foreign = (await api.send('GET', `/api/v1/namespaces/${FOREIGN}`, admin)).json as {
      metadata: { deletionTimestamp?: string };
    };
    expect(foreign.metadata.deletionTimestamp).toBeUndefined();
  });

  it('keeps reset away from Secrets outside tenant namespaces: no reading (RBAC), no deleting (policy); a tenant’s it deletes', async () => {
    const label = `fa-reset=${suffix}`;
    const [key, value] = label.split('=') as [string, string];
    expect(await api.create(secret(FOREIGN, 'planted', { [key]: value }) as KubernetesObject, admin)).toBe(
      201,
    );
    expect(await api.create(secret(TENANT, 'tenant-made', { [key]: value }) as KubernetesObject, admin)).toBe(
      201,
    );

    // Reading: forbidden everywhere by RBAC, cluster-wide, in kube-system and in a tenant namespace alike.
    for (const path of [
      '/api/v1/secrets',
      '/api/v1/namespaces/kube-system/secrets',
      `/api/v1/namespaces/${FOREIGN}/secrets/planted`,
    ])
      expect((await as('reset', 'GET', path)).status, path).toBe(403);
    // What reset does list across namespaces (where objects are) still works.
    expect((await as('reset', 'GET', '/apis/apps/v1/deployments?limit=1')).status).toBe(200);

    // Deleting: the collection DELETE is admitted object by object, and refused outside tenant namespaces.
    const selector = `labelSelector=${encodeURIComponent(label)}`;
    expectRefusedByPolicy(
      await as('reset', 'DELETE', `/api/v1/namespaces/${FOREIGN}/secrets?${selector}`),
      'reset empties a foreign namespace',
    );
    expect((await api.send('GET', `/api/v1/namespaces/${FOREIGN}/secrets/planted`, admin)).status).toBe(200);
    // reset's dry run is the same DELETE with dryRun=All: it counts a tenant's Secrets without listing them.
    const counted = await as(
      'reset',
      'DELETE',
      `/api/v1/namespaces/${TENANT}/secrets?${selector}&dryRun=All`,
    );
    expect(counted.status, JSON.stringify(counted.json)).toBe(200);
    expect((counted.json as { items: unknown[] }).items).toHaveLength(1);
    expect((await api.send('GET', `/api/v1/namespaces/${TENANT}/secrets/tenant-made`, admin)).status).toBe(
      200,
    );
    const emptied = await as('reset', 'DELETE', `/api/v1/namespaces/${TENANT}/secrets?${selector}`);
    expect(emptied.status, JSON.stringify(emptied.json)).toBe(200);
    expect((await api.send('GET', `/api/v1/namespaces/${TENANT}/secrets/tenant-made`, admin)).status).toBe(
      404,
    );
  });

  it('refuses reset deleting cluster-scoped objects, which its wildcard deletecollection would otherwise reach', async () => {
    const name = `fa-planted-${suffix}`;
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name, labels: { 'fa-reset': suffix } },
      rules: [],
    };
    expect(await api.create(role as KubernetesObject, admin)).toBe(201);
    expectRefusedByPolicy(
      await as(
        'reset',
        'DELETE',
        `/apis/rbac.authorization.k8s.io/v1/clusterroles?labelSelector=fa-reset%3D${suffix}`,
      ),
      'reset deletes ClusterRoles',
    );
    expect(
      (await api.send('GET', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`, admin)).status,
    ).toBe(200);
    await api.send('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`, admin);
  });

  it('lets bootstrap write Everest’s two objects in everest-system and its database namespaces, nothing else there', async () => {
    const accounts = secret('everest-system', 'everest-accounts');
    const created = await as('bootstrap', 'POST', '/api/v1/namespaces/everest-system/secrets', accounts);
    expect([201, 409]).toContain(created.status);
    const rbac = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'everest-rbac', namespace: 'everest-system' },
      data: {},
    };
    expect([201, 409]).toContain(
      (await as('bootstrap', 'POST', '/api/v1/namespaces/everest-system/configmaps', rbac)).status,
    );
    // RBAC lets bootstrap create any Secret in everest-system (create cannot be limited by name); the policy does not.
    expectRefusedByPolicy(
      await as(
        'bootstrap',
        'POST',
        '/api/v1/namespaces/everest-system/secrets',
        secret('everest-system', `other-${suffix}`),
      ),
      'bootstrap creates another Secret in everest-system',
    );

    // Everest database namespaces: a new one labelled managed-by=everest, never a platform one.
    const db = `fa-db-${suffix}`;
    const everest = (name: string) => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'everest' } },
    });
    expect((await as('bootstrap', 'POST', '/api/v1/namespaces', everest(db))).status).toBe(201);
    expectRefusedByPolicy(
      await as('bootstrap', 'POST', '/api/v1/namespaces', everest(`kube-${suffix}`)),
      'bootstrap creates kube-*',
    );
    expectRefusedByPolicy(
      await as('bootstrap', 'POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: `fa-plain-${suffix}` },
      }),
      'bootstrap creates an unlabelled namespace',
    );
    // Taking over: an unlabelled namespace may be labelled, a tenant's may not.
    const label = { metadata: { labels: { 'app.kubernetes.io/managed-by': 'everest' } } };
    const adopted = `fa-adopt-${suffix}`;
    await namespace(adopted);
    expect((await as('bootstrap', 'PATCH', `/api/v1/namespaces/${adopted}`, label)).status).toBe(200);
    expectRefusedByPolicy(
      await as('bootstrap', 'PATCH', `/api/v1/namespaces/${TENANT}`, label),
      'bootstrap takes over a tenant namespace',
    );
    expectRefusedByPolicy(
      await as('bootstrap', 'DELETE', `/api/v1/namespaces/${FOREIGN}`),
      'bootstrap deletes a foreign namespace',
    );
    // OLM's Subscription: in an Everest database namespace, not elsewhere.
    const subscription = (ns: string) => ({
      apiVersion: 'operators.coreos.com/v1alpha1',
      kind: 'Subscription',
      metadata: { name: 'percona-postgresql-operator', namespace: ns },
      spec: {
        name: 'percona-postgresql-operator',
        channel: 'stable-v2',
        source: 'everest-catalog',
        sourceNamespace: 'everest-olm',
      },
    });
    const olm = (ns: string) => `/apis/operators.coreos.com/v1alpha1/namespaces/${ns}/subscriptions`;
    expect((await as('bootstrap', 'POST', olm(db), subscription(db))).status).toBe(201);
    expectRefusedByPolicy(
      await as('bootstrap', 'POST', olm(FOREIGN), subscription(FOREIGN)),
      'bootstrap subscribes in a foreign namespace',
    );
    // Releasing a namespace (everestctl namespaces remove --keep-namespace) drops the label: allowed for Everest's.
    const release = { metadata: { labels: { 'app.kubernetes.io/managed-by': null } } };
    expect((await as('bootstrap', 'PATCH', `/api/v1/namespaces/${adopted}`, release)).status).toBe(200);
    expect((await as('bootstrap', 'PATCH', `/api/v1/namespaces/${adopted}`, label)).status).toBe(200);
    for (const name of [db, adopted])
      expect((await as('bootstrap', 'DELETE', `/api/v1/namespaces/${name}`)).status).toBe(200);
  });

  it('lets enforce write its cluster quota in Everest database namespaces only', async () => {
    const quota = (ns: string, name = 'everest-database-clusters') => ({
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name, namespace: ns },
      spec: { hard: { 'count/databaseclusters.everest.percona.com': '2' } },
    });
    expect(
      (await as('enforce', 'POST', `/api/v1/namespaces/${EVEREST_DB}/resourcequotas`, quota(EVEREST_DB)))
        .status,
    ).toBe(201);
    expectRefusedByPolicy(
      await as('enforce', 'POST', '/api/v1/namespaces/kube-system/resourcequotas', quota('kube-system')),
      'enforce puts a quota on kube-system',
    );
    expectRefusedByPolicy(
      await as(
        'enforce',
        'POST',
        `/api/v1/namespaces/${EVEREST_DB}/resourcequotas`,
        quota(EVEREST_DB, 'pods-zero'),
      ),
      'enforce writes another quota',
    );
    expect(
      (
        await as(
          'enforce',
          'DELETE',
          `/api/v1/namespaces/${EVEREST_DB}/resourcequotas/everest-database-clusters`,
        )
      ).status,
    ).toBe(200);
  });

  it('takes both labels for a tenant namespace: the tenant label alone, or another manager, is not one', async () => {
    const half = `fa-half-${suffix}`;
    const other = `fa-other-${suffix}`;
    await namespace(half, { 'tenant-lifecycle.dev/tenant': half });
    await namespace(other, {
      'app.kubernetes.io/managed-by': 'someone-else',
      'tenant-lifecycle.dev/tenant': other,
    });
    for (const ns of [half, other])
      expectRefusedByPolicy(
        await as('provision', 'POST', `/api/v1/namespaces/${ns}/secrets`, secret(ns, 'x')),
        `provision in ${ns}`,
      );
    expect(
      (await as('provision', 'POST', `/api/v1/namespaces/${TENANT}/secrets`, secret(TENANT, 'both'))).status,
    ).toBe(201);
    for (const ns of [half, other]) await api.send('DELETE', `/api/v1/namespaces/${ns}`, admin);
  });

  it('applies to the functions only: an administrator’s same write goes through', async () => {
    const name = `admin-${suffix}`;
    expect(await api.create(secret(FOREIGN, name) as KubernetesObject, admin)).toBe(201);
    expectRefusedByPolicy(
      await as('provision', 'POST', `/api/v1/namespaces/${FOREIGN}/secrets`, secret(FOREIGN, `${name}-fn`)),
      'provision in a foreign namespace',
    );
  });
});
