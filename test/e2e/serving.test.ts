/**
 * Knative Serving as the test environment installs it (test/env/knative.ts), proven with a minimal Knative
 * Service (busybox's httpd on port 8080, the restricted Pod Security profile): it becomes Ready, answers
 * through Traefik (the ingress) and its queue-proxy, scales to zero once idle, and answers the first
 * request after that through the activator. A Host that no Service claims gets Traefik's 404 beside it.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../env/provided.ts';
import { eventually as poll } from '../support/eventually.ts';
import { ingressRequest } from '../support/ingress.ts';

const env = inject('testEnv');
const { knative, node } = env;
if (knative === undefined || node === undefined)
  throw new Error(
    'this test environment has no Knative: run with test/vitest.knative.config.ts (`make test-knative`)',
  );
const kc = new KubeConfig();
kc.loadFromFile(env.kubernetes.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const namespace = `kn-${randomBytes(4).toString('hex')}`;
const service = 'hello';
const host = `${service}.${namespace}.${knative.domain}`;
const serving = { group: 'serving.knative.dev', version: 'v1', namespace };

/** GET / of the ingress with a Host header. */
async function get(hostHeader: string): Promise<{ status: number; body: string }> {
  const { status, body } = await ingressRequest(knative?.ingressUrl ?? '', hostHeader);
  return { status, body };
}

/** This file's waits: at most 180 s, polling every 1000 ms; a probe may fail while the ingress is not routing yet. */
const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> =>
  poll(what, () => probe().catch(() => undefined), timeoutMs, 1000);

async function servicePods(): Promise<number> {
  const pods = await core.listNamespacedPod({
    namespace,
    labelSelector: `serving.knative.dev/service=${service}`,
  });
  return pods.items.filter((p) => p.metadata?.deletionTimestamp === undefined).length;
}

beforeAll(async () => {
  await core.createNamespace({
    body: {
      metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    },
  });
  await custom.createNamespacedCustomObject({
    ...serving,
    plural: 'services',
    body: {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: service, namespace },
      spec: {
        template: {
          metadata: {
            annotations: {
              // Idle revisions go to zero quickly, so the test sees a cold start within a minute.
              'autoscaling.knative.dev/window': '6s',
              'autoscaling.knative.dev/scale-to-zero-pod-retention-period': '0s',
            },
          },
          spec: {
            containers: [
              {
                image: node.images.busybox,
                command: [
                  'sh',
                  '-c',
                  'mkdir -p /tmp/www && echo "hello from $K_REVISION" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www',
                ],
                ports: [{ containerPort: 8080 }],
                securityContext: {
                  runAsNonRoot: true,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ['ALL'] },
                  seccompProfile: { type: 'RuntimeDefault' },
                },
              },
            ],
          },
        },
      },
    },
  });
});

afterAll(async () => {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

describe('Knative Serving with Traefik', () => {
  it('makes a Knative Service Ready and serves it through the ingress and its queue-proxy', async () => {
    const url = await eventually('the Knative Service to be Ready', async () => {
      const ksvc = (await custom.getNamespacedCustomObject({
        ...serving,
        plural: 'services',
        name: service,
      })) as {
        status?: { url?: string; conditions?: { type: string; status: string }[] };
      };
      const ready = ksvc.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      return ready === true ? ksvc.status?.url : undefined;
    });
    expect(url).toBe(`http://${host}`);
    const answer = await eventually('an answer through the ingress', async () => {
      const a = await get(host);
      return a.status === 200 ? a : undefined;
    });
    expect(answer.body).toBe(`hello from ${service}-00001\n`);
    // A pod of the revision runs the user container and Knative's queue-proxy beside it.
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `serving.knative.dev/service=${service}`,
    });
    expect(pods.items[0]?.spec?.containers.map((c) => c.name).sort()).toEqual([
      'queue-proxy',
      'user-container',
    ]);
    // Beside it, a Host that no Knative Service claims is not routed anywhere.
    expect((await get(`nothing.${namespace}.${knative.domain}`)).status).toBe(404);
  });

  it('scales an idle Service to zero and answers the first request after that', async () => {
    await eventually('the revision to scale to zero', async () =>
      (await servicePods()) === 0 ? true : undefined,
    );
    const started = Date.now();
    const answer = await get(host);
    const coldMs = Date.now() - started;
    expect(answer).toEqual({ status: 200, body: `hello from ${service}-00001\n` });
    expect(await servicePods()).toBe(1);
    console.log(`first request after scale to zero answered in ${String(coldMs)} ms`);
  });
});
