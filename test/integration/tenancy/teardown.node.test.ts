/**
 * reset and deprovision of a tenant namespace that is in use, on the test node: running pods (a Deployment
 * and a bare Pod), a PersistentVolumeClaim bound to a static PersistentVolume and mounted by a running pod
 * (so kubernetes.io/pvc-protection and kubernetes.io/pv-protection are in play), and a ConfigMap carrying a
 * finalizer (`example.com/drain`) that the test, acting as its controller, removes only after the product
 * has answered. The tenant is made by the real provision function; reset and deprovision run in-process
 * against the shared environment, as the functions' own integration tests run them.
 *
 * What the product must do: answer only what is true (a reset lists what is still terminating, a
 * deprovision says `terminating` until the namespace is gone, with what the namespace controller says it
 * waits for), never wait past its bound, and finish once the finalizer is removed.
 *
 * The static PersistentVolume: its reclaim policy is Retain, so when its claim is deleted (by the reset, or
 * with the namespace) the PV becomes Released, keeps its claimRef to the deleted claim and its data on the
 * host, and is never bound again by itself: the cluster's operator deletes or recycles it. Neither reset
 * nor deprovision touches a cluster-scoped PersistentVolume. The test deletes its PVs at the end.
 *
 * Durations (reset's answer, until the namespace is clean, deprovision's answer, until the namespace is
 * gone) are printed, not asserted.
 */
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Container,
  type V1PodSpec,
} from '@kubernetes/client-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig as loadResetConfig } from '../../../functions/reset/config.ts';
import { resetSetup } from '../../../functions/reset/index.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import {
  ensureTenantClusterRole,
  FUNCTION_TOKEN,
  startTenantFunctions,
} from '../../support/tenant-functions.ts';
import { eventually as poll } from '../../support/eventually.ts';

const env = inject('testEnv');
const node = env.node;
if (node === undefined)
  throw new Error('this test needs the test node: run it with test/vitest.node.config.ts (`make test-node`)');
const kc = new KubeConfig();
kc.loadFromFile(env.kubernetes.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const suffix = randomBytes(3).toString('hex');
/** This file's tenants, PersistentVolumes and host directories all carry the prefix `td-<suffix>`. */
const prefix = `td-${suffix}`;
const hostRoot = join(env.workDir, prefix);
const DRAIN = 'example.com/drain';

let db: TestDatabase;
let audit: pg.Pool;
let provisionFn: RunningFunction;
let deprovisionFn: RunningFunction;
let resetFn: RunningFunction;
let stopTenantFunctions: () => Promise<void>;
/** Each tenant made here, with the request that deprovisions it. */
const tenants = new Map<string, Record<string, string>>();
const volumes: string[] = [];

const restricted: Pick<V1PodSpec, 'securityContext'> & { container: V1Container['securityContext'] } = {
  securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
  container: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
};

/** This file's waits: at most 150 s, polling every 500 ms. */
const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 150_000): Promise<T> =>
  poll(what, probe, timeoutMs, 500);

const notFound = (error: unknown): boolean => (error as { code?: number }).code === 404;
/** The object, or undefined once it is gone (404). */
async function readOrGone<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (notFound(error)) return undefined;
    throw error;
  }
}

async function call(fn: RunningFunction, method: string, path: string, body: unknown) {
  const started = Date.now();
  const response = await fetch(`${fn.url}${path}`, {
    method,
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    seconds: (Date.now() - started) / 1000,
  };
}

async function provisionTenant(
  label: string,
): Promise<{ username: string; request: Record<string, string> }> {
  const request = { full_name: `Td ${suffix} ${label}`, email: `td-${suffix}-${label}@example.org` };
  const answer = await call(provisionFn, 'POST', '/provisioner', request);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  const username = answer.body.username as string;
  expect(username.startsWith(prefix)).toBe(true);
  tenants.set(username, request);
  // Pods are admitted once the namespace's default ServiceAccount exists.
  await eventually('the default ServiceAccount', () =>
    readOrGone(() => core.readNamespacedServiceAccount({ name: 'default', namespace: username })),
  );
  return { username, request };
}

/** The latest audit row of `operation` on `target`. */
async function auditRow(operation: string, target: string) {
  const { rows } = await audit.query<{ outcome: string; details: Record<string, unknown> }>(
    'SELECT outcome, details FROM tenant_lifecycle.audit_log WHERE operation = $1 AND target = $2 ORDER BY id DESC LIMIT 1',
    [operation, target],
  );
  return rows[0];
}

/** Removes the drain finalizer, as the controller that owns it would once it has drained. */
async function drain(namespace: string, name: string): Promise<void> {
  await core.patchNamespacedConfigMap(
    { name, namespace, body: { metadata: { finalizers: null } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/**
 * A static PersistentVolume on a host directory (writable by uid 1000, the busybox user), pre-bound to the
 * claim `claim` in `namespace`; Retain, no StorageClass.
 */
async function staticVolume(name: string, namespace: string, claim: string): Promise<string> {
  const path = join(hostRoot, name);
  mkdirSync(path, { recursive: true });
  chownSync(path, 1000, 1000);
  await core.createPersistentVolume({
    body: {
      metadata: { name },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        hostPath: { path, type: 'Directory' },
        claimRef: { namespace, name: claim },
      },
    },
  });
  volumes.push(name);
  return path;
}

/**
 * A busybox container that sleeps; `sleep` as PID 1 ignores SIGTERM, so a deleted pod takes its whole grace
 * period (30 s), as a real workload may. Resources are explicit: the tenant quota requires them.
 */
const sleeper = (name: string, extra: Partial<V1Container> = {}): V1Container => ({
  name,
  image: node.images.busybox,
  command: ['sleep', '3600'],
  securityContext: restricted.container,
  resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '50m', memory: '32Mi' } },
  ...extra,
});

/**
 * The workload: a Deployment, a bare Pod mounting the claim `data` (bound to the static PV `volume`,
 * writing a file to it), and the ConfigMap `drained` with the drain finalizer. Resolves once the pods are
 * Ready, the claim is Bound and the file is on the host.
 */
async function startWorkload(namespace: string, volume: string): Promise<{ hostPath: string }> {
  const hostPath = await staticVolume(volume, namespace, 'data');
  await core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: {
      metadata: { name: 'data' },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: '',
        volumeName: volume,
        resources: { requests: { storage: '1Gi' } },
      },
    },
  });
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'app' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'app' } },
        template: {
          metadata: { labels: { app: 'app' } },
          spec: { securityContext: restricted.securityContext, containers: [sleeper('main')] },
        },
      },
    },
  });
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'solo' },
      spec: {
        securityContext: restricted.securityContext,
        containers: [
          sleeper('main', {
            command: ['sh', '-c', `echo "${namespace}" > /data/proof && exec sleep 3600`],
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          }),
        ],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
      },
    },
  });
  await core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: 'drained', finalizers: [DRAIN] }, data: { state: 'draining' } },
  });
  await eventually('the pods to be Ready', async () => {
    const pods = (await core.listNamespacedPod({ namespace })).items;
    const ready = pods.filter((p) =>
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    return ready.length === 2 ? true : undefined;
  });
  const claim = await core.readNamespacedPersistentVolumeClaim({ name: 'data', namespace });
  expect(claim.status?.phase).toBe('Bound');
  expect(claim.metadata?.finalizers).toContain('kubernetes.io/pvc-protection');
  const pv = await core.readPersistentVolume({ name: volume });
  expect(pv.metadata?.finalizers).toContain('kubernetes.io/pv-protection');
  expect(readFileSync(join(hostPath, 'proof'), 'utf8').trim()).toBe(namespace);
  return { hostPath };
}

/** Names of what the namespace still holds, per collection. */
async function contents(namespace: string) {
  const names = (items: { metadata?: { name?: string } }[]) =>
    items.map((i) => i.metadata?.name ?? '').sort();
  return {
    pods: names((await core.listNamespacedPod({ namespace })).items),
    deployments: names((await apps.listNamespacedDeployment({ namespace })).items),
    replicaSets: names((await apps.listNamespacedReplicaSet({ namespace })).items),
    claims: names((await core.listNamespacedPersistentVolumeClaim({ namespace })).items),
    configMaps: names((await core.listNamespacedConfigMap({ namespace })).items),
  };
}

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'teardown');
  audit = new pg.Pool({ connectionString: db.url, max: 2 });
  await ensureTenantClusterRole(env);
  // deprovision with the timeout of its Knative Service (60 s; each call bounded to a third of the work
  // time): it waits for the namespace up to 30 s.
  ({
    provision: provisionFn,
    deprovision: deprovisionFn,
    stop: stopTenantFunctions,
  } = await startTenantFunctions(env, db.url, {
    overrides: {
      REQUEST_TIMEOUT_SECONDS: '60',
      KUBERNETES_TIMEOUT_SECONDS: '15',
      DATABASE_STATEMENT_TIMEOUT_SECONDS: '15',
    },
  }));
  resetFn = await startFunction({
    name: 'reset',
    loadConfig: loadResetConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: db.url,
      KUBECONFIG: env.kubernetes.kubeconfigPath,
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(resetSetup(config, log)),
  });
});

afterAll(async () => {
  // Whatever a failed test left: no finalizer of ours stays, every tenant and volume goes.
  for (const [tenant, request] of tenants) {
    await drain(tenant, 'drained').catch(() => undefined);
    await call(deprovisionFn, 'DELETE', '/provisioner', request).catch(() => undefined);
  }
  for (const tenant of tenants.keys()) await core.deleteNamespace({ name: tenant }).catch(() => undefined);
  for (const volume of volumes) await core.deletePersistentVolume({ name: volume }).catch(() => undefined);
  rmSync(hostRoot, { recursive: true, force: true });
  await resetFn.stop();
  await stopTenantFunctions();
  await audit.end();
  await db.drop();
});

describe('teardown of a namespace in use', () => {
  it(
    'reset empties it and reports what still terminates; deprovision then says terminating until the namespace is gone',
    { timeout: 600_000 },
    async () => {
      const { username: tenant, request } = await provisionTenant('busy');
      const { hostPath } = await startWorkload(tenant, `${prefix}-reset`);

      // reset: every deletion is requested, and the answer says what has not finished.
      const resetStarted = Date.now();
      const reset = await call(resetFn, 'POST', '/reset', { username: tenant });
      expect(reset.status, JSON.stringify(reset.body)).toBe(200);
      expect(reset.body).toMatchObject({ namespaces_reset: 1, failed_resets: [], users_processed: 1 });
      const details = (reset.body.details as Record<string, Record<string, number>>)[tenant];
      expect(details).toMatchObject({ Deployment: 1, PersistentVolumeClaim: 1, ConfigMap: 1 });
      expect(details?.Pod).toBeGreaterThanOrEqual(2);
      const terminating = (
        reset.body.terminating as Record<string, Record<string, { count: number; finalizers: string[] }>>
      )[tenant];
      // The ConfigMap waits for its controller, the claim for the pod that mounts it, the pods for their grace period.
      expect(terminating?.ConfigMap).toEqual({ count: 1, finalizers: [DRAIN] });
      expect(terminating?.PersistentVolumeClaim).toEqual({
        count: 1,
        finalizers: ['kubernetes.io/pvc-protection'],
      });
      expect(terminating?.Pod?.count).toBeGreaterThanOrEqual(2);
      expect(reset.body.message).toMatch(/still terminating/);
      expect(reset.body.message).not.toMatch(/successfully/);
      const resetRecord = await auditRow('reset', tenant);
      expect(resetRecord?.outcome).toBe('success');
      expect(resetRecord?.details).toMatchObject({
        namespacesReset: 1,
        failed: [],
        terminating: {
          namespaces: 1,
          finalizers: expect.arrayContaining([DRAIN, 'kubernetes.io/pvc-protection']) as string[],
        },
      });

      // The answer was true: the ConfigMap is still there, being deleted, held by its finalizer.
      const held = await core.readNamespacedConfigMap({ name: 'drained', namespace: tenant });
      expect(held.metadata?.deletionTimestamp).toBeDefined();
      expect(held.metadata?.finalizers).toEqual([DRAIN]);
      // Its controller finishes draining.
      await drain(tenant, 'drained');
      const clean = await eventually('the namespace to be empty of the workload', async () => {
        const now = await contents(tenant);
        return now.pods.length === 0 &&
          now.deployments.length === 0 &&
          now.replicaSets.length === 0 &&
          now.claims.length === 0 &&
          !now.configMaps.includes('drained')
          ? now
          : undefined;
      });
      console.log(
        `reset of ${tenant}: answered in ${reset.seconds.toFixed(1)} s; workload gone ${((Date.now() - resetStarted) / 1000).toFixed(1)} s after the request (the finalizer removed right after the answer)`,
      );
      expect(clean.configMaps).toEqual(['kube-root-ca.crt']);
      // The baseline stays, the namespace stays Active.
      const namespace = await core.readNamespace({ name: tenant });
      expect(namespace.status?.phase).toBe('Active');
      expect(
        (await core.listNamespacedResourceQuota({ namespace: tenant })).items.map((q) => q.metadata?.name),
      ).toEqual(['tenant-quota']);
      expect((await core.listNamespacedLimitRange({ namespace: tenant })).items.length).toBeGreaterThan(0);
      expect(
        await readOrGone(() => core.readNamespacedServiceAccount({ name: 'default', namespace: tenant })),
      ).toBeDefined();
      // The static PV: its claim is gone, so it is Released, keeps its data, and is not bound again.
      const released = await eventually('the PV to be Released', async () => {
        const pv = await core.readPersistentVolume({ name: `${prefix}-reset` });
        return pv.status?.phase === 'Released' ? pv : undefined;
      });
      expect(released.spec?.claimRef).toMatchObject({ namespace: tenant, name: 'data' });
      expect(existsSync(join(hostPath, 'proof'))).toBe(true);

      // The namespace in use again, then deprovision.
      await startWorkload(tenant, `${prefix}-deprovision`);
      const removed = await call(deprovisionFn, 'DELETE', '/provisioner', request);
      expect(removed.status, JSON.stringify(removed.body)).toBe(200);
      // The pods' 30 s grace period and the finalizer outlast deprovision's wait: it says terminating.
      expect(removed.body).toMatchObject({
        username: tenant,
        namespace: { status: 'terminating', finished: false },
        systems: {
          kubernetes: 'terminating',
          keycloak: 'deleted',
          keycloakGroup: 'deleted',
          grafana: 'deleted',
        },
      });
      expect(removed.body.message).toMatch(new RegExp(`namespace ${tenant} is still being deleted`));
      expect(removed.body.message).not.toMatch(/successfully/);
      const removedRecord = await auditRow('deprovision', tenant);
      expect(removedRecord?.outcome).toBe('success');
      expect(removedRecord?.details).toMatchObject({
        namespace: { status: 'terminating', finished: false },
        systems: { kubernetes: 'terminating' },
      });
      // True: the namespace is there, Terminating.
      expect((await core.readNamespace({ name: tenant })).status?.phase).toBe('Terminating');
      await eventually('the ConfigMap to be deleted', async () => {
        const cm = await readOrGone(() =>
          core.readNamespacedConfigMap({ name: 'drained', namespace: tenant }),
        );
        return cm?.metadata?.deletionTimestamp === undefined ? undefined : true;
      });
      await drain(tenant, 'drained');
      const drainedAt = Date.now();
      await eventually('the namespace to be gone', async () =>
        (await readOrGone(() => core.readNamespace({ name: tenant }))) === undefined ? true : undefined,
      );
      console.log(
        `deprovision of ${tenant}: answered (terminating) in ${removed.seconds.toFixed(1)} s; namespace gone ${((Date.now() - drainedAt) / 1000).toFixed(1)} s after the finalizer was removed`,
      );
      // A later call finds nothing left, and says so.
      const again = await call(deprovisionFn, 'DELETE', '/provisioner', request);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({
        namespace: { status: 'absent', finished: true },
        systems: { kubernetes: 'absent', keycloak: 'absent', grafana: 'absent' },
      });
      const second = await eventually('the second PV to be Released', async () => {
        const pv = await core.readPersistentVolume({ name: `${prefix}-deprovision` });
        return pv.status?.phase === 'Released' ? pv : undefined;
      });
      expect(second.spec?.claimRef?.namespace).toBe(tenant);
    },
  );

  it(
    'deprovision of a namespace held by a finalizer nobody removes answers terminating, naming it, within its bound; a namespace without one is deleted',
    { timeout: 400_000 },
    async () => {
      const stuck = await provisionTenant('stuck');
      await core.createNamespacedConfigMap({
        namespace: stuck.username,
        body: { metadata: { name: 'drained', finalizers: [DRAIN] } },
      });
      const first = await call(deprovisionFn, 'DELETE', '/provisioner', stuck.request);
      expect(first.status, JSON.stringify(first.body)).toBe(200);
      expect(first.body).toMatchObject({
        namespace: { status: 'terminating', finished: false },
        systems: { kubernetes: 'terminating', keycloak: 'deleted', grafana: 'deleted' },
      });
      expect(first.body.message).not.toMatch(/successfully/);
      // Once the namespace controller has said what remains, deprovision quotes it.
      await eventually('the namespace controller to report the finalizer', async () => {
        const ns = await core.readNamespace({ name: stuck.username });
        return ns.status?.conditions?.some(
          (c) => c.type === 'NamespaceFinalizersRemaining' && c.status === 'True',
        )
          ? true
          : undefined;
      });
      const later = await call(deprovisionFn, 'DELETE', '/provisioner', stuck.request);
      expect(later.status).toBe(200);
      expect(later.body.namespace).toMatchObject({ status: 'terminating', finished: false });
      const waitingFor = (later.body.namespace as { waitingFor: string[] }).waitingFor;
      expect(waitingFor.join('\n')).toContain(`${DRAIN} in 1 resource instances`);
      expect(later.body.message).toContain(DRAIN);
      expect(later.body.systems).toMatchObject({
        kubernetes: 'terminating',
        keycloak: 'absent',
        grafana: 'absent',
      });
      console.log(
        `deprovision of ${stuck.username} (finalizer nobody removes): answered terminating in ${first.seconds.toFixed(1)} s, then ${later.seconds.toFixed(1)} s`,
      );

      // Positive control beside it: a tenant whose namespace holds nothing that waits is deleted within the wait.
      const plain = await provisionTenant('plain');
      const deleted = await call(deprovisionFn, 'DELETE', '/provisioner', plain.request);
      expect(deleted.status).toBe(200);
      expect(deleted.body).toMatchObject({
        message: 'User has been deleted successfully',
        namespace: { status: 'deleted', finished: true },
        systems: { kubernetes: 'deleted' },
      });
      expect(await readOrGone(() => core.readNamespace({ name: plain.username }))).toBeUndefined();
      console.log(
        `deprovision of ${plain.username} (nothing left to wait for): deleted in ${deleted.seconds.toFixed(1)} s`,
      );

      // The finalizer removed at last: the namespace goes, and a later call completes.
      await drain(stuck.username, 'drained');
      await eventually('the stuck namespace to be gone', async () =>
        (await readOrGone(() => core.readNamespace({ name: stuck.username }))) === undefined
          ? true
          : undefined,
      );
      const done = await call(deprovisionFn, 'DELETE', '/provisioner', stuck.request);
      expect(done.body).toMatchObject({ namespace: { status: 'absent', finished: true } });
    },
  );
});
