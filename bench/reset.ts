/**
 * make bench: reset of N tenant namespaces (default 1,000) holding 10 objects each (4 ConfigMaps, 3 Secrets,
 * 2 Services, 1 Deployment) besides their baseline, on the local real kube-apiserver; the reset function
 * over HTTP (one DELETE of a collection per resource type and namespace) against a naive variant that lists
 * each type and deletes object by object. Goal (issue 5): <= 60 s for 1,000 x 10.
 */
import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { loadConfig } from '../functions/reset/config.ts';
import { resetSetup } from '../functions/reset/index.ts';
import { discoverResources } from '../shared/adapters/kubernetes/discovery.ts';
import { KubernetesCluster } from '../shared/adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../shared/adapters/kubernetes/kubeconfig.ts';
import { RawKubernetes } from '../shared/adapters/kubernetes/raw.ts';
import { startFunction } from '../shared/platform/server.ts';
import { defaultPlan, renderBaseline } from '../shared/tenancy/baseline.ts';
import type { KubernetesObject } from '../shared/adapters/kubernetes/objects.ts';
import { resetTargets, targetCollection, targetSelectors } from '../shared/tenancy/reset-plan.ts';
import { createTestDatabase } from '../test/env/databases.ts';
import { startTestEnv } from '../test/env/environment.ts';
import { FUNCTION_TOKEN } from '../test/support/tenant-functions.ts';
import { countCalls } from './call-counter.ts';

const N = Number(process.env.BENCH_RESET_NAMESPACES ?? 1_000);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const names = Array.from({ length: N }, (_, i) => `reset-${String(i).padStart(4, '0')}`);

function tenObjects(namespace: string): KubernetesObject[] {
  const meta = (name: string) => ({ name, namespace });
  return [
    ...[1, 2, 3, 4].map((i) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(`config-${i}`),
      data: { i: `${i}` },
    })),
    ...[1, 2, 3].map((i) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(`secret-${i}`),
      stringData: { k: 'v' },
    })),
    ...[1, 2].map((i) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(`svc-${i}`),
      // Headless: the test apiserver's service IP range is small (a /24), and reset does not care.
      spec: { clusterIP: 'None', selector: { app: 'x' }, ports: [{ port: 80 + i }] },
    })),
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('app'),
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'x' } },
        template: {
          metadata: { labels: { app: 'x' } },
          spec: { containers: [{ name: 'x', image: 'busybox' }] },
        },
      },
    },
  ];
}

const running = await startTestEnv();
try {
  const { env } = running;
  const db = await createTestDatabase(env.postgres.url, 'bench_reset');
  const kc = loadKubeConfig({ kind: 'file', path: env.kubernetes.kubeconfigPath });
  const cluster = new KubernetesCluster(kc);
  const raw = new RawKubernetes(kc);
  const limit = pLimit(16);
  const fill = async (withBaseline: boolean): Promise<number> => {
    const started = performance.now();
    await Promise.all(
      names.map((tenant) =>
        limit(async () => {
          const baseline = withBaseline
            ? renderBaseline({
                tenant,
                createdAt: new Date(),
                plan: defaultPlan,
                access: { user: 'oidc:x', group: 'oidc:x', clusterRole: 'edit' },
              })
            : [];
          for (const object of [...baseline, ...tenObjects(tenant)]) await cluster.create(object);
        }),
      ),
    );
    return performance.now() - started;
  };
  /** Objects left in the tenant namespaces, by counting what each reset target lists in a sample. */
  const leftIn = async (sample: readonly string[]): Promise<number> => {
    const targets = resetTargets(await discoverResources(raw));
    let left = 0;
    for (const ns of sample)
      for (const t of targets) {
        const answer = await raw.list(targetCollection(t, ns), 'count', targetSelectors(t));
        left += answer.items.length;
      }
    return left;
  };
  const sample = names.filter((_, i) => i % Math.max(1, Math.floor(N / 20)) === 0);

  console.log(`filled ${N} namespaces x (6 baseline + 10) objects in ${seconds(await fill(true))}`);
  const fn = await startFunction({
    name: 'reset',
    loadConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      KUBECONFIG: env.kubernetes.kubeconfigPath,
      REQUEST_TIMEOUT_SECONDS: '600',
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(resetSetup(config, log)),
  });
  const counter = countCalls();
  const server = new URL(env.kubernetes.server).origin;
  let started = performance.now();
  const response = await fetch(`${fn.url}/reset`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: '{}',
  });
  const report = (await response.json()) as { namespaces_reset: number; failed_resets: string[] };
  const resetMs = performance.now() - started;
  const targets = resetTargets(await discoverResources(raw)).length;
  console.log(
    `reset (collections): n=${N} time=${seconds(resetMs)} status=${response.status} reset=${report.namespaces_reset} failed=${report.failed_resets.length} calls=${counter.total([server])} types=${targets} left in sample=${await leftIn(sample)}`,
  );
  await fn.stop();

  // The naive variant: refill, then per namespace list every type and delete each object on its own.
  console.log(`refilled in ${seconds(await fill(false))}`);
  const types = resetTargets(await discoverResources(raw));
  counter.reset();
  started = performance.now();
  const naive = pLimit(4);
  await Promise.all(
    names.map((ns) =>
      naive(async () => {
        for (const t of types) {
          const collection = targetCollection(t, ns);
          const list = await raw.list<{ metadata: { name: string } }>(collection, 'list', targetSelectors(t));
          for (const item of list.items)
            await raw.delete({ ...collection, name: item.metadata.name }, 'delete');
        }
      }),
    ),
  );
  console.log(
    `reset (naive, one DELETE per object): n=${N} time=${seconds(performance.now() - started)} calls=${counter.total([server])} left in sample=${await leftIn(sample)}`,
  );
  counter.stop();
  await db.drop();
} finally {
  await running.stop();
}
