/**
 * `make bench-knative` (docs/benchmarks.md, "On Knative"): the functions as Knative Services on the test
 * environment's Knative (Serving v0.50.0, Traefik as ingress), side by side with a hello world built the
 * same way, in one run:
 *
 * - images: every function (knative/image/build-images.ts) and the hello world (bench/knative-hello.ts,
 *   bundled and put on the same base layer by the same code), pushed to the node's registry;
 * - in a namespace of its own, each function's Knative Service as knative/base/services.yaml has it (pod
 *   spec, securityContext, resources, probe, port, env from the ConfigMap and Secret the bench creates with
 *   the test servers' addresses, as test/env/product.ts makes them), and beside each a `hello-<function>`
 *   Service with the very same template but the hello world's image; both with the annotations that let an
 *   idle revision go to zero within seconds (window 6s, scale-to-zero-pod-retention-period 0s);
 * - (a) cold start, ROUNDS rounds: once every revision has no pod, GET /readyz (the readiness path) of each
 *   function, then of its hello world, then the next function..., through the cluster-local ingress
 *   (Traefik at privateIngressUrl, Host `<service>.<namespace>.svc.cluster.local`) and the activator; timed
 *   to the first byte of the answer. From the pod's log, when its process listened (the `<name> listening`
 *   line's time), which splits the time into "to listening" (pod, container, Node.js, module load) and
 *   "listening to first byte" (readiness: the function's setup and its database check; activator);
 * - (b) warm: WARM_REQUESTS GET /healthz alternately through the ingress (Traefik, activator or not as the
 *   ServerlessService's mode says, queue-proxy) and straight to the pod IP:8080, each over a kept-alive
 *   connection;
 * - (c) memory of the warm pod: the kubelet's stats summary (GET /api/v1/nodes/<node>/proxy/stats/summary
 *   through the apiserver; cgroup v2 memory.current and memory.stat of each container).
 *
 * The environment: TL_TESTENV_FILE (one with Knative, e.g. `make testenv` with TL_TESTENV_KNATIVE=1), or one
 * started here with startTestEnv({ knative: true }) and stopped at the end. Prints Markdown tables; the
 * figures go to docs/benchmarks.md by hand. FUNCTIONS=a,b measures a few; BENCH_ROUNDS (7),
 * BENCH_WARM_REQUESTS (200).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { baseLayer, basePackages } from '../knative/image/base.ts';
import { buildFunctionImage, buildFunctionImages } from '../knative/image/build-images.ts';
import { functionNames } from '../knative/image/bundle.ts';
import { createTestDatabase } from '../test/env/databases.ts';
import { startTestEnv } from '../test/env/environment.ts';
import { productSettings } from '../test/env/product.ts';
import type { TestEnv } from '../test/env/provided.ts';
import { eventually } from '../test/support/eventually.ts';
import {
  coldStartVerdict,
  containerMemory,
  listeningAt,
  markdownTable,
  summarize,
  type ContainerMemory,
  type Summary,
} from './knative-stats.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const WARM_REQUESTS = Number(process.env.BENCH_WARM_REQUESTS ?? 200);
const FUNCTIONS = process.env.FUNCTIONS?.split(',').filter(Boolean) ?? functionNames();
const HELLO = 'bench-hello';
const HELLO_ENTRY = fileURLToPath(new URL('knative-hello.ts', import.meta.url));
const SERVICES_YAML = fileURLToPath(new URL('../knative/base/services.yaml', import.meta.url));
/** The container name of the functions' template (services.yaml). */
const CONTAINER = 'function';

const uptime = (): string =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`;
const log = (line: string): void => {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
};

interface KnativeService {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: {
    template: {
      metadata?: { annotations?: Record<string, string> };
      spec: { serviceAccountName?: string; containers: { name: string; image: string }[] };
    };
  };
}

/** knative/base/services.yaml's Knative Services by name. */
function productServices(): Map<string, KnativeService> {
  const services = new Map<string, KnativeService>();
  for (const document of parseAllDocuments(readFileSync(SERVICES_YAML, 'utf8'))) {
    const object = document.toJS() as KnativeService | null;
    if (object?.kind === 'Service' && object.apiVersion === 'serving.knative.dev/v1')
      services.set(object.metadata.name, object);
  }
  return services;
}

/** The product's Service `fn` as `name` in `namespace` with `image`, scaling to zero within seconds. */
function benchService(
  template: KnativeService,
  name: string,
  namespace: string,
  image: string,
): KnativeService {
  const service = structuredClone(template);
  service.metadata = { ...service.metadata, name, namespace };
  const revision = service.spec.template;
  revision.metadata = {
    ...revision.metadata,
    annotations: {
      ...revision.metadata?.annotations,
      // An idle revision goes to zero 6 s after its last request, so that each round starts cold; also
      // those the product keeps one pod of (enforce, dead-letter: min-scale 1).
      'autoscaling.knative.dev/min-scale': '0',
      'autoscaling.knative.dev/window': '6s',
      'autoscaling.knative.dev/scale-to-zero-pod-retention-period': '0s',
    },
  };
  const container = revision.spec.containers.find((c) => c.name === CONTAINER);
  if (container === undefined) throw new Error(`${template.metadata.name}: no container ${CONTAINER}`);
  container.image = image;
  return service;
}

/** GET `path` of `url` with `host`; resolves when the answer's first byte (its head) came, and its end. */
function timedGet(
  url: string,
  options: {
    readonly host?: string;
    readonly path: string;
    readonly agent?: Agent;
    readonly timeoutMs?: number;
  },
): Promise<{ status: number; firstByteMs: number; totalMs: number; body: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      `${url}${options.path}`,
      {
        headers: options.host === undefined ? {} : { host: options.host },
        agent: options.agent,
        timeout: options.timeoutMs ?? 120_000,
      },
      (res) => {
        const firstByteMs = performance.now() - started;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, firstByteMs, totalMs: performance.now() - started, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${options.host ?? url} in time`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET on the apiserver with the admin token, JSON. */
function apiserverJson(env: TestEnv, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${env.kubernetes.server}${path}`,
      {
        headers: { authorization: `Bearer ${env.kubernetes.adminToken}` },
        ca: readFileSync(env.kubernetes.caFile),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${path}: ${String(res.statusCode)} ${body}`));
          else resolve(JSON.parse(body) as unknown);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function loadEnv(): Promise<{ env: TestEnv; stop: () => Promise<void> }> {
  const file = process.env.TL_TESTENV_FILE;
  if (file !== undefined && file !== '') {
    const env = JSON.parse(await readFile(file, 'utf8')) as TestEnv;
    if (env.knative === undefined)
      throw new Error(
        `${file} describes an environment without Knative (start it with TL_TESTENV_KNATIVE=1)`,
      );
    return { env, stop: () => Promise.resolve() };
  }
  log('no TL_TESTENV_FILE: starting a test environment with the node and Knative');
  const running = await startTestEnv({ knative: true });
  return { env: running.env, stop: () => running.stop() };
}

interface Cold {
  readonly firstByteMs: number;
  /** From sending the request until the process logged that it listens. */
  readonly toListeningMs: number;
}

interface Warm {
  readonly direct: Summary;
  readonly ingress: Summary;
  readonly mode: string;
  readonly memory: ContainerMemory;
  readonly queueProxy: ContainerMemory;
}

const { env, stop } = await loadEnv();
const { node, knative } = env;
if (node === undefined || knative === undefined) throw new Error('the environment has no Knative');
const kc = new KubeConfig();
kc.loadFromFile(env.kubernetes.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const suffix = randomBytes(4).toString('hex');
const namespace = `bench-kn-${suffix}`;
const out = await mkdtemp(join(tmpdir(), 'tl-bench-knative-'));
const db = await createTestDatabase(env.postgres.url, 'benchkn');
/** Ctrl-C ends the measuring after the current step, and the namespace is deleted as after a full run. */
const interruption = { requested: false };
process.once('SIGINT', () => {
  interruption.requested = true;
});

const hostOf = (service: string): string => `${service}.${namespace}.svc.cluster.local`;
const helloOf = (fn: string): string => `hello-${fn}`;
const ingress = knative.privateIngressUrl;

/** This namespace's pods that are not being deleted, by Knative Service. */
async function livePods(): Promise<Map<string, V1Pod[]>> {
  const pods = await core.listNamespacedPod({ namespace });
  const byService = new Map<string, V1Pod[]>();
  for (const pod of pods.items) {
    const service = pod.metadata?.labels?.['serving.knative.dev/service'];
    if (service === undefined || pod.metadata?.deletionTimestamp !== undefined) continue;
    byService.set(service, [...(byService.get(service) ?? []), pod]);
  }
  return byService;
}

async function readyPod(service: string): Promise<V1Pod> {
  return eventually(
    `a Ready pod of ${service}`,
    async () =>
      (await livePods())
        .get(service)
        ?.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')),
    60_000,
  );
}

async function cold(service: string, logName: string): Promise<Cold> {
  const sentAt = Date.now();
  const answer = await timedGet(ingress, { host: hostOf(service), path: '/readyz' });
  if (answer.status !== 200)
    throw new Error(`${service}: GET /readyz answered ${String(answer.status)}: ${answer.body}`);
  const pod = await readyPod(service);
  const podLog = await core.readNamespacedPodLog({
    name: pod.metadata?.name ?? '',
    namespace,
    container: CONTAINER,
  });
  const listening = listeningAt(podLog, logName);
  if (listening === undefined) throw new Error(`${service}: no "${logName} listening" in its log`);
  return { firstByteMs: answer.firstByteMs, toListeningMs: listening - sentAt };
}

async function warm(service: string): Promise<Warm> {
  const wake = await timedGet(ingress, { host: hostOf(service), path: '/healthz' });
  if (wake.status !== 200) throw new Error(`${service}: /healthz answered ${String(wake.status)}`);
  const pod = await readyPod(service);
  const podName = pod.metadata?.name ?? '';
  const direct = `http://${pod.status?.podIP ?? ''}:8080`;
  const agents = {
    ingress: new Agent({ keepAlive: true, maxSockets: 1 }),
    direct: new Agent({ keepAlive: true, maxSockets: 1 }),
  };
  const times = { ingress: [] as number[], direct: [] as number[] };
  try {
    for (let i = -10; i < WARM_REQUESTS; i++) {
      // Alternating which goes first, so that neither always follows the other.
      const order = i % 2 === 0 ? (['direct', 'ingress'] as const) : (['ingress', 'direct'] as const);
      for (const way of order) {
        const answer =
          way === 'direct'
            ? await timedGet(direct, { path: '/healthz', agent: agents.direct })
            : await timedGet(ingress, { host: hostOf(service), path: '/healthz', agent: agents.ingress });
        if (answer.status !== 200) throw new Error(`${service} (${way}): /healthz ${String(answer.status)}`);
        if (i >= 0) times[way].push(answer.totalMs);
      }
    }
    const revision = pod.metadata?.labels?.['serving.knative.dev/revision'] ?? '';
    const sks = (await custom.getNamespacedCustomObject({
      group: 'networking.internal.knative.dev',
      version: 'v1alpha1',
      namespace,
      plural: 'serverlessservices',
      name: revision,
    })) as { spec?: { mode?: string } };
    // Figures the kubelet read after the warm requests; requests keep the pod from scaling down meanwhile.
    const after = Date.now();
    const memories = await eventually(
      `${service}'s memory in the kubelet's stats summary`,
      async () => {
        await timedGet(ingress, { host: hostOf(service), path: '/healthz', agent: agents.ingress });
        const summary = await apiserverJson(env, `/api/v1/nodes/${node?.name ?? ''}/proxy/stats/summary`);
        const fn = containerMemory(summary, { namespace, pod: podName, container: CONTAINER });
        const qp = containerMemory(summary, { namespace, pod: podName, container: 'queue-proxy' });
        return fn !== undefined && qp !== undefined && Date.parse(fn.time) >= after - 1000
          ? { fn, qp }
          : undefined;
      },
      60_000,
      500,
    );
    return {
      direct: summarize(times.direct),
      ingress: summarize(times.ingress),
      mode: sks.spec?.mode ?? '?',
      memory: memories.fn,
      queueProxy: memories.qp,
    };
  } finally {
    agents.ingress.destroy();
    agents.direct.destroy();
  }
}

const ms = (value: number): string => `${value.toFixed(0)} ms`;
const msFine = (value: number): string => `${value.toFixed(1)} ms`;
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

try {
  log(`start; ${uptime()}; functions: ${FUNCTIONS.join(', ')}; ${String(ROUNDS)} rounds`);
  const builtAt = Date.now();
  const tag = `bench-${suffix}`;
  const { images } = await buildFunctionImages({
    registry: node.registry.address,
    crane: node.crane,
    functions: FUNCTIONS,
    tag,
    insecure: true,
    outRoot: out,
  });
  const packages = await basePackages();
  const hello = await buildFunctionImage({
    name: HELLO,
    entry: HELLO_ENTRY,
    registry: node.registry.address,
    crane: node.crane,
    tag,
    insecure: true,
    base: { layer: await baseLayer(packages), packages },
    outRoot: out,
  });
  const forPods = (digest: string): string => digest.replace(node.registry.address, node.registry.host);
  const imageOf = new Map(images.map((i) => [i.name, forPods(i.digest)]));
  const helloImage = forPods(hello.digest);
  log(`images built and pushed in ${String(Math.round((Date.now() - builtAt) / 1000))} s; ${uptime()}`);

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
  const { config, secrets } = await productSettings(env, { databaseUrl: db.url, logLevel: 'info' });
  await core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: 'tenant-lifecycle-config' }, data: { ...config } },
  });
  for (const [name, data] of Object.entries(secrets))
    await core.createNamespacedSecret({ namespace, body: { metadata: { name }, stringData: { ...data } } });
  const templates = productServices();
  const accounts = new Set(
    FUNCTIONS.map((fn) => templates.get(fn)?.spec.template.spec.serviceAccountName).filter(
      (a): a is string => a !== undefined,
    ),
  );
  // The functions' ServiceAccounts, without the product's roles: no request here calls the apiserver.
  for (const name of accounts)
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });

  // Two pairs at a time, each Ready before the next: the first pods start together on a shared machine.
  const deployedAt = Date.now();
  for (let i = 0; i < FUNCTIONS.length; i += 2) {
    const batch = FUNCTIONS.slice(i, i + 2);
    for (const fn of batch) {
      const template = templates.get(fn);
      if (template === undefined) throw new Error(`services.yaml has no Knative Service ${fn}`);
      for (const [name, image] of [
        [fn, imageOf.get(fn) ?? ''],
        [helloOf(fn), helloImage],
      ] as const)
        await custom.createNamespacedCustomObject({
          group: 'serving.knative.dev',
          version: 'v1',
          namespace,
          plural: 'services',
          body: benchService(template, name, namespace, image),
        });
    }
    await eventually(
      `${batch.join(', ')} and their hello worlds to be Ready`,
      async () => {
        const list = (await custom.listNamespacedCustomObject({
          group: 'serving.knative.dev',
          version: 'v1',
          namespace,
          plural: 'services',
        })) as {
          items: {
            metadata: { name: string };
            status?: { conditions?: { type: string; status: string }[] };
          }[];
        };
        const ready = new Set(
          list.items
            .filter((s) => s.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
            .map((s) => s.metadata.name),
        );
        return batch.every((fn) => ready.has(fn) && ready.has(helloOf(fn))) ? true : undefined;
      },
      600_000,
      1000,
    );
  }
  log(
    `${String(FUNCTIONS.length * 2)} Knative Services Ready in ${String(Math.round((Date.now() - deployedAt) / 1000))} s`,
  );

  const colds = new Map<string, Cold[]>();
  const loads: string[] = [];
  for (let round = 1; round <= ROUNDS && !interruption.requested; round++) {
    const waitedAt = Date.now();
    await eventually(
      'every revision to scale to zero',
      async () => {
        if (interruption.requested) throw new Error('interrupted');
        return (await livePods()).size === 0 ? true : undefined;
      },
      300_000,
      1000,
    );
    loads.push(uptime());
    log(
      `round ${String(round)}: all at zero after ${String(Math.round((Date.now() - waitedAt) / 1000))} s; ${uptime()}`,
    );
    for (const fn of FUNCTIONS) {
      for (const [service, name] of [
        [fn, fn],
        [helloOf(fn), 'hello'],
      ] as const) {
        const result = await cold(service, name);
        colds.set(service, [...(colds.get(service) ?? []), result]);
        log(`  ${service}: first byte ${ms(result.firstByteMs)}, listening at ${ms(result.toListeningMs)}`);
      }
    }
  }

  const warms = new Map<string, Warm>();
  for (const service of [...FUNCTIONS, helloOf(FUNCTIONS[0] ?? '')]) {
    if (interruption.requested) break;
    const result = await warm(service);
    warms.set(service, result);
    log(
      `  ${service} warm: direct ${msFine(result.direct.median)}, ingress ${msFine(result.ingress.median)} (${result.mode}), RSS ${mib(result.memory.rssBytes)}`,
    );
  }
  loads.push(uptime());

  /** Per run: to the first byte, to the log line `listening`, and from it to the first byte. */
  const phases = (runs: readonly Cold[]) => ({
    firstByte: summarize(runs.map((c) => c.firstByteMs)),
    toListening: summarize(runs.map((c) => c.toListeningMs)),
    afterListening: summarize(runs.map((c) => c.firstByteMs - c.toListeningMs)),
  });
  const row = (name: string, own: readonly Cold[], hellos: readonly Cold[]): string[] => {
    const f = phases(own);
    const h = phases(hellos);
    const verdict = coldStartVerdict(f.firstByte.median, h.firstByte.median);
    const over = verdict.overGoalMs < 1 ? '<1 ms' : ms(verdict.overGoalMs);
    return [
      name,
      String(f.firstByte.n),
      `${ms(f.firstByte.median)} / ${ms(f.firstByte.p90)}`,
      `${ms(h.firstByte.median)} / ${ms(h.firstByte.p90)}`,
      `${verdict.ratio.toFixed(2)}x${verdict.met ? '' : ` (${over} over 1.3x)`}`,
      `${ms(f.toListening.median)} / ${ms(h.toListening.median)}`,
      `${ms(f.afterListening.median)} / ${ms(h.afterListening.median)}`,
    ];
  };
  const allHellos = FUNCTIONS.flatMap((fn) => colds.get(helloOf(fn)) ?? []);
  console.log(
    `\nCold start: GET /readyz from zero through ${ingress} (Traefik, cluster-local) and the activator\n`,
  );
  console.log(
    markdownTable(
      [
        'function',
        'n',
        'first byte median / p90',
        'its hello world median / p90',
        'ratio of medians',
        'to listening, median: function / hello',
        'listening to first byte, median: function / hello',
      ],
      [
        ...FUNCTIONS.map((fn) => row(fn, colds.get(fn) ?? [], colds.get(helloOf(fn)) ?? [])),
        row(
          'all functions',
          FUNCTIONS.flatMap((fn) => colds.get(fn) ?? []),
          allHellos,
        ),
      ],
    ),
  );
  console.log(`\nWarm: GET /healthz, ${String(WARM_REQUESTS)} each way, kept-alive connections\n`);
  console.log(
    markdownTable(
      [
        'service',
        'n',
        'pod IP:8080 median / p90',
        'ingress median / p90',
        'overhead (medians)',
        'SKS mode',
        'function container RSS / working set',
        'queue-proxy RSS',
      ],
      [...warms].map(([service, w]) => [
        service,
        String(w.direct.n),
        `${msFine(w.direct.median)} / ${msFine(w.direct.p90)}`,
        `${msFine(w.ingress.median)} / ${msFine(w.ingress.p90)}`,
        msFine(w.ingress.median - w.direct.median),
        w.mode,
        `${mib(w.memory.rssBytes)} / ${mib(w.memory.workingSetBytes)}`,
        mib(w.queueProxy.rssBytes),
      ]),
    ),
  );
  console.log(`\nLoad at each round's start and at the end: ${loads.join('; ')}`);
} finally {
  await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  await eventually(
    `namespace ${namespace} to be gone`,
    () =>
      core.readNamespace({ name: namespace }).then(
        () => undefined,
        () => true,
      ),
    300_000,
    1000,
  ).catch((error: unknown) => {
    console.error(error);
  });
  await db.drop();
  await rm(out, { recursive: true, force: true });
  await stop();
}
