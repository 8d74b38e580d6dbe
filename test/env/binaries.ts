/** Locates (building on first use, cached afterwards) the Go servers through build-servers.sh. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export interface ServerBinaries {
  readonly etcdBinDir: string;
  readonly kubernetesBinDir: string;
}

/** What the opt-in test node runs besides (build-servers.sh --node). */
export interface NodeBinaries {
  /** kubelet, kube-scheduler, kube-proxy. */
  readonly kubernetesNodeBinDir: string;
  readonly corednsBinDir: string;
  /** crane: the loopback registry (`crane registry serve`) and the image assembly. */
  readonly registryBinDir: string;
  /** pause (the pod sandbox) and kubeapi (an in-cluster API client for tests). */
  readonly nodeToolsBinDir: string;
  /** kube-router: NetworkPolicy enforcement. */
  readonly kubeRouterBinDir: string;
}

/** What Knative on the node runs (build-servers.sh --knative). */
export interface KnativeBinaries {
  readonly knativeServingBinDir: string;
  readonly knativeEventingBinDir: string;
  readonly traefikBinDir: string;
  /** kubectl, which deploys the product as users do (`kubectl apply -k`). */
  readonly kubernetesCliBinDir: string;
}

async function buildServers(args: readonly string[]): Promise<(name: string) => string> {
  const script = fileURLToPath(new URL('./build-servers.sh', import.meta.url));
  const { stdout } = await promisify(execFile)('bash', [script, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return (name: string): string => {
    const line = stdout.split('\n').find((l) => l.startsWith(`${name}=`));
    if (line === undefined) throw new Error(`build-servers.sh printed no ${name}`);
    return line.slice(name.length + 1);
  };
}

export async function serverBinaries(): Promise<ServerBinaries> {
  const value = await buildServers([]);
  return { etcdBinDir: value('ETCD_BIN_DIR'), kubernetesBinDir: value('KUBERNETES_BIN_DIR') };
}

function nodeBinaries(value: (name: string) => string): ServerBinaries & NodeBinaries {
  return {
    etcdBinDir: value('ETCD_BIN_DIR'),
    kubernetesBinDir: value('KUBERNETES_BIN_DIR'),
    kubernetesNodeBinDir: value('KUBERNETES_NODE_BIN_DIR'),
    corednsBinDir: value('COREDNS_BIN_DIR'),
    registryBinDir: value('REGISTRY_BIN_DIR'),
    nodeToolsBinDir: value('NODE_TOOLS_BIN_DIR'),
    kubeRouterBinDir: value('KUBE_ROUTER_BIN_DIR'),
  };
}

export async function serverAndNodeBinaries(): Promise<ServerBinaries & NodeBinaries> {
  return nodeBinaries(await buildServers(['--node']));
}

export async function serverNodeAndKnativeBinaries(): Promise<
  ServerBinaries & NodeBinaries & KnativeBinaries
> {
  const value = await buildServers(['--knative']);
  return {
    ...nodeBinaries(value),
    knativeServingBinDir: value('KNATIVE_SERVING_BIN_DIR'),
    knativeEventingBinDir: value('KNATIVE_EVENTING_BIN_DIR'),
    traefikBinDir: value('TRAEFIK_BIN_DIR'),
    kubernetesCliBinDir: value('KUBERNETES_CLI_BIN_DIR'),
  };
}
