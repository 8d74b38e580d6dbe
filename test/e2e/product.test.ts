/**
 * The product as users deploy it (`kubectl apply -k` of knative/base, test/env/product.ts) on Knative
 * Serving: every function's Knative Service is Ready with its image by digest, as its own ServiceAccount;
 * provision and deprovision answer HTTP through the cluster-local ingress (Traefik, then the queue-proxy)
 * with their API tokens and refuse a request without one or with another function's; every function
 * answers at a loopback URL as `make cluster` serves them (test/env/function-proxies.ts); and a function
 * scaled to zero answers its first request through the activator.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import '../env/provided.ts';
import './provided.ts';
import { eventually as poll } from '../support/eventually.ts';
import { startFunctionProxies } from '../env/function-proxies.ts';
import { productOn } from '../support/knative-product.ts';

const env = inject('testEnv');
const product = inject('product');
const { knative } = env;
if (knative === undefined)
  throw new Error('the end-to-end tests need Knative: test/vitest.knative.config.ts');
const { core, custom, namespace, call, token, namespaceExists } = productOn(env, product);

/** This file's waits: at most 240 s, polling every second. */
const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> =>
  poll(what, probe, timeoutMs, 1000);

/** Pods of a function's revisions, not terminating. */
async function runningPods(fn: string): Promise<number> {
  const pods = await core.listNamespacedPod({
    namespace,
    labelSelector: `serving.knative.dev/service=${fn}`,
  });
  return pods.items.filter((p) => p.metadata?.deletionTimestamp === undefined).length;
}

interface KnativeServiceStatus {
  readonly metadata: { readonly name: string };
  readonly spec: { readonly template: { readonly spec: { readonly serviceAccountName?: string } } };
  readonly status?: {
    readonly url?: string;
    readonly latestReadyRevisionName?: string;
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
  };
}

describe('the product on Knative', () => {
  it('has every function Ready as its Knative Service, with its image by digest and its own ServiceAccount', async () => {
    const list = (await custom.listNamespacedCustomObject({
      group: 'serving.knative.dev',
      version: 'v1',
      namespace,
      plural: 'services',
    })) as { items: KnativeServiceStatus[] };
    const services = new Map(list.items.map((s) => [s.metadata.name, s]));
    expect([...services.keys()].sort()).toEqual(Object.keys(product.images).sort());
    expect(services.size).toBe(9);
    for (const [fn, service] of services) {
      expect(service.status?.conditions?.find((c) => c.type === 'Ready')?.status, `${fn} Ready`).toBe('True');
      expect(service.spec.template.spec.serviceAccountName, fn).toBe(fn);
      const revision = (await custom.getNamespacedCustomObject({
        group: 'serving.knative.dev',
        version: 'v1',
        namespace,
        plural: 'revisions',
        name: service.status?.latestReadyRevisionName ?? '',
      })) as {
        spec: { containers: { image: string }[] };
        status?: { containerStatuses?: { imageDigest?: string }[] };
      };
      expect(revision.spec.containers[0]?.image, fn).toBe(product.images[fn]);
      expect(product.images[fn], fn).toMatch(/@sha256:[0-9a-f]{64}$/);
    }
    // cluster-local Services answer only at the cluster's internal domain; bootstrap is the admin API.
    expect(services.get('provision')?.status?.url).toBe(`http://${product.hosts.provision ?? ''}`);
    expect(services.get('bootstrap')?.status?.url).toBe(`http://bootstrap.${namespace}.${knative.domain}`);
  });

  it('provisions, then deprovisions, a tenant over HTTP through the ingress with the functions API tokens', async () => {
    const suffix = randomBytes(3)
      .toString('hex')
      .replace(/\d/g, (d) => 'ghijklmnop'[Number(d)] ?? 'x');
    const tenant = { full_name: `Http Tenant ${suffix}`, email: `http.tenant.${suffix}@example.org` };
    const username = `http-tenant-${suffix}`;

    // Refused beside the legitimate call: no token, and deprovision's token at provision.
    const anonymous = await call('provision', { path: '/provisioner', body: tenant });
    expect(anonymous.status).toBe(401);
    const wrongToken = await call('provision', {
      path: '/provisioner',
      token: token('deprovision'),
      body: tenant,
    });
    expect(wrongToken.status).toBe(401);
    expect(await namespaceExists(username)).toBe(false);

    const created = await call('provision', {
      path: '/provisioner',
      token: token('provision'),
      body: tenant,
    });
    expect(created.status, created.body).toBe(200);
    expect(JSON.parse(created.body)).toMatchObject({ username, namespace: username });
    expect(created.body).not.toContain(token('provision'));
    const stored = await core.readNamespace({ name: username });
    expect(stored.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('tenant-lifecycle');

    // deprovision refuses provision's token, then takes the tenant back with its own.
    const refused = await call('deprovision', {
      method: 'DELETE',
      path: '/provisioner',
      token: token('provision'),
      body: tenant,
    });
    expect(refused.status).toBe(401);
    expect(await namespaceExists(username)).toBe(true);
    const deleted = await call('deprovision', {
      method: 'DELETE',
      path: '/provisioner',
      token: token('deprovision'),
      body: tenant,
    });
    expect(deleted.status, deleted.body).toBe(200);
    expect((JSON.parse(deleted.body) as { namespace: { status: string } }).namespace.status).toMatch(
      /^(deleted|terminating)$/,
    );
    await eventually(`namespace ${username} to be gone`, async () =>
      (await namespaceExists(username)) ? undefined : true,
    );
  });

  it('answers the first request after scale to zero through the activator', async () => {
    // cleanup runs daily: nothing else calls it, so Knative's autoscaler takes it to zero once idle
    // (stable window 60 s and scale-to-zero grace 30 s by default).
    await eventually('cleanup to scale to zero', async () =>
      (await runningPods('cleanup')) === 0 ? true : undefined,
    );
    const started = Date.now();
    const answer = await call('cleanup', {
      path: '/cleanup',
      token: token('cleanup'),
      body: { dryRun: true },
    });
    const coldMs = Date.now() - started;
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ dryRun: true });
    expect(await runningPods('cleanup')).toBeGreaterThanOrEqual(1);
    console.log(`cleanup's first request after scale to zero answered in ${String(coldMs)} ms`);
  });

  it("serves every function at a loopback URL through the ingress, as make cluster's stack.json names them", async () => {
    const proxies = await startFunctionProxies(knative.privateIngressUrl, product.hosts);
    try {
      for (const [fn, url] of Object.entries(proxies.urls)) {
        const ready = await fetch(`${url}/readyz`);
        expect(ready.status, fn).toBe(200);
        await ready.arrayBuffer();
      }
      const sync = proxies.urls.sync ?? '';
      const request = (headers: Record<string, string>) =>
        fetch(`${sync}/sync`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ dryRun: true }),
        });
      const anonymous = await request({});
      expect(anonymous.status).toBe(401);
      await anonymous.arrayBuffer();
      const dryRun = await request({ authorization: `Bearer ${token('sync')}` });
      expect(dryRun.status).toBe(200);
      expect(await dryRun.json()).toMatchObject({ dryRun: true });
    } finally {
      await proxies.stop();
    }
  });
});
