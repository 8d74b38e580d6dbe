/**
 * Proves the test node (test/env/node.ts) runs pods as the product's workloads will run: it is Ready, pulls
 * from the loopback registry, runs a non-root image as its numeric user, resolves cluster names through
 * CoreDNS, reaches Services through kube-proxy and the apiserver through the `kubernetes` Service with the
 * pod's ServiceAccount token, reaches the environment's servers at the host address and nothing else of
 * the host, reaches nothing outside the machine, runs the Node.js base image, and is kept out of a
 * neighbour's pods by a NetworkPolicy.
 *
 * Each check runs in a pod whose command prints what it saw and exits; the test reads the pod's phase and
 * its log (through the apiserver and the kubelet's API).
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo } from 'node:net';
import {
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  type V1Container,
  type V1Pod,
  type V1PodSecurityContext,
  type V1PodSpec,
  type V1SecurityContext,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../../env/provided.ts';
import { eventually } from '../../support/eventually.ts';

const env = inject('testEnv');
const node = env.node;
if (node === undefined)
  throw new Error(
    'this test environment has no node: run with test/vitest.node.config.ts (`make test-node`), ' +
      'or reuse an environment started with TL_TESTENV_NODE=1',
  );
const kc = new KubeConfig();
kc.loadFromFile(env.kubernetes.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const networking = kc.makeApiClient(NetworkingV1Api);
const namespace = `node-${randomBytes(4).toString('hex')}`;
/** A neighbour namespace, which the NetworkPolicy of `namespace` keeps out. */
const otherNamespace = `${namespace}-other`;
const busybox = node.images.busybox;

/** What every test pod runs with: the restricted Pod Security profile, user from the image. */
const restricted: { securityContext: V1PodSecurityContext; container: V1SecurityContext } = {
  securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
  container: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
};

/** Runs `script` in a busybox pod to completion; resolves its phase and log. */
function runScript(
  name: string,
  script: string,
  extra: Partial<V1PodSpec> = {},
  inNamespace = namespace,
): Promise<{ phase: string; log: string; pod: V1Pod }> {
  return runPod(name, { image: busybox, command: ['sh', '-c', script] }, extra, inNamespace);
}

/** Runs a one-container pod to completion; resolves its phase and log. */
async function runPod(
  name: string,
  container: Pick<V1Container, 'image' | 'command' | 'args'>,
  extra: Partial<V1PodSpec> = {},
  inNamespace = namespace,
): Promise<{ phase: string; log: string; pod: V1Pod }> {
  await core.createNamespacedPod({
    namespace: inNamespace,
    body: {
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        securityContext: restricted.securityContext,
        containers: [{ name: 'main', ...container, securityContext: restricted.container }],
        ...extra,
      },
    },
  });
  const pod = await eventually(`pod ${name} to finish`, async () => {
    const current = await core.readNamespacedPod({ name, namespace: inNamespace });
    return current.status?.phase === 'Succeeded' || current.status?.phase === 'Failed' ? current : undefined;
  });
  const log = await core.readNamespacedPodLog({ name, namespace: inNamespace, container: 'main' });
  return { phase: pod.status?.phase ?? '', log, pod };
}

beforeAll(async () => {
  for (const name of [namespace, otherNamespace]) {
    await core.createNamespace({ body: { metadata: { name } } });
    // Pods are admitted once the namespace's default ServiceAccount exists.
    await eventually('the default ServiceAccount', async () =>
      core
        .readNamespacedServiceAccount({ name: 'default', namespace: name })
        .then(() => true)
        .catch(() => undefined),
    );
  }
  // A web server behind a Service, for the pods below to reach.
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        securityContext: restricted.securityContext,
        containers: [
          {
            name: 'main',
            image: busybox,
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
  });
  await core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
  });
  await eventually('the web pod to be Ready', async () => {
    const pod = await core.readNamespacedPod({ name: 'web', namespace });
    return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
      ? true
      : undefined;
  });
});

afterAll(async () => {
  for (const name of [namespace, otherNamespace]) await core.deleteNamespace({ name }).catch(() => undefined);
});

describe('the test node', () => {
  it('is Ready, with the kubelet and runtime it was built from', async () => {
    const current = await core.readNode({ name: node.name });
    expect(current.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(current.status?.nodeInfo?.kubeletVersion).toBe('v1.34.10');
    expect(current.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\./);
    expect(current.status?.addresses).toContainEqual({ type: 'InternalIP', address: node.hostAddress });
  });

  it('runs an image of the loopback registry as its numeric user under runAsNonRoot', async () => {
    const { phase, log, pod } = await runScript('whoami', 'echo "uid=$(id -u) gid=$(id -g)"');
    expect(phase).toBe('Succeeded');
    expect(log.trim()).toBe('uid=1000 gid=1000');
    expect(pod.status?.containerStatuses?.[0]?.image).toBe(busybox);
    expect(pod.status?.podIP).toMatch(/^10\.244\.0\./);
  });

  it('resolves cluster names through CoreDNS and reaches a Service by its ClusterIP', async () => {
    const service = await core.readNamespacedService({ name: 'web', namespace });
    const clusterIP = service.spec?.clusterIP ?? '';
    const { phase, log } = await runScript(
      'dns-and-service',
      [
        'cat /etc/resolv.conf',
        'nslookup kubernetes.default.svc.cluster.local',
        `nslookup web.${namespace}.svc.cluster.local`,
        `timeout 5 wget -q -O - http://${clusterIP}/`,
        'timeout 5 wget -q -O - http://web/',
      ].join(' && '),
    );
    expect(phase, log).toBe('Succeeded');
    expect(log).toContain(`nameserver ${node.clusterDns}`);
    expect(log).toMatch(/Name:\s+kubernetes\.default\.svc\.cluster\.local\s+Address:\s+10\.0\.0\.1\b/);
    expect(log).toContain(`Address: ${clusterIP}`);
    expect(log.split('\n').filter((line) => line === `hello from ${namespace}`)).toHaveLength(2);
  });

  it('reaches the apiserver through the kubernetes Service with its ServiceAccount token', async () => {
    const review = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
    const path = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
    const { phase, log } = await runScript(
      'apiserver',
      [
        'echo "service: $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"',
        // The same call without the token: the apiserver answers, and refuses it.
        `kubeapi -method POST -data '${review}' -no-token ${path} || true`,
        `kubeapi -method POST -data '${review}' ${path}`,
      ].join(' && '),
    );
    expect(phase, log).toBe('Succeeded');
    expect(log).toContain('service: 10.0.0.1:443');
    expect(log).toMatch(/status 403\n.*system:anonymous/);
    expect(log).toMatch(/status 201\n.*"username":"system:serviceaccount:[^"]+:default"/);
    expect(log).toContain(`"username":"system:serviceaccount:${namespace}:default"`);
  });

  it('reaches nothing outside the machine, while the in-cluster Service answers', async () => {
    const { phase, log } = await runScript(
      'egress',
      [
        'ip route',
        'echo "service: $(timeout 5 wget -q -O - http://web/)"',
        'if timeout 5 wget -q -O - http://192.0.2.1/ 2>/tmp/err; then echo "outside: reached"; ' +
          'else echo "outside: $(cat /tmp/err)"; fi',
      ].join('; '),
    );
    expect(phase).toBe('Succeeded');
    // Positive control: the Service beside it answers.
    expect(log).toContain(`service: hello from ${namespace}`);
    // No route out of the machine: the connection fails at once, before any packet leaves.
    expect(log).toMatch(/outside: .*Network is unreachable/);
    expect(log).not.toContain('outside: reached');
    expect(log).not.toMatch(/^default /m);
    expect(log).toContain(`10.0.0.0/24 via ${node.hostAddress}`);
  });

  it('reaches the servers of the environment at the host address, and no other port of the host', async () => {
    // A server on the host address that the environment does not relay: the host reaches it, pods must not.
    const unrelayed = createServer((socket) => socket.end('unrelayed\n'));
    await new Promise<void>((resolve) => unrelayed.listen(0, node.hostAddress, resolve));
    const unrelayedPort = (unrelayed.address() as AddressInfo).port;
    try {
      const fromHost = await new Promise<string>((resolve, reject) => {
        const socket = connect(unrelayedPort, node.hostAddress);
        socket.on('data', (data) => {
          resolve(data.toString().trim());
        });
        socket.on('error', reject);
      });
      expect(fromHost).toBe('unrelayed');
      const port = (url: string): string => new URL(url).port;
      const host = node.hostAddress;
      const { phase, log } = await runScript(
        'host-ports',
        [
          `nc -w 3 ${host} ${port(env.kubernetes.server)} </dev/null && echo "apiserver: open"`,
          `nc -w 3 ${host} ${env.postgres.port} </dev/null && echo "postgres: open"`,
          `echo "keycloak: $(timeout 5 wget -q -O - http://${host}:${port(env.keycloak.url)}/realms/master | head -c 20)"`,
          `echo "grafana: $(timeout 5 wget -q -O - http://${host}:${port(env.grafana.url)}/api/health)"`,
          `if nc -w 3 ${host} ${unrelayedPort} </dev/null; then echo "unrelayed: open"; else echo "unrelayed: closed"; fi`,
        ].join('; '),
      );
      expect(phase).toBe('Succeeded');
      expect(log).toContain('apiserver: open');
      expect(log).toContain('postgres: open');
      expect(log).toContain('keycloak: {"realm":"master"');
      expect(log).toContain('grafana: {"database":"ok"');
      expect(log).toContain('unrelayed: closed');
      expect(log).not.toContain('unrelayed: open');
    } finally {
      await new Promise((resolve) => unrelayed.close(resolve));
    }
  });

  it('runs Node.js 24 of the base image as user 1000, resolving and reaching a Service', async () => {
    const script = [
      "const { readFileSync, existsSync } = await import('node:fs');",
      "const page = await (await fetch('http://web/')).text();",
      "const bundle = readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8');",
      'console.log(JSON.stringify({ version: process.version, uid: process.getuid(), gid: process.getgid(),',
      "  page: page.trim(), certificates: bundle.split('BEGIN CERTIFICATE').length - 1,",
      "  shell: existsSync('/bin/sh') }));",
    ].join('\n');
    const { phase, log } = await runPod('nodejs', {
      image: node.images.nodejs,
      args: ['--input-type=module', '-e', script],
    });
    expect(phase, log).toBe('Succeeded');
    const seen = JSON.parse(log) as Record<string, unknown>;
    const tag = node.images.nodejs.split(':').pop() ?? '';
    expect(tag).toMatch(/^24\./);
    expect(seen).toEqual({
      version: `v${tag}`,
      uid: 1000,
      gid: 1000,
      page: `hello from ${namespace}`,
      certificates: expect.any(Number) as number,
      shell: false,
    });
    expect(seen.certificates).toBeGreaterThan(100);
  });

  // Two waits for kube-router (up to 90 s each).
  it(
    'enforces a NetworkPolicy: the neighbour namespace is kept out, the own namespace gets in',
    { timeout: 240_000 },
    async () => {
      const fetchWeb = `echo "web: $(timeout 5 wget -q -O - http://web.${namespace}.svc.cluster.local/ || echo refused)"`;
      // Before the policy the neighbour gets in: the policy below is what keeps it out.
      const before = await runScript('neighbour-before', fetchWeb, {}, otherNamespace);
      expect(before.log).toContain(`web: hello from ${namespace}`);
      await networking.createNamespacedNetworkPolicy({
        namespace,
        body: {
          metadata: { name: 'web-from-own-namespace' },
          spec: {
            podSelector: { matchLabels: { app: 'web' } },
            policyTypes: ['Ingress'],
            ingress: [{ _from: [{ podSelector: {} }] }],
          },
        },
      });
      try {
        // Enforcement follows the policy asynchronously: try until the neighbour is kept out.
        let attempt = 0;
        await eventually('the policy to keep the neighbour out', async () => {
          const { log } = await runScript(`neighbour-${String(attempt++)}`, fetchWeb, {}, otherNamespace);
          return log.includes('web: refused') ? true : undefined;
        });
        // Positive control, right after: a pod of the web pod's own namespace gets the page. kube-router adds a
        // new pod's address to the policy's allowed set when it sees the pod, which can be after the pod's first
        // request: a fresh pod tries until it is admitted (the neighbour above never is).
        let ownAttempt = 0;
        const own = await eventually('a pod of the own namespace to get in', async () => {
          const { log } = await runScript(`own-namespace-${String(ownAttempt++)}`, fetchWeb);
          return log.includes(`web: hello from ${namespace}`) ? log : undefined;
        });
        expect(own).toContain(`web: hello from ${namespace}`);
      } finally {
        await networking.deleteNamespacedNetworkPolicy({ name: 'web-from-own-namespace', namespace });
      }
    },
  );
});
