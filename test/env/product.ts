/**
 * The product deployed on the test environment's Knative as a user deploys it: every function image built
 * without a Docker engine (knative/image/build-images.ts) and pushed to the node's registry, then
 * `kubectl apply -k` of an overlay of knative/base. The overlay changes only what differs between this
 * cluster and a user's:
 * - images: the node's registry, by digest;
 * - schedules: given per PingSource (the end-to-end tests run sync every minute);
 * - settings a user may set in the ConfigMap, given as `config` (the end-to-end tests' small reset runs);
 * - the test servers' addresses and credentials: the ConfigMap `tenant-lifecycle-config` and the Secrets
 *   `tenant-lifecycle-<function>` that a user creates (knative/README.md), here by kustomize's generators;
 * - the networking layer's namespace in the functions' NetworkPolicy: Traefik's `traefik` for Kourier's
 *   `kourier-system`, the patch knative/README.md asks of every networking layer but Kourier.
 * What a user's cluster already has is made first: Everest's namespace and CRDs (bootstrap's and
 * enforce's targets) and pg-reconcile's example desired state in namespace postgres.
 *
 * The overlay is written to `dir` (mode 0700: it holds the Secrets' values) and stays there to be read.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { buildFunctionImages } from '../../knative/image/build-images.ts';
import { functionNames } from '../../knative/image/bundle.ts';
import { installEverest } from '../support/everest-install.ts';
import { seedPgReconcileExample } from '../support/pg-reconcile-example.ts';
import { tenantFunctionEnv } from '../support/tenant-functions.ts';
import { createTestDatabase } from './databases.ts';
import type { TestEnv } from './provided.ts';

/** The functions' namespace, as knative/base sets it. */
export const PRODUCT_NAMESPACE = 'tenant-functions';
const BASE_DIR = fileURLToPath(new URL('../../knative/base/', import.meta.url));
const README = fileURLToPath(new URL('../../knative/README.md', import.meta.url));

export interface ProductDeployment {
  readonly namespace: string;
  /** The overlay `kubectl apply -k` applied. */
  readonly overlayDir: string;
  /** function -> its image reference (registry host, by digest). */
  readonly images: Readonly<Record<string, string>>;
  /** function -> its API_TOKEN. */
  readonly tokens: Readonly<Record<string, string>>;
  /** function -> the Host its Knative Service answers to at the cluster-local ingress. */
  readonly hosts: Readonly<Record<string, string>>;
  /** The platform store the functions share, as the host reaches it. */
  readonly databaseUrl: string;
  /** PingSource name -> the schedule the overlay gave it. */
  readonly schedules: Readonly<Record<string, string>>;
  readonly imagesMs: number;
  /** From `kubectl apply -k` until every Service, source, Broker and Trigger was Ready. */
  readonly readyMs: number;
}

/**
 * The Secret keys of each function, from knative/README.md's table ("Secrets: one per function"):
 * `tenant-lifecycle-<function>` -> its keys (`PG_URL` (or `DB_PASS`): the first).
 */
export function functionSecretKeys(): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of readFileSync(README, 'utf8').split('\n')) {
    const match = /^\|\s*`(tenant-lifecycle-[\w-]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (match === null) continue;
    const cell = (match[2] ?? '').replace(/\(or [^)]*\)/g, '');
    keys.set(
      match[1] ?? '',
      [...cell.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1] ?? ''),
    );
  }
  return keys;
}

/** The PingSources of knative/base: name -> schedule. */
export function baseSchedules(): Map<string, string> {
  const schedules = new Map<string, string>();
  for (const file of ['schedules.yaml', 'pg-reconcile.yaml'])
    for (const document of parseAllDocuments(readFileSync(join(BASE_DIR, file), 'utf8'))) {
      const object = document.toJS() as {
        kind?: string;
        metadata?: { name?: string };
        spec?: { schedule?: string };
      } | null;
      if (object?.kind === 'PingSource' && object.metadata?.name !== undefined)
        schedules.set(object.metadata.name, object.spec?.schedule ?? '');
    }
  return schedules;
}

/** KEY=VALUE lines of a kustomize env file; a value may hold no line break. */
function envFile(values: Readonly<Record<string, string>>): string {
  return Object.entries(values)
    .map(([key, value]) => {
      if (/[\r\n]/.test(value)) throw new Error(`${key} holds a line break`);
      return `${key}=${value}\n`;
    })
    .join('');
}

/** The overlay: kustomization.yaml, the ConfigMap's env file and each function's Secret env file. */
export function productOverlay(options: {
  readonly baseDir: string;
  readonly images: Readonly<Record<string, { name: string; digest: string }>>;
  readonly schedules: Readonly<Record<string, string>>;
  readonly networkingNamespace: string;
  readonly config: Readonly<Record<string, string>>;
  readonly secrets: Readonly<Record<string, Readonly<Record<string, string>>>>;
}): Record<string, string> {
  const generated = { disableNameSuffixHash: true };
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [options.baseDir],
    images: Object.entries(options.images).map(([fn, image]) => ({
      name: `tenant-lifecycle-${fn}`,
      newName: image.name,
      digest: image.digest,
    })),
    configMapGenerator: [
      {
        name: 'tenant-lifecycle-config',
        namespace: PRODUCT_NAMESPACE,
        envs: ['config.env'],
        options: generated,
      },
    ],
    secretGenerator: Object.keys(options.secrets).map((name) => ({
      name,
      namespace: PRODUCT_NAMESPACE,
      envs: [`secrets/${name}.env`],
      options: generated,
    })),
    patches: [
      ...Object.entries(options.schedules).map(([name, schedule]) => ({
        target: { group: 'sources.knative.dev', kind: 'PingSource', name },
        patch: stringify([{ op: 'replace', path: '/spec/schedule', value: schedule }]),
      })),
      {
        target: { group: 'networking.k8s.io', kind: 'NetworkPolicy', name: 'tenant-lifecycle-functions' },
        patch: stringify([
          {
            op: 'test',
            path: '/spec/ingress/0/from/0/namespaceSelector/matchExpressions/0/values/2',
            value: 'kourier-system',
          },
          {
            op: 'replace',
            path: '/spec/ingress/0/from/0/namespaceSelector/matchExpressions/0/values/2',
            value: options.networkingNamespace,
          },
        ]),
      },
    ],
  };
  return {
    'kustomization.yaml': stringify(kustomization),
    'config.env': envFile(options.config),
    ...Object.fromEntries(
      Object.entries(options.secrets).map(([name, values]) => [`secrets/${name}.env`, envFile(values)]),
    ),
  };
}

interface Condition {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
}
interface Listed {
  readonly items: { metadata?: { name?: string }; status?: { conditions?: Condition[] } }[];
}

/** Every object of the product Knative reconciles: [group, version, plural, namespace]. */
const RECONCILED: readonly (readonly [string, string, string, string])[] = [
  ['serving.knative.dev', 'v1', 'services', PRODUCT_NAMESPACE],
  ['eventing.knative.dev', 'v1', 'brokers', PRODUCT_NAMESPACE],
  ['eventing.knative.dev', 'v1', 'triggers', PRODUCT_NAMESPACE],
  ['sources.knative.dev', 'v1', 'pingsources', PRODUCT_NAMESPACE],
  ['sources.knative.dev', 'v1', 'apiserversources', 'postgres'],
];

/** What is not Ready yet, with Knative's reason (empty when everything is). */
async function notReady(custom: CustomObjectsApi): Promise<string[]> {
  const waiting: string[] = [];
  for (const [group, version, plural, namespace] of RECONCILED) {
    const list = (await custom.listNamespacedCustomObject({ group, version, namespace, plural })) as Listed;
    if (list.items.length === 0) waiting.push(`${plural} in ${namespace}: none`);
    for (const item of list.items) {
      const ready = item.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status !== 'True')
        waiting.push(
          `${plural}/${item.metadata?.name ?? '?'}: ${ready?.reason ?? 'no Ready condition'} ${ready?.message ?? ''}`.trim(),
        );
    }
  }
  return waiting;
}

/** What a user puts in the ConfigMap and the functions' Secrets, here pointing at the test servers. */
export interface ProductSettings {
  /** The ConfigMap `tenant-lifecycle-config`: every non-secret setting. */
  readonly config: Readonly<Record<string, string>>;
  /** Secret name (`tenant-lifecycle-<function>`) -> its keys (knative/README.md's table) and values. */
  readonly secrets: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** function -> its API_TOKEN (random, in its Secret). */
  readonly tokens: Readonly<Record<string, string>>;
}

/**
 * The functions' settings on the test environment's node: the test servers at the node's host address (where
 * pods reach them), the platform store `databaseUrl` (as the host reaches it), a Keycloak client of their
 * own, a random API token per function; split into the ConfigMap's and each function's Secret's values as
 * knative/README.md says. Used by deployProduct and bench/knative.ts.
 */
export async function productSettings(
  env: TestEnv,
  options: {
    readonly databaseUrl: string;
    readonly logLevel: string;
    /** One API token for every function (`make cluster`, like `make dev`); by default each has its own. */
    readonly apiToken?: string;
  },
): Promise<ProductSettings> {
  const { node } = env;
  if (node === undefined) throw new Error('the functions run on the node: the environment has none');
  const forPods = (url: string): string => url.replace('127.0.0.1', node.hostAddress);
  const settings = await tenantFunctionEnv(env, options.databaseUrl, { LOG_LEVEL: options.logLevel });
  const secretValues: Record<string, string> = {
    DATABASE_URL: forPods(options.databaseUrl),
    PG_URL: forPods(env.postgres.url),
    KEYCLOAK_CLIENT_SECRET: settings.KEYCLOAK_CLIENT_SECRET ?? '',
    GRAFANA_ADMIN_PASSWORD: settings.GRAFANA_ADMIN_PASSWORD ?? '',
    IDEMPOTENCY_KEY_SECRET: settings.IDEMPOTENCY_KEY_SECRET ?? '',
  };
  const config = Object.fromEntries(
    Object.entries({
      ...settings,
      KEYCLOAK_URL: forPods(env.keycloak.url),
      GRAFANA_URL: forPods(env.grafana.url),
    }).filter(([key]) => key !== 'KUBECONFIG' && key !== 'API_TOKEN' && !(key in secretValues)),
  );
  const tokens: Record<string, string> = {};
  const secrets: Record<string, Record<string, string>> = {};
  for (const [secret, keys] of functionSecretKeys()) {
    const fn = secret.replace(/^tenant-lifecycle-/, '');
    tokens[fn] = options.apiToken ?? `${fn}-${randomBytes(24).toString('hex')}`;
    secrets[secret] = Object.fromEntries(
      keys.map((key) => {
        const value = key === 'API_TOKEN' ? tokens[fn] : secretValues[key];
        if (value === undefined) throw new Error(`no value for ${secret}'s ${key}`);
        return [key, value];
      }),
    );
  }
  return { config, secrets, tokens };
}

/** Builds, applies and waits until every Knative object of the product is Ready (at most `timeoutMs`). */
export async function deployProduct(
  env: TestEnv,
  options: {
    readonly dir: string;
    /** PingSource name -> schedule, replacing knative/base's. */
    readonly schedules?: Readonly<Record<string, string>>;
    /** Settings merged into the ConfigMap `tenant-lifecycle-config` over the test servers' addresses. */
    readonly config?: Readonly<Record<string, string>>;
    readonly logLevel?: string;
    /** One API token for every function (`make cluster`, like `make dev`); by default each has its own. */
    readonly apiToken?: string;
    readonly timeoutMs?: number;
  },
): Promise<ProductDeployment> {
  const { node, knative } = env;
  if (node === undefined || knative === undefined)
    throw new Error('the product deploys on Knative: start the environment with TL_TESTENV_KNATIVE=1');

  const imagesAt = Date.now();
  const { images: built } = await buildFunctionImages({
    registry: node.registry.address,
    crane: node.crane,
    tag: 'e2e',
    insecure: true,
  });
  const imagesMs = Date.now() - imagesAt;
  const images: Record<string, { name: string; digest: string }> = {};
  for (const image of built) {
    const [name = '', digest = ''] = image.digest
      .replace(node.registry.address, node.registry.host)
      .split('@');
    images[image.name] = { name, digest };
  }

  await installEverest(env);
  await seedPgReconcileExample(env);
  const db = await createTestDatabase(env.postgres.url, 'product');
  const settings = await productSettings(env, {
    databaseUrl: db.url,
    logLevel: options.logLevel ?? 'info',
    apiToken: options.apiToken,
  });
  const { secrets, tokens } = settings;
  const config = { ...settings.config, ...options.config };
  const known = new Set(baseSchedules().keys());
  for (const name of Object.keys(options.schedules ?? {}))
    if (!known.has(name)) throw new Error(`knative/base has no PingSource ${name}`);

  await rm(options.dir, { recursive: true, force: true });
  await mkdir(join(options.dir, 'secrets'), { recursive: true, mode: 0o700 });
  await chmod(options.dir, 0o700);
  const files = productOverlay({
    baseDir: relative(options.dir, BASE_DIR),
    images,
    schedules: options.schedules ?? {},
    networkingNamespace: 'traefik',
    config,
    secrets,
  });
  for (const [file, content] of Object.entries(files))
    await writeFile(join(options.dir, file), content, { mode: 0o600 });

  const appliedAt = Date.now();
  try {
    await promisify(execFile)(
      knative.kubectl,
      ['--kubeconfig', env.kubernetes.kubeconfigPath, 'apply', '-k', options.dir],
      { maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`kubectl apply -k ${options.dir} failed:\n${stderr}`, { cause: error });
  }
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes.kubeconfigPath);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  for (;;) {
    const waiting = await notReady(custom);
    if (waiting.length === 0) break;
    if (Date.now() > deadline)
      throw new Error(
        `the product is not Ready after ${String(Date.now() - appliedAt)} ms:\n${waiting.join('\n')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const functions = functionNames();
  return {
    namespace: PRODUCT_NAMESPACE,
    overlayDir: options.dir,
    images: Object.fromEntries(Object.entries(images).map(([fn, i]) => [fn, `${i.name}@${i.digest}`])),
    tokens,
    hosts: Object.fromEntries(functions.map((fn) => [fn, `${fn}.${PRODUCT_NAMESPACE}.svc.cluster.local`])),
    databaseUrl: db.url,
    schedules: { ...Object.fromEntries(baseSchedules()), ...options.schedules },
    imagesMs,
    readyMs: Date.now() - appliedAt,
  };
}
