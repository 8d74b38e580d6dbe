/**
 * Knative on the test node, installed from its own sources: the install manifests in the `config/` folders
 * of knative.dev/serving and knative.dev/eventing v0.50.0 (read from the Go module cache, where
 * build-servers.sh --knative downloaded them), their `ko://` image references replaced by the images of
 * knative-images.ts, and Traefik as Serving's ingress from the Knative fixtures in Traefik's own module.
 *
 * What is applied:
 * - Serving: config/core (CRDs, RBAC, config maps, controller, webhook, activator, autoscaler), with what
 *   Serving's release bundles from its dependencies at the versions its go.mod names: the CRDs and
 *   `config-network` of knative.dev/networking (config/*.yaml) and the Image CRD of knative.dev/caching;
 * - Eventing: config/core (core, PingSource, ApiServerSource, ...), config/channels/in-memory-channel and
 *   config/brokers/mt-channel-broker (the multi-tenant channel-based Broker), without their -tls variants,
 *   and the integration image names of third_party/eventing-integrations-latest, as its release bundles;
 * - Traefik v3.6.12: integration/fixtures/knative/01-rbac.yml and 02-traefik.yml.
 *
 * What is changed, and why (nothing else is):
 * - images: the loopback registry's, by digest;
 * - settings: Serving's ingress class is Traefik's, its domain KNATIVE_DOMAIN, tags of the loopback registry
 *   are not resolved to digests by the controller (it cannot reach that name); Eventing's
 *   `authentication-oidc` feature is on;
 * - CPU requests: at most 25m per container, since the node has 2 cores and Knative's requests add up to
 *   more than one (limits stay);
 * - Traefik listens on unprivileged ports (it runs as user 65532) and its Services keep their ports.
 *
 * Order: namespaces and CRDs (until Established), then everything but the admission webhook
 * configurations, then those once the webhooks' Deployments are available, so that no object is refused by
 * a webhook that is not serving yet.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  ApiextensionsV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { boundedObjectApi, type BoundedObjectApi } from '../../shared/adapters/kubernetes/api-client.ts';
import type { KnativeBinaries } from './binaries.ts';
import { pushKnativeImages, type KnativeImages } from './knative-images.ts';
import { REGISTRY_HOST } from './node-images.ts';
import { run } from './process.ts';

export const KNATIVE_VERSION = 'v0.50.0';
export const TRAEFIK_VERSION = 'v3.6.12';
/** The domain of Knative Services' URLs: <service>.<namespace>.<domain>, sent as Host to the ingress. */
export const KNATIVE_DOMAIN = 'knative.test';
const INGRESS_CLASS = 'traefik.ingress.networking.knative.dev';
const FIELD_MANAGER = 'tenant-lifecycle-testenv';
const MAX_CPU_REQUEST_MILLI = 25;

const goDir = fileURLToPath(new URL('go/', import.meta.url));

type Manifest = KubernetesObject & Record<string, unknown>;

/** The folder of a module in the Go module cache (downloaded if missing). */
async function moduleDir(wrapper: string, module: string): Promise<string> {
  const out = await run('go', ['mod', 'download', '-json', module], {
    cwd: join(goDir, wrapper),
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  });
  const dir = (JSON.parse(out) as { Dir?: string }).Dir;
  if (dir === undefined) throw new Error(`go mod download named no folder for ${module}`);
  return dir;
}

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function manifestsOf(files: readonly string[]): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
      const value = doc.toJS() as Manifest | null;
      if (value !== null && typeof value === 'object' && typeof value.kind === 'string') out.push(value);
    }
  }
  return out;
}

/** Replaces every `ko://<import path>` string (images and env values alike) with its image reference. */
function resolveImages(value: unknown, images: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string' && value.startsWith('ko://')) {
    const ref = images.get(value.slice('ko://'.length));
    if (ref === undefined) throw new Error(`no image built for ${value}`);
    return ref;
  }
  if (Array.isArray(value)) return value.map((v) => resolveImages(v, images));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveImages(v, images)]));
  return value;
}

function milliCpu(quantity: string): number {
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) : Number(quantity) * 1000;
}

interface ContainerLike {
  name?: string;
  image?: string;
  args?: string[];
  ports?: { containerPort: number; name?: string }[];
  resources?: { requests?: Record<string, string> };
}

function podContainers(object: Manifest): ContainerLike[] {
  const spec = (object as { spec?: { template?: { spec?: { containers?: ContainerLike[] } } } }).spec;
  return spec?.template?.spec?.containers ?? [];
}

/** Caps each container's CPU request (the node has 2 cores); everything else stays as shipped. */
function capCpuRequests(object: Manifest): void {
  for (const container of podContainers(object)) {
    const cpu = container.resources?.requests?.cpu;
    if (cpu !== undefined && milliCpu(cpu) > MAX_CPU_REQUEST_MILLI && container.resources?.requests)
      container.resources.requests.cpu = `${MAX_CPU_REQUEST_MILLI}m`;
  }
}

function configMapData(objects: Manifest[], namespace: string, name: string): Record<string, string> {
  const map: (Manifest & { data?: Record<string, string> }) | undefined = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata?.namespace === namespace && o.metadata.name === name,
  );
  if (map === undefined) throw new Error(`the manifests hold no ConfigMap ${namespace}/${name}`);
  map.data ??= {};
  return map.data;
}

/** Traefik's fixture with our image and unprivileged ports (privileged port -> port + 10000). */
function adaptTraefik(objects: Manifest[], image: string): Manifest[] {
  const unprivileged = (port: number): number => (port < 1024 ? port + 10000 : port);
  for (const object of objects) {
    if (object.kind !== 'Deployment') continue;
    for (const container of podContainers(object)) {
      container.image = image;
      (container as { imagePullPolicy?: string }).imagePullPolicy = 'IfNotPresent';
      container.args = (container.args ?? [])
        .filter((arg) => !arg.startsWith('--log.level'))
        .map((arg) =>
          arg.replace(
            /^(--entrypoints\.\w+\.address=):(\d+)$/,
            (_m, flag: string, port: string) => `${flag}:${String(unprivileged(Number(port)))}`,
          ),
        );
      for (const port of container.ports ?? []) port.containerPort = unprivileged(port.containerPort);
    }
  }
  return objects;
}

export interface KnativeManifests {
  readonly serving: readonly Manifest[];
  readonly eventing: readonly Manifest[];
  readonly traefik: readonly Manifest[];
}

/** Reads and adapts the manifests (pure but for reading the module cache). */
export async function knativeManifests(images: KnativeImages): Promise<KnativeManifests> {
  const servingDir = await moduleDir('knative-serving', `knative.dev/serving@${KNATIVE_VERSION}`);
  const eventingDir = await moduleDir('knative-eventing', `knative.dev/eventing@${KNATIVE_VERSION}`);
  const traefikDir = await moduleDir('traefik', `github.com/traefik/traefik/v3@${TRAEFIK_VERSION}`);

  // Without a version: the one the wrapper's build list (Serving's go.mod) holds.
  const networkingDir = await moduleDir('knative-serving', 'knative.dev/networking');
  const cachingDir = await moduleDir('knative-serving', 'knative.dev/caching');
  const servingFiles = [
    join(cachingDir, 'config', 'image.yaml'),
    ...(await yamlFiles(join(networkingDir, 'config'))),
    ...(await yamlFiles(join(servingDir, 'config', 'core'))),
  ];
  const eventingFiles = [
    ...(await yamlFiles(join(eventingDir, 'config', 'core'))),
    ...(await yamlFiles(join(eventingDir, 'config', 'channels', 'in-memory-channel'))),
    ...(await yamlFiles(join(eventingDir, 'config', 'brokers', 'mt-channel-broker'))),
    // The image names of the integration sources, sinks and transforms, which the controller reads at start
    // (its release bundles them from third_party; none of those images is run here).
    ...(await yamlFiles(join(eventingDir, 'third_party', 'eventing-integrations-latest'))),
  ];
  const serving = resolveImages(await manifestsOf(servingFiles), images.byImportPath) as Manifest[];
  const eventing = resolveImages(await manifestsOf(eventingFiles), images.byImportPath) as Manifest[];
  const fixtures = join(traefikDir, 'integration', 'fixtures', 'knative');
  const traefik = adaptTraefik(
    await manifestsOf([join(fixtures, '01-rbac.yml'), join(fixtures, '02-traefik.yml')]),
    images.traefik,
  );

  const network = configMapData(serving, 'knative-serving', 'config-network');
  network['ingress-class'] = INGRESS_CLASS;
  configMapData(serving, 'knative-serving', 'config-domain')[KNATIVE_DOMAIN] = '';
  // The controller resolves tags to digests by asking the registry itself, by name: the loopback registry
  // has that name only in containerd's mirror table. Images named by digest are never resolved.
  const deployment = configMapData(serving, 'knative-serving', 'config-deployment');
  deployment['registries-skipping-tag-resolving'] = [
    ...(deployment['registries-skipping-tag-resolving'] ?? 'kind.local,ko.local,dev.local').split(','),
    REGISTRY_HOST,
  ].join(',');
  configMapData(eventing, 'knative-eventing', 'config-features')['authentication-oidc'] = 'enabled';
  for (const object of [...serving, ...eventing, ...traefik]) capCpuRequests(object);
  return { serving, eventing, traefik };
}

function isWebhookConfiguration(object: Manifest): boolean {
  return /^(Validating|Mutating)WebhookConfiguration$/.test(object.kind ?? '');
}

/** Server-side apply of the manifests as written: client-node's own patch would drop fields it renames. */
async function apply(client: BoundedObjectApi, objects: readonly Manifest[]): Promise<void> {
  for (const object of objects) await client.applyJson(object, FIELD_MANAGER);
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${String(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function deploymentsAvailable(
  apps: AppsV1Api,
  namespace: string,
  names?: readonly string[],
): Promise<boolean> {
  const list = await apps.listNamespacedDeployment({ namespace });
  const wanted = list.items.filter((d) => names === undefined || names.includes(d.metadata?.name ?? ''));
  return (
    wanted.length > 0 && wanted.every((d) => (d.status?.availableReplicas ?? 0) >= (d.spec?.replicas ?? 1))
  );
}

/** Applies Knative and Traefik and waits until every Deployment of theirs is available. */
export async function installKnative(options: {
  readonly kubeconfigPath: string;
  readonly manifests: KnativeManifests;
  readonly timeoutMs?: number;
}): Promise<{ readonly readyMs: number }> {
  const startedAt = Date.now();
  const timeoutMs = options.timeoutMs ?? 300_000;
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfigPath);
  const client = boundedObjectApi(kc, 60_000);
  const apps = kc.makeApiClient(AppsV1Api);
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  const all = [...options.manifests.serving, ...options.manifests.eventing, ...options.manifests.traefik];

  const first = all.filter((o) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition');
  await apply(client, first);
  const crds = first.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata?.name ?? '');
  await until(
    'the CRDs to be Established',
    async () => {
      const list = await extensions.listCustomResourceDefinition();
      const established = new Set(
        list.items
          .filter((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'))
          .map((c) => c.metadata?.name),
      );
      return crds.every((name) => established.has(name));
    },
    timeoutMs,
  );
  await apply(
    client,
    all.filter((o) => !first.includes(o) && !isWebhookConfiguration(o)),
  );
  for (const namespace of ['knative-serving', 'knative-eventing'])
    await until(
      `the webhook of ${namespace}`,
      () => deploymentsAvailable(apps, namespace, ['webhook', 'eventing-webhook']),
      timeoutMs,
    );
  await apply(client, all.filter(isWebhookConfiguration));
  for (const namespace of ['knative-serving', 'knative-eventing', 'traefik'])
    await until(`the Deployments of ${namespace}`, () => deploymentsAvailable(apps, namespace), timeoutMs);
  return { readyMs: Date.now() - startedAt };
}

/** What tests get of Knative (TestEnv.knative). */
export interface KnativeInfo {
  readonly servingVersion: string;
  readonly eventingVersion: string;
  /** Knative Services answer at <service>.<namespace>.<domain>, sent as Host to the ingress. */
  readonly domain: string;
  /** http://<ClusterIP of Traefik's Service>: the host reaches it through kube-proxy's rules. */
  readonly ingressUrl: string;
  /**
   * http://<ClusterIP of Traefik's Service privtraefik>: the cluster-local ingress, where Knative Services
   * labelled `networking.knative.dev/visibility: cluster-local` answer at <service>.<namespace>.svc.cluster.local.
   */
  readonly privateIngressUrl: string;
  /** kubectl of the environment's Kubernetes release. */
  readonly kubectl: string;
}

/** Pushes the images, installs Knative and Traefik, and answers how tests reach them. */
export async function startKnative(options: {
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly crane: string;
  readonly registry: string;
  readonly binaries: KnativeBinaries;
}): Promise<{ readonly info: KnativeInfo; readonly readyMs: number }> {
  const startedAt = Date.now();
  const images = await pushKnativeImages({
    crane: options.crane,
    registry: options.registry,
    dir: options.dir,
    servingBinDir: options.binaries.knativeServingBinDir,
    eventingBinDir: options.binaries.knativeEventingBinDir,
    traefikBinDir: options.binaries.traefikBinDir,
  });
  await installKnative({ kubeconfigPath: options.kubeconfigPath, manifests: await knativeManifests(images) });
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const clusterIpOf = async (name: string): Promise<string> => {
    const service = await core.readNamespacedService({ name, namespace: 'traefik' });
    const clusterIp = service.spec?.clusterIP;
    if (clusterIp === undefined) throw new Error(`the Service traefik/${name} has no ClusterIP`);
    return clusterIp;
  };
  return {
    info: {
      servingVersion: KNATIVE_VERSION,
      eventingVersion: KNATIVE_VERSION,
      domain: KNATIVE_DOMAIN,
      ingressUrl: `http://${await clusterIpOf('traefik')}`,
      privateIngressUrl: `http://${await clusterIpOf('privtraefik')}`,
      kubectl: join(options.binaries.kubernetesCliBinDir, 'kubectl'),
    },
    readyMs: Date.now() - startedAt,
  };
}
