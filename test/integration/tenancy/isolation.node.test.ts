/**
 * Tenant isolation with running pods, on the test node (test/env/node.ts; kube-router enforces the
 * NetworkPolicies, Pod Security Admission runs in the apiserver). The tenants are made by the product: the
 * provision function, in-process, against the environment's servers, configured with a stand-in functions'
 * namespace (FUNCTIONS_NAMESPACE) that carries knative/base/functions-networkpolicy.yaml as shipped (only its
 * namespace changed) and the webide stand-in image (WEBIDE_IMAGE; test/env/starter-images.ts).
 *
 * - A pod of tenant A reaches A's own pod and Service by name (DNS), resolves kubernetes.default, and cannot
 *   reach tenant B's pod or Service nor the functions' pod; the same for B towards A. Each probe is one pod
 *   whose own reach and the refused ones are measured together, so a refusal never comes from a pod that
 *   reaches nothing.
 * - The functions' NetworkPolicy by itself: a namespace that no tenant policy limits is refused, and gets in
 *   on port 8080 once labelled as the metrics scraper's.
 * - Pod Security: a privileged pod, a host-network pod and a hostPath pod are refused in a tenant namespace;
 *   a restricted pod beside them is admitted.
 * - The webide plan's starter becomes Ready on a static PersistentVolume pre-bound to its claim, and its
 *   Service asks for the password returned once by provision.
 *
 * Every name carries this file's random suffix; everything is removed afterwards (the tenants through
 * deprovision).
 */
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  StorageV1Api,
  type V1Container,
  type V1NetworkPolicy,
  type V1Pod,
  type V1PodSpec,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import { pushWebIdeStandin } from '../../env/starter-images.ts';
import {
  ensureTenantClusterRole,
  FUNCTION_TOKEN,
  startTenantFunctions,
  type RunningTenantFunctions,
} from '../../support/tenant-functions.ts';
import type { NodeInfo } from '../../env/node.ts';
import type { TestEnv } from '../../env/provided.ts';
import { eventually as poll } from '../../support/eventually.ts';

const env = inject('testEnv');
function nodeOf(info: TestEnv['node']): NodeInfo {
  if (info === undefined)
    throw new Error(
      'this test environment has no node: run with test/vitest.node.config.ts (`make test-node`)',
    );
  return info;
}
const node = nodeOf(env.node);
const kc = new KubeConfig();
kc.loadFromFile(env.kubernetes.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);
const storage = kc.makeApiClient(StorageV1Api);

const suffix = randomBytes(3).toString('hex');
const tenantA = `iso-a-${suffix}`;
const tenantB = `iso-b-${suffix}`;
const tenantIde = `iso-ide-${suffix}`;
/** Stands in for the functions' namespace: FUNCTIONS_NAMESPACE of the provision function below. */
const functionsNamespace = `iso-fns-${suffix}`;
/** A namespace without tenant policies, from which the functions' NetworkPolicy alone is tried. */
const outsiderNamespace = `iso-out-${suffix}`;
const SCRAPER_LABEL = 'tenant-lifecycle.dev/scrapes-functions';
const webIdeVolume = `iso-webide-home-${suffix}`;
const webIdeHostPath = join(env.workDir, `isolation-${suffix}`, 'webide-home');

const restricted = {
  pod: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
  container: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
};

let db: TestDatabase;
let functions: RunningTenantFunctions | undefined;

function running(): RunningTenantFunctions {
  if (functions === undefined) throw new Error('the tenant functions did not start');
  return functions;
}
/** Pod IP of the web server of each namespace. */
const webIp = new Map<string, string>();
/** provision's answer for the webide tenant. */
let ideAnswer: { namespace: string; starter_password?: string };

/** This file's waits: at most 90 s, polling every 500 ms. */
const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> =>
  poll(what, probe, timeoutMs, 500);

function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** Runs a one-container pod to completion; resolves its phase and log. */
async function runPod(
  namespace: string,
  name: string,
  container: Pick<V1Container, 'image' | 'command' | 'args' | 'env'>,
  extra: Partial<V1PodSpec> = {},
): Promise<{ phase: string; log: string }> {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        securityContext: restricted.pod,
        containers: [{ name: 'main', ...container, securityContext: restricted.container }],
        ...extra,
      },
    },
  });
  const pod = await eventually(`pod ${namespace}/${name} to finish`, async () => {
    const current = await core.readNamespacedPod({ name, namespace });
    return current.status?.phase === 'Succeeded' || current.status?.phase === 'Failed' ? current : undefined;
  });
  const log = await core.readNamespacedPodLog({ name, namespace, container: 'main' });
  return { phase: pod.status?.phase ?? '', log };
}

const runScript = (namespace: string, name: string, script: string) =>
  runPod(namespace, name, { image: node.images.busybox, command: ['sh', '-c', script] });

/** A busybox web server on 8080 answering "hello from <namespace>", behind the Service `web` (port 80). */
async function startWeb(namespace: string): Promise<void> {
  await core
    .createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'web', labels: { app: 'web' } },
        spec: {
          securityContext: restricted.pod,
          containers: [
            {
              name: 'main',
              image: node.images.busybox,
              command: [
                'sh',
                '-c',
                `mkdir -p /tmp/www && echo "hello from ${namespace}" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www`,
              ],
              ports: [{ containerPort: 8080 }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
              securityContext: restricted.container,
            },
          ],
        },
      },
    })
    .catch((error: unknown) => {
      throw new Error(`the web pod of ${namespace} was refused`, { cause: error });
    });
  await core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
  });
}

async function waitWebReady(namespace: string): Promise<void> {
  const pod = await eventually(`the web pod of ${namespace} to be Ready`, async () => {
    const current = await core.readNamespacedPod({ name: 'web', namespace });
    return isReady(current) ? current : undefined;
  });
  webIp.set(namespace, pod.status?.podIP ?? '');
}

/**
 * The shell of a probe: for each target a line `<label>: <page>` when it answered, or
 * `<label>: refused (<wget's error>)` when it did not within 5 s.
 */
function probeScript(targets: readonly (readonly [label: string, url: string])[]): string {
  return [
    'probe() { if page=$(timeout 5 wget -q -O - "$2" 2>/tmp/err); then echo "$1: $page"; ' +
      'else echo "$1: refused ($(tr "\\n" " " </tmp/err))"; fi; }',
    ...targets.map(([label, url]) => `probe ${label} ${url}`),
  ].join('\n');
}

/**
 * Runs probe pods in `namespace` (a fresh one per attempt) until `done` holds for one of them; kube-router
 * learns a new pod's address after the pod starts, so its first requests may not be judged yet.
 */
async function probeUntil(
  namespace: string,
  name: string,
  script: string,
  done: (log: string) => boolean,
): Promise<{ log: string; attempts: number }> {
  let attempts = 0;
  let last = '';
  try {
    const log = await eventually(`${name} in ${namespace}`, async () => {
      attempts += 1;
      last = (await runScript(namespace, `${name}-${String(attempts)}`, script)).log;
      return done(last) ? last : undefined;
    });
    return { log, attempts };
  } catch (error) {
    throw new Error(`${name} in ${namespace}: ${String(attempts)} attempts, the last saw:\n${last}`, {
      cause: error,
    });
  }
}

async function provision(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(`${running().provision.url}/provisioner`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200) throw new Error(`provision answered ${String(response.status)}`);
  return answer;
}

async function deprovision(username: string): Promise<void> {
  const response = await fetch(`${running().deprovision.url}/provisioner`, {
    method: 'DELETE',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify({ email: `${username}@example.org` }),
  });
  await response.arrayBuffer();
}

/** The shipped NetworkPolicy of the functions' namespace, moved to `namespace`. */
async function shippedFunctionsPolicy(namespace: string): Promise<V1NetworkPolicy> {
  const text = await readFile(
    new URL('../../../knative/base/functions-networkpolicy.yaml', import.meta.url),
    'utf8',
  );
  const [document] = parseAllDocuments(text);
  const policy = document?.toJS() as {
    metadata: { namespace: string };
    spec: { ingress: { from: Record<string, unknown>[] }[] };
  };
  // The YAML says `from`; the client's model calls it `_from`.
  return {
    ...policy,
    metadata: { ...policy.metadata, namespace },
    spec: {
      ...policy.spec,
      ingress: policy.spec.ingress.map(({ from, ...rest }) => ({ ...rest, _from: from })),
    },
  };
}

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'isolation');
  await ensureTenantClusterRole(env);
  const webIdeImage = await pushWebIdeStandin(node);
  functions = await startTenantFunctions(env, db.url, {
    overrides: { FUNCTIONS_NAMESPACE: functionsNamespace, WEBIDE_IMAGE: webIdeImage },
  });

  for (const name of [functionsNamespace, outsiderNamespace]) {
    await core.createNamespace({ body: { metadata: { name } } });
    await eventually(`the default ServiceAccount of ${name}`, () =>
      core
        .readNamespacedServiceAccount({ name: 'default', namespace: name })
        .then(() => true)
        .catch(() => undefined),
    );
  }
  await networking.createNamespacedNetworkPolicy({
    namespace: functionsNamespace,
    body: await shippedFunctionsPolicy(functionsNamespace),
  });

  // The webide's volume: a directory of uid 1000 (the IDE's user) and a PersistentVolume bound in advance to
  // the claim the starter makes, of the class the claim will get (the default one, or none).
  await mkdir(webIdeHostPath, { recursive: true });
  await chown(webIdeHostPath, 1000, 1000);
  const classes = await storage.listStorageClass();
  const defaultClass = classes.items.find(
    (c) => c.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true',
  );
  await core.createPersistentVolume({
    body: {
      metadata: { name: webIdeVolume },
      spec: {
        capacity: { storage: '2Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: defaultClass?.metadata?.name ?? '',
        hostPath: { path: webIdeHostPath, type: 'Directory' },
        claimRef: { namespace: tenantIde, name: 'webide-home' },
      },
    },
  });

  for (const tenant of [tenantA, tenantB]) {
    const answer = await provision({ email: `${tenant}@example.org` });
    expect(answer).toMatchObject({ namespace: tenant, plan: 'default' });
  }
  ideAnswer = (await provision({ email: `${tenantIde}@example.org`, plan: 'webide' })) as typeof ideAnswer;
  expect(ideAnswer.namespace).toBe(tenantIde);

  for (const namespace of [tenantA, tenantB, functionsNamespace, outsiderNamespace])
    await startWeb(namespace);
  for (const namespace of [tenantA, tenantB, functionsNamespace, outsiderNamespace])
    await waitWebReady(namespace);
});

afterAll(async () => {
  if (functions !== undefined) {
    for (const tenant of [tenantA, tenantB, tenantIde]) await deprovision(tenant).catch(() => undefined);
    await functions.stop();
  }
  for (const name of [functionsNamespace, outsiderNamespace])
    await core.deleteNamespace({ name }).catch(() => undefined);
  await core.deletePersistentVolume({ name: webIdeVolume }).catch(() => undefined);
  await rm(join(env.workDir, `isolation-${suffix}`), { recursive: true, force: true });
  await db.drop();
});

describe('tenant isolation with running pods', () => {
  /** What a tenant's pod tries: its own pod and Service, DNS, the other tenant, the functions' pod. */
  function tenantProbe(own: string, other: string): string {
    return [
      'echo "dns: $(nslookup kubernetes.default.svc.cluster.local 2>&1 | tr "\\n" " ")"',
      probeScript([
        ['own-pod', `http://${webIp.get(own) ?? ''}:8080/`],
        ['own-service', 'http://web/'],
        ['other-pod', `http://${webIp.get(other) ?? ''}:8080/`],
        ['other-service', `http://web.${other}.svc.cluster.local/`],
        ['functions-pod', `http://${webIp.get(functionsNamespace) ?? ''}:8080/`],
        ['functions-service', `http://web.${functionsNamespace}.svc.cluster.local/`],
      ]),
    ].join('\n');
  }

  for (const [own, other] of [
    [tenantA, tenantB],
    [tenantB, tenantA],
  ] as const) {
    it(
      `a pod of ${own.slice(0, 5)} reaches its own pods and DNS, and neither the other tenant nor the functions`,
      { timeout: 240_000 },
      async () => {
        const { log, attempts } = await probeUntil(
          own,
          'probe',
          tenantProbe(own, other),
          (log) =>
            log.includes(`own-pod: hello from ${own}`) &&
            log.includes(`own-service: hello from ${own}`) &&
            !/(other|functions)-\w+: hello/.test(log),
        );
        console.log(`probe from ${own} (attempt ${String(attempts)}):\n${log}`);
        // Positive controls, in the same pod as the refusals below.
        expect(log).toContain(`own-pod: hello from ${own}`);
        expect(log).toContain(`own-service: hello from ${own}`);
        expect(log).toMatch(
          /dns: .*Name:\s+kubernetes\.default\.svc\.cluster\.local\s+Address:\s+10\.0\.0\.1\b/,
        );
        for (const label of ['other-pod', 'other-service', 'functions-pod', 'functions-service'])
          expect(log).toMatch(new RegExp(`^${label}: refused`, 'm'));
        expect(log).not.toContain(`hello from ${other}`);
        expect(log).not.toContain(`hello from ${functionsNamespace}`);
      },
    );
  }

  it(
    'the functions’ NetworkPolicy as shipped keeps out a namespace no tenant policy limits, and lets the scraper’s in',
    { timeout: 240_000 },
    async () => {
      const targets = probeScript([
        ['own-pod', `http://${webIp.get(outsiderNamespace) ?? ''}:8080/`],
        ['functions-pod', `http://${webIp.get(functionsNamespace) ?? ''}:8080/`],
      ]);
      const unlabelled = await probeUntil(
        outsiderNamespace,
        'unlabelled',
        targets,
        (log) =>
          log.includes(`own-pod: hello from ${outsiderNamespace}`) && log.includes('functions-pod: refused'),
      );
      expect(unlabelled.log).toContain(`own-pod: hello from ${outsiderNamespace}`);
      expect(unlabelled.log).toMatch(/^functions-pod: refused/m);
      // The same namespace, labelled as the metrics scraper's: the policy's second rule lets it in on 8080.
      await core.patchNamespace({
        name: outsiderNamespace,
        body: [{ op: 'add', path: `/metadata/labels/${SCRAPER_LABEL.replace('/', '~1')}`, value: 'true' }],
      });
      const labelled = await probeUntil(outsiderNamespace, 'labelled', targets, (log) =>
        log.includes(`functions-pod: hello from ${functionsNamespace}`),
      );
      console.log(
        `functions' policy: unlabelled (attempt ${String(unlabelled.attempts)}):\n${unlabelled.log}` +
          `labelled (attempt ${String(labelled.attempts)}):\n${labelled.log}`,
      );
      expect(labelled.log).toContain(`functions-pod: hello from ${functionsNamespace}`);
    },
  );

  it('refuses privileged, host-network and hostPath pods in a tenant namespace, and admits a restricted one', async () => {
    const container = (securityContext: Record<string, unknown>) => ({
      name: 'main',
      image: node.images.busybox,
      command: ['sleep', '1'],
      securityContext: { ...restricted.container, ...securityContext },
    });
    const create = (name: string, spec: V1PodSpec) =>
      core
        .createNamespacedPod({ namespace: tenantA, body: { metadata: { name }, spec } })
        .then((pod) => ({ code: 201, body: pod.metadata?.name ?? '' }))
        .catch((error: unknown) => {
          if (!(error instanceof ApiException)) throw error;
          const status = JSON.parse(String(error.body)) as { message?: string };
          return { code: error.code, body: status.message ?? '' };
        });
    const base = { restartPolicy: 'Never', securityContext: restricted.pod };
    const admitted = await create('restricted', { ...base, containers: [container({})] });
    expect(admitted).toEqual({ code: 201, body: 'restricted' });

    const privileged = await create('privileged', {
      ...base,
      containers: [container({ privileged: true, allowPrivilegeEscalation: true })],
    });
    const hostNetwork = await create('host-network', {
      ...base,
      hostNetwork: true,
      containers: [container({})],
    });
    const hostPath = await create('host-path', {
      ...base,
      containers: [{ ...container({}), volumeMounts: [{ name: 'root', mountPath: '/host' }] }],
      volumes: [{ name: 'root', hostPath: { path: '/' } }],
    });
    for (const [refused, field] of [
      [privileged, 'privileged'],
      [hostNetwork, 'host namespaces'],
      [hostPath, 'restricted volume type "hostPath"'],
    ] as const) {
      expect(refused.code).toBe(403);
      expect(refused.body).toContain('violates PodSecurity "restricted:latest"');
      expect(refused.body).toContain(field);
    }
    const pods = await core.listNamespacedPod({ namespace: tenantA });
    expect(pods.items.map((p) => p.metadata?.name)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^(privileged|host-network|host-path)$/)]),
    );
  });
});

describe('the webide plan’s starter', () => {
  it(
    'becomes Ready on its pre-bound volume, and its Service asks for the password provision returned',
    { timeout: 300_000 },
    async () => {
      const password = ideAnswer.starter_password ?? '';
      expect(password).toMatch(/^[A-Za-z0-9]{24}$/);
      const deployment = await eventually(
        'the webide Deployment to be available',
        async () => {
          const current = await apps.readNamespacedDeployment({ name: 'webide', namespace: tenantIde });
          return current.status?.availableReplicas === 1 ? current : undefined;
        },
        240_000,
      );
      const [pod] = (await core.listNamespacedPod({ namespace: tenantIde, labelSelector: 'app=webide' }))
        .items;
      if (pod === undefined) throw new Error('no webide pod');
      // Figures from the API's timestamps (whole seconds): Deployment created -> available, pod -> Ready.
      const at = (time: Date | string | undefined) => new Date(time ?? 0).getTime();
      const podCondition = (type: string) =>
        at(pod.status?.conditions?.find((c) => c.type === type)?.lastTransitionTime);
      const available = at(
        deployment.status?.conditions?.find((c) => c.type === 'Available')?.lastTransitionTime,
      );
      const podCreated = at(pod.metadata?.creationTimestamp);
      console.log(
        `webide: Deployment created -> available ${String(available - at(deployment.metadata?.creationTimestamp))} ms; ` +
          `pod created -> scheduled ${String(podCondition('PodScheduled') - podCreated)} ms, ` +
          `-> Ready ${String(podCondition('Ready') - podCreated)} ms (API timestamps, 1 s resolution)`,
      );
      expect(deployment.status?.readyReplicas).toBe(1);
      const claim = await core.readNamespacedPersistentVolumeClaim({
        name: 'webide-home',
        namespace: tenantIde,
      });
      expect(claim.spec?.volumeName).toBe(webIdeVolume);
      expect(claim.status?.phase).toBe('Bound');
      // The IDE wrote its state, as uid 1000, into the volume.
      const started = await stat(join(webIdeHostPath, '.local', 'share', 'webide-standin', 'started'));
      expect(started.uid).toBe(1000);

      const secret = await core.readNamespacedSecret({ name: 'webide-auth', namespace: tenantIde });
      expect(Buffer.from(secret.data?.PASSWORD ?? '', 'base64').toString()).toBe(password);

      const script = [
        "const base = 'http://webide';",
        'const status = async (path, init = {}) => {',
        "  const r = await fetch(base + path, { redirect: 'manual', ...init });",
        "  return { status: r.status, location: r.headers.get('location'), cookie: r.headers.get('set-cookie'), body: await r.text() };",
        '};',
        'const form = (password) => ({ method: "POST", body: new URLSearchParams({ password }) });',
        'try {',
        "  const anonymous = await status('/');",
        "  const wrong = await status('/login', form('not-the-password'));",
        "  const login = await status('/login', form(process.env.PASSWORD));",
        "  const cookie = (login.cookie ?? '').split(';')[0];",
        "  const signedIn = await status('/', { headers: { cookie } });",
        '  console.log(JSON.stringify({ anonymous: [anonymous.status, anonymous.location], wrong: wrong.status,',
        '    login: [login.status, cookie.startsWith("key=")], signedIn: [signedIn.status, signedIn.body.trim()] }));',
        '} catch (error) { console.log(JSON.stringify({ error: String(error.cause ?? error) })); }',
      ].join('\n');
      let attempts = 0;
      const seen = await eventually('a pod of the tenant to reach its webide', async () => {
        attempts += 1;
        const { log } = await runPod(tenantIde, `webide-client-${String(attempts)}`, {
          image: node.images.nodejs,
          args: ['--input-type=module', '-e', script],
          env: [{ name: 'PASSWORD', value: password }],
        });
        const result = JSON.parse(log) as Record<string, unknown>;
        return 'error' in result ? undefined : result;
      });
      expect(seen).toEqual({
        anonymous: [302, './login'],
        wrong: 401,
        login: [302, true],
        signedIn: [200, `webide of ${tenantIde}`],
      });
    },
  );
});
