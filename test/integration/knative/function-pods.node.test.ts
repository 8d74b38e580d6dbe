/**
 * Every function image (knative/image/build-images.ts) runs on the test node as its Knative Service
 * (knative/base/services.yaml) would run it: the Service's pod settings and container (securityContext,
 * env, envFrom, probe, resources, volumes) read from the manifest, in a namespace that enforces the
 * `restricted` Pod Security profile, as its own ServiceAccount with the RBAC the product ships for it
 * (rbac.yaml, pg-reconcile.yaml, bootstrap.yaml; only names and namespaces adapted so that nothing collides
 * on the shared cluster), with the in-cluster Kubernetes configuration (no KUBECONFIG: the kubelet's
 * KUBERNETES_SERVICE_HOST and the mounted ServiceAccount token), its settings in the ConfigMap and its
 * credentials in its own Secret (the keys knative/README.md lists), the test servers at the node's host
 * address. Each becomes Ready by its readiness probe; provision serves a real provision and deprovision
 * its deprovision through their pod IPs, called with their API tokens as platform callers call them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildFunctionImages } from '../../../knative/image/build-images.ts';
import { functionNames } from '../../../knative/image/bundle.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import { functionSecretKeys } from '../../env/product.ts';
import '../../env/provided.ts';
import { ensureTenantClusterRole, tenantFunctionEnv } from '../../support/tenant-functions.ts';
import { eventually as poll } from '../../support/eventually.ts';

const env = inject('testEnv');
const node = env.node;
if (node === undefined)
  throw new Error('this test needs the test node: run it with test/vitest.node.config.ts (`make test-node`)');
const kc = new KubeConfig();
kc.loadFromFile(env.kubernetes.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const objects = KubernetesObjectApi.makeApiClient(kc);

const suffix = randomBytes(4).toString('hex');
/** The functions' namespace of this test (tenant-functions in the product). */
const namespace = `fnpods-${suffix}`;
/** The product's namespaces whose names the manifests use. */
const PRODUCT_NAMESPACES = ['tenant-functions', 'postgres', 'everest-system'];
const functions = functionNames();

type Manifest = KubernetesObject & Record<string, unknown>;

const manifests = (file: string): Manifest[] =>
  parseAllDocuments(readFileSync(new URL(`../../../knative/base/${file}`, import.meta.url), 'utf8'))
    .map((d) => d.toJS() as Manifest | null)
    .filter((o): o is Manifest => o !== null);

/** The parts of a Knative Service's revision template this test reads (plain data from the manifest). */
interface TemplateContainer {
  readonly ports?: readonly { readonly containerPort?: number }[];
  readonly readinessProbe?: { readonly httpGet?: Record<string, unknown> } & Record<string, unknown>;
  readonly envFrom?: readonly {
    readonly configMapRef?: { readonly name?: string };
    readonly secretRef?: { readonly name?: string };
  }[];
  readonly securityContext?: Record<string, unknown>;
  readonly [field: string]: unknown;
}
interface KnativeService {
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly template: {
      readonly spec: {
        readonly serviceAccountName?: string;
        readonly timeoutSeconds?: number;
        readonly containers: readonly TemplateContainer[];
        readonly [field: string]: unknown;
      };
    };
  };
}
const services = new Map(
  manifests('services.yaml')
    .filter((o) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1')
    .map((o) => [o.metadata?.name ?? '', o as unknown as KnativeService]),
);

/** Rewrites a loopback URL of a test server to the node's host address, where pods reach it. */
const forPods = (url: string): string => url.replace('127.0.0.1', node.hostAddress);

/** The ServiceAccount, roles and bindings the product ships for `fn`, adapted to this test's names. */
function rbacOf(fn: string): Manifest[] {
  const isOurAccount = (s: { kind?: string; name?: string; namespace?: string }): boolean =>
    s.kind === 'ServiceAccount' && s.name === fn && s.namespace === 'tenant-functions';
  const all = ['rbac.yaml', 'pg-reconcile.yaml', 'bootstrap.yaml'].flatMap(manifests);
  const bindings = all.filter(
    (o) =>
      (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') &&
      (o.subjects as { kind?: string; name?: string; namespace?: string }[]).some(isOurAccount),
  );
  const roleNames = new Set(
    bindings.map((b) => `${(b.roleRef as { kind: string }).kind}/${(b.roleRef as { name: string }).name}`),
  );
  const roles = all.filter(
    (o) =>
      (o.kind === 'ClusterRole' || o.kind === 'Role') && roleNames.has(`${o.kind}/${o.metadata?.name ?? ''}`),
  );
  const account = all.filter(
    (o) =>
      o.kind === 'ServiceAccount' && o.metadata?.name === fn && o.metadata.namespace === 'tenant-functions',
  );
  if (account.length !== 1) throw new Error(`the product ships no ServiceAccount ${fn}`);
  // Cluster-wide names get this test's prefix; namespaced objects move to this test's namespace.
  const clusterName = (name: string): string => `${namespace}:${name}`;
  return [...account, ...roles, ...bindings].map((o) => {
    const copy = structuredClone(o);
    copy.metadata ??= {};
    copy.metadata.labels = { ...copy.metadata.labels, 'tenant-lifecycle.test/owner': namespace };
    if (copy.metadata.namespace !== undefined) {
      if (!PRODUCT_NAMESPACES.includes(copy.metadata.namespace))
        throw new Error(`${o.kind} ${o.metadata?.name ?? ''} is in namespace ${copy.metadata.namespace}`);
      copy.metadata.namespace = namespace;
    } else copy.metadata.name = clusterName(copy.metadata.name ?? '');
    if (copy.kind === 'ClusterRoleBinding' || copy.kind === 'RoleBinding') {
      const roleRef = copy.roleRef as { kind: string; name: string };
      if (roleRef.kind === 'ClusterRole') roleRef.name = clusterName(roleRef.name);
      copy.subjects = (copy.subjects as { kind?: string; name?: string; namespace?: string }[])
        .filter(isOurAccount)
        .map((s) => ({ ...s, namespace }));
    }
    return copy;
  });
}

/** The pod Knative would make of the Service's revision template (Knative's own fields left out). */
function podOf(fn: string, image: string): V1Pod {
  const service = services.get(fn);
  if (service === undefined) throw new Error(`services.yaml has no Knative Service ${fn}`);
  const spec: Record<string, unknown> = structuredClone(service.spec.template.spec);
  const timeoutSeconds = service.spec.template.spec.timeoutSeconds;
  delete spec.timeoutSeconds;
  delete spec.containerConcurrency;
  const [container, ...others] = service.spec.template.spec.containers;
  if (container === undefined || others.length > 0) throw new Error(`${fn}: one container expected`);
  const function_: Record<string, unknown> = structuredClone(container);
  function_.image = image;
  const port = container.ports?.[0]?.containerPort ?? 8080;
  const probe = container.readinessProbe;
  // Knative points the probe at the container's port, and its queue-proxy repeats a probe without
  // periodSeconds every few milliseconds until ready: here 1 s, the least the kubelet takes.
  if (probe?.httpGet !== undefined)
    function_.readinessProbe = { ...probe, periodSeconds: 1, httpGet: { ...probe.httpGet, port } };
  spec.containers = [function_];
  // Knative's defaults: no Service links, terminationGracePeriodSeconds = timeoutSeconds.
  spec.enableServiceLinks = false;
  if (timeoutSeconds !== undefined) spec.terminationGracePeriodSeconds = timeoutSeconds;
  // The manifest's pod spec, as the apiserver will check it.
  return { metadata: { name: fn, labels: { app: fn } }, spec: spec as unknown as V1Pod['spec'] };
}

/** This file's waits: at most 180 s, polling every 250 ms. */
const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> =>
  poll(what, probe, timeoutMs, 250);

const isReady = (pod: V1Pod): boolean =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

let out: string;
let db: TestDatabase;
let target: TestDatabase;
const tokens = new Map<string, string>();
const pods = new Map<string, { pod: V1Pod; readyMs: number }>();
const created: Manifest[] = [];

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'tl-fnpods-'));
  const builtAt = Date.now();
  const { images } = await buildFunctionImages({
    registry: node.registry.address,
    crane: node.crane,
    tag: `pods-${suffix}`,
    insecure: true,
    outRoot: out,
  });
  console.log(`function images built in ${String(Date.now() - builtAt)} ms`);
  db = await createTestDatabase(env.postgres.url, 'fnpods');
  target = await createTestDatabase(env.postgres.url, 'fnpodstarget');
  await ensureTenantClusterRole(env);

  await core.createNamespace({
    body: {
      metadata: {
        name: namespace,
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
        },
      },
    },
  });
  // Everything the functions read besides their credentials: the test servers, at the node's host address.
  const settings = await tenantFunctionEnv(env, db.url, { LOG_LEVEL: 'warn' });
  const secretValues: Record<string, string> = {
    DATABASE_URL: forPods(db.url),
    PG_URL: forPods(target.url),
    KEYCLOAK_CLIENT_SECRET: settings.KEYCLOAK_CLIENT_SECRET ?? '',
    GRAFANA_ADMIN_PASSWORD: settings.GRAFANA_ADMIN_PASSWORD ?? '',
    IDEMPOTENCY_KEY_SECRET: settings.IDEMPOTENCY_KEY_SECRET ?? '',
  };
  const keys = functionSecretKeys();
  const configMapData = Object.fromEntries(
    Object.entries({
      ...settings,
      KEYCLOAK_URL: forPods(env.keycloak.url),
      GRAFANA_URL: forPods(env.grafana.url),
    }).filter(([key]) => key !== 'KUBECONFIG' && key !== 'API_TOKEN' && !(key in secretValues)),
  );
  const configMapNames = new Set<string>();
  for (const fn of functions) {
    const container = services.get(fn)?.spec.template.spec.containers[0];
    for (const source of container?.envFrom ?? []) {
      if (source.configMapRef?.name !== undefined) configMapNames.add(source.configMapRef.name);
      const secretName = source.secretRef?.name;
      if (secretName === undefined) continue;
      const secretKeysOf = keys.get(secretName);
      if (secretKeysOf === undefined) throw new Error(`knative/README.md lists no keys of ${secretName}`);
      const token = `${fn}-${randomBytes(16).toString('hex')}`;
      tokens.set(fn, token);
      const data: Record<string, string> = {};
      for (const key of secretKeysOf) {
        const value = key === 'API_TOKEN' ? token : secretValues[key];
        if (value === undefined) throw new Error(`no value for ${secretName}'s ${key}`);
        data[key] = value;
      }
      await core.createNamespacedSecret({
        namespace,
        body: { metadata: { name: secretName }, stringData: data },
      });
    }
  }
  for (const name of configMapNames)
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: configMapData } });
  for (const fn of functions)
    for (const object of rbacOf(fn)) {
      await objects.create(object);
      created.push(object);
    }

  const references = new Map(
    images.map((i) => [i.name, i.digest.replace(node.registry.address, node.registry.host)]),
  );
  const startedAt = new Map<string, number>();
  for (const fn of functions) {
    startedAt.set(fn, Date.now());
    await core.createNamespacedPod({ namespace, body: podOf(fn, references.get(fn) ?? '') });
  }
  await eventually('every function pod to be Ready', async () => {
    for (const fn of functions) {
      if (pods.has(fn)) continue;
      const pod = await core.readNamespacedPod({ name: fn, namespace });
      if (isReady(pod)) pods.set(fn, { pod, readyMs: Date.now() - (startedAt.get(fn) ?? 0) });
      const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
      const terminated = pod.status?.containerStatuses?.[0]?.lastState?.terminated;
      if (
        terminated !== undefined ||
        (waiting !== undefined && !['ContainerCreating', 'PodInitializing'].includes(waiting.reason ?? ''))
      ) {
        const log = await core
          .readNamespacedPodLog({ name: fn, namespace, previous: terminated !== undefined })
          .catch(() => '');
        throw new Error(`${fn} does not start: ${JSON.stringify(waiting ?? terminated)}\n${log}`);
      }
    }
    return pods.size === functions.length ? true : undefined;
  });
  // Where the time goes, from the pods' own timestamps (whole seconds): pull and container start, then the
  // function's start until its readiness probe passes.
  const at = (time: Date | string | undefined): number => new Date(time ?? 0).getTime();
  const phases = [...pods].map(([fn, { pod, readyMs }]) => {
    const running = at(pod.status?.containerStatuses?.[0]?.state?.running?.startedAt);
    const ready = at(pod.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime);
    const created = at(pod.metadata?.creationTimestamp);
    return `${fn} ${String(readyMs)} ms (to running ${String((running - created) / 1000)} s, running to Ready ${String((ready - running) / 1000)} s)`;
  });
  console.log(`pod created -> Ready: ${phases.join('; ')}`);
}, 1_200_000);

afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  for (const object of created.filter((o) => o.metadata?.namespace === undefined))
    await objects.delete(object).catch(() => undefined);
  await db.drop();
  await target.drop();
  await rm(out, { recursive: true, force: true });
});

const podUrl = (fn: string): string => `http://${pods.get(fn)?.pod.status?.podIP ?? 'no-pod-ip'}:8080`;

describe('the function images on the node', () => {
  it('run every function as its Knative Service, in a restricted namespace, and become Ready', async () => {
    expect([...pods.keys()].sort()).toEqual(functions);
    expect(functions).toHaveLength(9);
    const namespaceLabels = (await core.readNamespace({ name: namespace })).metadata?.labels;
    expect(namespaceLabels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const [fn, { pod }] of pods) {
      const current = await core.readNamespacedPod({ name: fn, namespace });
      expect(current.spec?.serviceAccountName, fn).toBe(
        services.get(fn)?.spec.template.spec.serviceAccountName,
      );
      expect(current.spec?.containers[0]?.securityContext, fn).toEqual(
        services.get(fn)?.spec.template.spec.containers[0]?.securityContext,
      );
      expect(current.spec?.containers[0]?.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 1000,
        readOnlyRootFilesystem: true,
      });
      expect(
        current.spec?.containers[0]?.env?.some((e) => e.name === 'KUBECONFIG'),
        fn,
      ).toBe(false);
      expect(pod.status?.podIP, fn).toMatch(/^10\.244\.0\./);
      // Its liveness answer through the pod IP, from the host.
      const health = await fetch(`${podUrl(fn)}/healthz`);
      expect(health.status, fn).toBe(200);
      await health.arrayBuffer();
    }
  });

  it('provision and deprovision serve a tenant through their pod IPs, with the in-cluster configuration', async () => {
    const email = `pods.${suffix}@example.org`;
    const username = `pods-${suffix}`;
    const call = (fn: string, method: string, headers: Record<string, string>): Promise<Response> =>
      fetch(`${podUrl(fn)}/provisioner`, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ full_name: 'Pod Tenant', email }),
      });

    // Without its token, or with another function's, provision refuses and creates nothing.
    const anonymous = await call('provision', 'POST', {});
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
    const borrowed = await call('provision', 'POST', {
      authorization: `Bearer ${tokens.get('deprovision') ?? ''}`,
    });
    expect(borrowed.status).toBe(401);
    await borrowed.arrayBuffer();
    expect(
      await core.readNamespace({ name: username }).then(
        () => 'exists',
        () => 'absent',
      ),
    ).toBe('absent');

    // With its own token (Bearer, as platform callers send it) the provision is done by the pod's account.
    const provisioned = await call('provision', 'POST', {
      authorization: `Bearer ${tokens.get('provision') ?? ''}`,
    });
    const answer = (await provisioned.json()) as Record<string, unknown>;
    expect(
      provisioned.status,
      JSON.stringify({ ...answer, password: undefined, kubeconfig: undefined }),
    ).toBe(200);
    expect(answer).toMatchObject({
      username,
      namespace: username,
      message: 'User has been successfully created',
    });
    expect((answer.steps as { status: string }[]).every((s) => s.status === 'done')).toBe(true);
    const tenantNamespace = await core.readNamespace({ name: username });
    expect(tenantNamespace.metadata?.name).toBe(username);
    const bindings = await kc
      .makeApiClient(RbacAuthorizationV1Api)
      .listNamespacedRoleBinding({ namespace: username });
    expect(bindings.items.map((b) => b.roleRef.name)).toContain('tenant-lifecycle:tenant-edit');

    const deprovisioned = await call('deprovision', 'DELETE', {
      authorization: `Bearer ${tokens.get('deprovision') ?? ''}`,
    });
    expect(deprovisioned.status).toBe(200);
    const removed = (await deprovisioned.json()) as { username: string; systems: Record<string, string> };
    expect(removed).toMatchObject({ username, systems: { keycloak: 'deleted', grafana: 'deleted' } });
    // `terminating` when the namespace takes longer than deprovision waits; awaited below either way.
    expect(['deleted', 'terminating']).toContain(removed.systems.kubernetes);
    await eventually(`namespace ${username} to be gone`, () =>
      core.readNamespace({ name: username }).then(
        () => undefined,
        () => true,
      ),
    );
  });
});
