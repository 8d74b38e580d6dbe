/**
 * The opt-in test node (TL_TESTENV_NODE=1, or `startTestEnv({ node: true })`): a real Kubernetes node beside
 * the control plane, so that pods run.
 *
 * - containerd 1.6 and runc (Debian packages) with root, state and socket in the work dir, the CRI plugin on
 *   cgroupfs with `restrict_oom_score_adj` (root here lacks CAP_SYS_RESOURCE), the bridge CNI and
 *   REGISTRY_HOST mapped to the loopback registry over plain HTTP;
 * - the loopback OCI registry (`crane registry serve`) holding the node's images (node-images.ts);
 * - CNI: Debian's bridge and host-local plugins on the node's bridge (node-host.ts), no masquerade, and the
 *   only route besides the pod subnet goes to the Service range through the host: no default route, so
 *   nothing outside the machine can be reached;
 * - kube-scheduler, kube-proxy (iptables mode, NodePorts on the bridge only, conntrack and localnet sysctls
 *   left alone) and a kubelet (cgroupfs, cgroup v1 tolerated, swap tolerated, TLS from the environment's CA,
 *   token kubeconfig of user system:node:<name>), all 1.34 from the Kubernetes wrapper module;
 * - CoreDNS as a Deployment in kube-system behind the Service `kube-dns` at CLUSTER_DNS, answering for
 *   cluster.local only;
 * - NetworkPolicy enforcement: kube-router v2.1.0 with only its firewall (iptables and ipset), as user
 *   system:kube-router with read access to what it watches.
 *
 * Stopping kills every container, then the node's servers, and undoes the host changes (releaseHost).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import type { NodeBinaries } from './binaries.ts';
import { issueServingCertificate, type CertificateAuthority } from './certificates.ts';
import { httpsGet, kubeconfig, type ControlPlane } from './kubernetes.ts';
import {
  BRIDGE,
  CLUSTER_DNS,
  CNI_NETWORK,
  HOST_ADDRESS,
  killContainers,
  NODE_NAME,
  POD_SUBNET,
  releaseHost,
  SERVICE_SUBNET,
  type HostState,
} from './node-host.ts';
import { pushNodeImages, REGISTRY_HOST, type NodeImages } from './node-images.ts';
import { startRelay, type Relay } from './node-relay.ts';
import { freePort } from './ports.ts';
import { run, startProcess, type ServerProcess } from './process.ts';

const CNI_BIN_DIR = '/usr/lib/cni';

/** What tests get of the node (TestEnv.node). */
export interface NodeInfo {
  readonly name: string;
  /** The pods' way to the host: the servers of the environment are relayed here on their own ports. */
  readonly hostAddress: string;
  readonly podSubnet: string;
  readonly serviceSubnet: string;
  readonly clusterDns: string;
  readonly registry: {
    /** 127.0.0.1:<port>: push here (plain HTTP; crane --insecure). */
    readonly address: string;
    /** The name pods pull by: `<host>/<repository>:<tag>`. */
    readonly host: string;
  };
  readonly images: NodeImages;
  /** crane, to push more images to the registry. */
  readonly crane: string;
  /** containerd's socket, for `ctr --address`. */
  readonly containerdSocket: string;
}

export interface RunningNode {
  readonly info: NodeInfo;
  readonly processes: readonly ServerProcess[];
  /** Relays the environment's servers on the host address (their loopback ports). */
  relay(port: number): Promise<void>;
  stop(): Promise<void>;
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

function containerdConfig(dir: string, registryAddress: string, images: NodeImages): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "${dir}/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${images.pause}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${dir}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${dir}/cni"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."${REGISTRY_HOST}"]
    endpoint = ["http://${registryAddress}"]
`;
}

function cniConfig(ipamDir: string): string {
  return json({
    cniVersion: '0.4.0',
    name: CNI_NETWORK,
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        // The bridge and its address are the host's (node-host.ts): the plugin neither assigns them nor
        // switches on forwarding machine-wide, as it does with isGateway.
        isGateway: false,
        isDefaultGateway: false,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: ipamDir,
          ranges: [[{ subnet: POD_SUBNET, gateway: HOST_ADDRESS }]],
          // The Service range through the host (kube-proxy's rules); no default route.
          routes: [{ dst: SERVICE_SUBNET, gw: HOST_ADDRESS }],
        },
      },
    ],
  });
}

const COREDNS_CONFIG = `.:1053 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
`;

function corednsObjects(image: string): KubernetesObject[] {
  const labels = { 'k8s-app': 'kube-dns' };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: 'kube-system' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'system:coredns' },
      rules: [
        {
          apiGroups: [''],
          resources: ['endpoints', 'services', 'pods', 'namespaces'],
          verbs: ['list', 'watch'],
        },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:coredns' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
      subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }],
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'coredns', namespace: 'kube-system' },
      data: { Corefile: COREDNS_CONFIG },
    } as KubernetesObject,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'coredns', namespace: 'kube-system', labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'coredns',
            dnsPolicy: 'Default',
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 1000,
              runAsGroup: 1000,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'coredns',
                image,
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [
                  { name: 'dns', containerPort: 1053, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: 1053, protocol: 'TCP' },
                ],
                readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 1 },
                livenessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 10 },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
          },
        },
      },
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels },
      spec: {
        clusterIP: CLUSTER_DNS,
        selector: labels,
        ports: [
          { name: 'dns', port: 53, targetPort: 1053, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, targetPort: 1053, protocol: 'TCP' },
        ],
      },
    } as KubernetesObject,
  ];
}

/** What kube-router's policy controller reads; nothing it may change. */
const KUBE_ROUTER_ACCESS: KubernetesObject[] = [
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'tl-node:kube-router' },
    rules: [
      {
        apiGroups: [''],
        resources: ['namespaces', 'pods', 'services', 'nodes', 'endpoints'],
        verbs: ['get', 'list', 'watch'],
      },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
    ],
  } as KubernetesObject,
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'tl-node:kube-router' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tl-node:kube-router' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:kube-router' }],
  } as KubernetesObject,
];

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function startNode(options: {
  readonly workDir: string;
  readonly logDir: string;
  readonly binaries: NodeBinaries;
  readonly ca: CertificateAuthority;
  readonly controlPlane: ControlPlane;
  readonly host: HostState;
}): Promise<RunningNode & { readonly readyMs: { readonly node: number; readonly dns: number } }> {
  const startedAt = Date.now();
  const { binaries, controlPlane } = options;
  const tokens = controlPlane.nodeTokens;
  if (tokens === undefined) throw new Error('the control plane was started without node access');
  const dir = join(options.workDir, 'node');
  const containerdDir = join(dir, 'containerd');
  const kubeletDir = join(dir, 'kubelet');
  for (const d of [
    containerdDir,
    join(containerdDir, 'cni'),
    kubeletDir,
    join(dir, 'images'),
    join(dir, 'pod-logs'),
    join(dir, 'registry'),
  ])
    await mkdir(d, { recursive: true });
  const ca = await readFile(controlPlane.caFile);
  const relays: Relay[] = [];
  const started: ServerProcess[] = [];
  const crane = join(binaries.registryBinDir, 'crane');
  const containerdSocket = join(containerdDir, 'containerd.sock');

  const stop = async (): Promise<void> => {
    const kubelet = started.find((p) => p.name === 'kubelet');
    await kubelet?.stop();
    await killContainers(options.workDir);
    for (const p of started.filter((s) => s !== kubelet).reverse()) await p.stop();
    for (const relay of relays) await relay.close();
    await releaseHost(options.host);
  };

  try {
    const registryPort = await freePort();
    const registryAddress = `127.0.0.1:${registryPort}`;
    started.push(
      await startProcess({
        name: 'registry',
        command: crane,
        args: ['registry', 'serve', `--address=${registryAddress}`, `--disk=${join(dir, 'registry')}`],
        logDir: options.logDir,
        ready: async () => (await fetch(`http://${registryAddress}/v2/`)).ok,
      }),
    );
    const images = await pushNodeImages({
      crane,
      pauseBinary: join(binaries.nodeToolsBinDir, 'pause'),
      kubeapiBinary: join(binaries.nodeToolsBinDir, 'kubeapi'),
      corednsBinary: join(binaries.corednsBinDir, 'coredns'),
      dir: join(dir, 'images'),
      registry: registryAddress,
    });

    const containerdConfigFile = join(containerdDir, 'config.toml');
    await writeFile(containerdConfigFile, containerdConfig(containerdDir, registryAddress, images));
    await writeFile(
      join(containerdDir, 'cni', '10-tl-node.conflist'),
      cniConfig(join(containerdDir, 'ipam')),
    );
    started.push(
      await startProcess({
        name: 'containerd',
        command: 'containerd',
        args: ['--config', containerdConfigFile, '--log-level', 'warn'],
        logDir: options.logDir,
        // Ready when its CRI plugin loaded (containerd serves without it and logs why not).
        ready: async () =>
          existsSync(containerdSocket) &&
          /io\.containerd\.grpc\.v1\s+cri\s+.*\bok\b/.test(
            await run('ctr', ['--address', containerdSocket, 'plugins', 'ls']),
          ),
      }),
    );

    // The kubernetes Service's endpoint is <host address>:<apiserver port>.
    const apiPort = Number(new URL(controlPlane.server).port);
    relays.push(await startRelay(HOST_ADDRESS, apiPort));

    const kubeconfigFor = async (user: string, token: string): Promise<string> => {
      const file = join(dir, `${user}.kubeconfig`);
      await writeFile(file, kubeconfig(controlPlane.server, ca, user, token), { mode: 0o600 });
      return file;
    };

    const schedulerPort = await freePort();
    started.push(
      await startProcess({
        name: 'kube-scheduler',
        command: join(binaries.kubernetesNodeBinDir, 'kube-scheduler'),
        args: [
          `--kubeconfig=${await kubeconfigFor('kube-scheduler', tokens.scheduler)}`,
          `--authentication-kubeconfig=${join(dir, 'kube-scheduler.kubeconfig')}`,
          `--authorization-kubeconfig=${join(dir, 'kube-scheduler.kubeconfig')}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${schedulerPort}`,
          '--leader-elect=false',
          '--profiling=false',
        ],
        logDir: options.logDir,
        ready: async () => (await insecureGet(`https://127.0.0.1:${schedulerPort}/healthz`)) === 200,
      }),
    );

    const kubeletTls = await issueServingCertificate(options.ca, kubeletDir, 'kubelet', [
      `IP:${HOST_ADDRESS}`,
      `DNS:${NODE_NAME}`,
    ]);
    const [kubeletPort, kubeletHealthPort] = await Promise.all([freePort(), freePort()]);
    const kubeletConfig = join(dir, 'kubelet.yaml');
    await writeFile(
      kubeletConfig,
      json({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        containerRuntimeEndpoint: `unix://${containerdSocket}`,
        cgroupDriver: 'cgroupfs',
        // This machine mounts cgroup v1 (the kubelet refuses it by default from 1.35) and has no swap
        // accounting to speak of.
        failCgroupV1: false,
        failSwapOn: false,
        address: HOST_ADDRESS,
        port: kubeletPort,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: kubeletHealthPort,
        tlsCertFile: kubeletTls.certFile,
        tlsPrivateKeyFile: kubeletTls.keyFile,
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: true },
          x509: { clientCAFile: controlPlane.caFile },
        },
        authorization: { mode: 'Webhook' },
        clusterDNS: [CLUSTER_DNS],
        clusterDomain: 'cluster.local',
        // Pods get no resolver of the machine's.
        resolvConf: '',
        podLogsDir: join(dir, 'pod-logs'),
        volumePluginDir: join(kubeletDir, 'volume-plugins'),
        serializeImagePulls: false,
        // The machine's disk is shared: no eviction or image GC because of other people's files.
        evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        syncFrequency: '10s',
      }),
    );
    started.push(
      await startProcess({
        name: 'kubelet',
        command: join(binaries.kubernetesNodeBinDir, 'kubelet'),
        args: [
          `--config=${kubeletConfig}`,
          `--kubeconfig=${await kubeconfigFor(`system:node:${NODE_NAME}`, tokens.kubelet)}`,
          `--root-dir=${kubeletDir}`,
          `--hostname-override=${NODE_NAME}`,
          `--node-ip=${HOST_ADDRESS}`,
        ],
        logDir: options.logDir,
        ready: async () => (await fetch(`http://127.0.0.1:${kubeletHealthPort}/healthz`)).ok,
      }),
    );

    // After the kubelet: kube-proxy waits for its Node object to learn the node's addresses.
    const [proxyHealthPort, proxyMetricsPort] = await Promise.all([freePort(), freePort()]);
    const proxyConfig = join(dir, 'kube-proxy.yaml');
    await writeFile(
      proxyConfig,
      json({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: { kubeconfig: await kubeconfigFor('kube-proxy', tokens.proxy) },
        mode: 'iptables',
        hostnameOverride: NODE_NAME,
        clusterCIDR: POD_SUBNET,
        healthzBindAddress: `127.0.0.1:${proxyHealthPort}`,
        metricsBindAddress: `127.0.0.1:${proxyMetricsPort}`,
        // NodePorts only on the bridge, never on the machine's other interfaces.
        nodePortAddresses: [`${HOST_ADDRESS}/32`],
        // Leave the machine's conntrack and route_localnet settings as they are.
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
        iptables: { localhostNodePorts: false, minSyncPeriod: '0s', syncPeriod: '30s' },
      }),
    );
    started.push(
      await startProcess({
        name: 'kube-proxy',
        command: join(binaries.kubernetesNodeBinDir, 'kube-proxy'),
        args: [`--config=${proxyConfig}`],
        logDir: options.logDir,
        ready: async () => (await fetch(`http://127.0.0.1:${proxyHealthPort}/livez`)).ok,
      }),
    );

    await waitFor(`node ${NODE_NAME} Ready`, async () => {
      const { status, body } = await httpsGet(
        `${controlPlane.server}/api/v1/nodes/${NODE_NAME}`,
        ca,
        controlPlane.adminToken,
      );
      if (status !== 200) return false;
      const node = JSON.parse(body) as { status?: { conditions?: { type: string; status: string }[] } };
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    });
    const nodeReadyMs = Date.now() - startedAt;

    const kc = new KubeConfig();
    kc.loadFromFile(controlPlane.kubeconfigPath);
    const objects = KubernetesObjectApi.makeApiClient(kc);
    for (const object of corednsObjects(images.coredns)) await objects.create(object);
    await waitFor('CoreDNS ready', async () => {
      const { body } = await httpsGet(
        `${controlPlane.server}/apis/apps/v1/namespaces/kube-system/deployments/coredns`,
        ca,
        controlPlane.adminToken,
      );
      return ((JSON.parse(body) as { status?: { readyReplicas?: number } }).status?.readyReplicas ?? 0) >= 1;
    });
    const dnsReadyMs = Date.now() - startedAt;

    for (const object of KUBE_ROUTER_ACCESS) await objects.create(object);
    started.push(
      await startProcess({
        name: 'kube-router',
        command: join(binaries.kubeRouterBinDir, 'kube-router'),
        args: [
          `--kubeconfig=${await kubeconfigFor('kube-router', tokens.networkPolicy)}`,
          `--hostname-override=${NODE_NAME}`,
          '--run-firewall=true',
          '--run-router=false',
          '--run-service-proxy=false',
          '--enable-ipv6=false',
          // Its health and metrics servers would listen on every interface of the machine.
          '--health-port=0',
          '--metrics-port=0',
        ],
        logDir: options.logDir,
        // Ready once its policy chains exist.
        ready: async () => {
          await run('iptables', ['-S', 'KUBE-ROUTER-FORWARD']);
          return true;
        },
      }),
    );

    const info: NodeInfo = {
      name: NODE_NAME,
      hostAddress: HOST_ADDRESS,
      podSubnet: POD_SUBNET,
      serviceSubnet: SERVICE_SUBNET,
      clusterDns: CLUSTER_DNS,
      registry: { address: registryAddress, host: REGISTRY_HOST },
      images,
      crane,
      containerdSocket,
    };
    return {
      info,
      processes: started,
      readyMs: { node: nodeReadyMs, dns: dnsReadyMs },
      relay: async (port) => {
        relays.push(await startRelay(HOST_ADDRESS, port));
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** GET over TLS without verifying the certificate (a component's self-signed health endpoint). */
function insecureGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
