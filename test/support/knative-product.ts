/**
 * What the end-to-end tests of the deployed product (test/env/product.ts) do again and again: call a
 * function through the cluster-local ingress, post a CloudEvent to the Broker's ingress, read a function's
 * Prometheus metrics from its pods, read the platform store, and run kubectl against the cluster.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import type { ProductDeployment } from '../env/product.ts';
import type { TestEnv } from '../env/provided.ts';
import { ingressRequest, type IngressAnswer } from './ingress.ts';

/** The Broker of knative/base/events.yaml and the audience its ingress accepts under authentication-oidc. */
export const BROKER = 'tenant-lifecycle';
export const BROKER_AUDIENCE = `eventing.knative.dev/broker/tenant-functions/${BROKER}`;
const BROKER_INGRESS_HOST = 'broker-ingress.knative-eventing.svc.cluster.local';

/** Lower-case letters only, as tenant names derived from an e-mail address keep them unchanged. */
export function letters(count: number): string {
  return [...randomBytes(count)].map((byte) => String.fromCharCode(97 + (byte % 26))).join('');
}

export interface CloudEventToSend {
  readonly type: string;
  readonly data: unknown;
  readonly id?: string;
  readonly source?: string;
}

export function productOn(env: TestEnv, product: ProductDeployment) {
  const { knative } = env;
  if (knative === undefined)
    throw new Error('the end-to-end tests need Knative: test/vitest.knative.config.ts');
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const { namespace } = product;

  const token = (fn: string): string => {
    const value = product.tokens[fn];
    if (value === undefined) throw new Error(`the deployment has no token of ${fn}`);
    return value;
  };

  /** A JSON request to a function through the cluster-local ingress. */
  const call = (
    fn: string,
    options: { method?: string; path?: string; token?: string; body?: unknown },
  ): Promise<IngressAnswer> => {
    const host = product.hosts[fn];
    if (host === undefined) throw new Error(`the deployment has no function ${fn}`);
    return ingressRequest(knative.privateIngressUrl, host, {
      method: options.method ?? 'POST',
      path: options.path ?? '/',
      headers: {
        'content-type': 'application/json',
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  };

  /**
   * Posts a binary-mode CloudEvent to the Broker's ingress (its ClusterIP, which the host reaches). The
   * Broker answers once its channel holds the event (async-handler, knative/README.md "Delivery").
   */
  const postToBroker = async (
    event: CloudEventToSend,
    bearer?: string,
    timeoutMs?: number,
  ): Promise<IngressAnswer & { readonly id: string }> => {
    const service = await core.readNamespacedService({
      name: 'broker-ingress',
      namespace: 'knative-eventing',
    });
    const id = event.id ?? randomUUID();
    const answer = await ingressRequest(`http://${service.spec?.clusterIP ?? ''}`, BROKER_INGRESS_HOST, {
      method: 'POST',
      path: `/${namespace}/${BROKER}`,
      headers: {
        'ce-specversion': '1.0',
        'ce-id': id,
        'ce-source': event.source ?? '/tenant-lifecycle/e2e',
        'ce-type': event.type,
        'content-type': 'application/json',
        ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
      },
      body: JSON.stringify(event.data),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    return { ...answer, id };
  };

  /** The running (not terminating) pods of a function's revisions: name -> pod IP. */
  const pods = async (fn: string): Promise<Map<string, string>> => {
    const list = await core.listNamespacedPod({
      namespace,
      labelSelector: `serving.knative.dev/service=${fn}`,
    });
    return new Map(
      list.items
        .filter((p) => p.metadata?.deletionTimestamp === undefined && p.status?.podIP !== undefined)
        .map((p) => [p.metadata?.name ?? '', p.status?.podIP ?? '']),
    );
  };

  /**
   * A counter's value in each running pod of `fn` (GET /metrics on the user container's port 8080, which
   * the host reaches): pod name -> the sample with exactly these labels (0 when the pod has none yet).
   */
  const counter = async (
    fn: string,
    name: string,
    labels: Readonly<Record<string, string>>,
  ): Promise<Map<string, number>> => {
    const values = new Map<string, number>();
    for (const [pod, ip] of await pods(fn)) {
      const response = await fetch(`http://${ip}:8080/metrics`).catch(() => undefined);
      if (response?.status !== 200) continue;
      values.set(pod, sampleOf(await response.text(), name, labels));
    }
    return values;
  };

  /** One query on the platform store the functions share. */
  const store = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> => {
    const client = new pg.Client({ connectionString: product.databaseUrl });
    await client.connect();
    try {
      return (await client.query<R>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };

  /** The store's clock: audit rows are stamped with it. */
  const storeNow = async (): Promise<Date> =>
    (await store<{ now: Date }>('SELECT now() AS now'))[0]?.now ?? new Date();

  const kubectl = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await promisify(execFile)(
        knative.kubectl,
        ['--kubeconfig', env.kubernetes.kubeconfigPath, ...args],
        { maxBuffer: 16 * 1024 * 1024 },
      );
      return stdout;
    } catch (error) {
      throw new Error(`kubectl ${args.join(' ')}: ${(error as { stderr?: string }).stderr ?? ''}`, {
        cause: error,
      });
    }
  };

  const namespaceExists = (name: string): Promise<boolean> =>
    core.readNamespace({ name }).then(
      () => true,
      () => false,
    );

  /** Provisions a tenant over HTTP with provision's token; answers its username (its namespace). */
  const provisionTenant = async (email: string): Promise<string> => {
    const answer = await call('provision', { token: token('provision'), body: { email } });
    if (answer.status !== 200)
      throw new Error(`provision of ${email}: HTTP ${String(answer.status)} ${answer.body}`);
    return (JSON.parse(answer.body) as { username: string }).username;
  };

  /** Deprovisions a tenant over HTTP with deprovision's token; throws unless deprovision answered 200. */
  const deprovisionTenant = async (email: string): Promise<void> => {
    const answer = await call('deprovision', {
      method: 'DELETE',
      token: token('deprovision'),
      body: { email },
    });
    if (answer.status !== 200)
      throw new Error(`deprovision of ${email}: HTTP ${String(answer.status)} ${answer.body}`);
  };

  /** The ServiceAccount and EventPolicy of allowedSender. */
  const createSender = async (name: string, types: readonly string[]): Promise<void> => {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    await custom.createNamespacedCustomObject({
      group: 'eventing.knative.dev',
      version: 'v1alpha1',
      namespace,
      plural: 'eventpolicies',
      body: {
        apiVersion: 'eventing.knative.dev/v1alpha1',
        kind: 'EventPolicy',
        metadata: { name },
        spec: {
          to: [{ ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: BROKER } }],
          from: [{ sub: `system:serviceaccount:${namespace}:${name}` }],
          filters: [{ any: types.map((type) => ({ exact: { type } })) }],
        },
      },
    });
  };

  /**
   * A platform tool allowed to post `types` to the Broker, as knative/README.md tells users to add one: a
   * ServiceAccount in the functions' namespace and an EventPolicy naming it. Answers a source of its tokens for the
   * Broker's audience (TokenRequest); removeSender takes it away. The Broker's ingress learns the policy a moment after
   * it is Ready: post with eventually() until it answers 202.
   */
  const allowedSender = async (
    name: string,
    types: readonly string[],
  ): Promise<{ subject: string; token: () => Promise<string> }> => {
    await createSender(name, types);
    return {
      subject: `system:serviceaccount:${namespace}:${name}`,
      token: async () =>
        (
          await core.createNamespacedServiceAccountToken({
            name,
            namespace,
            body: { spec: { audiences: [BROKER_AUDIENCE], expirationSeconds: 600 } },
          })
        ).status?.token ?? '',
    };
  };

  /** Removes what allowedSender made (also what it made before failing half-way). */
  const removeSender = async (name: string): Promise<void> => {
    await custom
      .deleteNamespacedCustomObject({
        group: 'eventing.knative.dev',
        version: 'v1alpha1',
        namespace,
        plural: 'eventpolicies',
        name,
      })
      .catch(() => undefined);
    await core.deleteNamespacedServiceAccount({ name, namespace }).catch(() => undefined);
  };

  return {
    allowedSender,
    removeSender,
    kc,
    core,
    custom,
    namespace,
    token,
    call,
    postToBroker,
    pods,
    counter,
    store,
    storeNow,
    kubectl,
    namespaceExists,
    provisionTenant,
    deprovisionTenant,
  };
}

/** The value of the sample `name{labels}` in a Prometheus text exposition; 0 when absent. */
export function sampleOf(text: string, name: string, labels: Readonly<Record<string, string>>): number {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const found = new Map(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']),
    );
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) return Number(match[3]);
  }
  return 0;
}

/** True when some pod's value went above what it was (a pod started since counts from 0). */
export function increased(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): boolean {
  return [...after].some(([pod, value]) => value > (before.get(pod) ?? 0));
}
