/**
 * A Kubernetes control plane on loopback: etcd 3.6, kube-apiserver and kube-controller-manager 1.34 built
 * from the Go module proxy (build-servers.sh). Token authentication (an admin in system:masters and a user
 * bound to nothing), RBAC, a CA of our own for the serving certificate, and the controllers the product
 * relies on: namespace finalisation, garbage collection, service accounts and their tokens, quota usage,
 * kube-root-ca.crt publishing and ClusterRole aggregation. Without the node (the default) there is no
 * kubelet: pods are accepted and stay Pending. With `node` set (test/env/node.ts), the apiserver advertises
 * the node's host address (the `kubernetes` Service's endpoint, which pods reach through a relay), authorises
 * kubelets with the Node authoriser, admits pods with their ServiceAccount tokens, reaches the kubelet with
 * a client certificate, and the controller-manager also runs the controllers pods need.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  issueClientCertificate,
  issueServingCertificate,
  type CertificateAuthority,
} from './certificates.ts';
import { freePort } from './ports.ts';
import { startProcess, type ServerProcess } from './process.ts';

/** The apiserver's OIDC settings, as a platform would set them for Keycloak. */
export interface OidcTrust {
  readonly issuerUrl: string;
  readonly clientId: string;
  readonly usernameClaim: string;
  readonly usernamePrefix: string;
  readonly groupsClaim: string;
  readonly groupsPrefix: string;
}

export interface ControlPlane {
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly adminToken: string;
  readonly limitedToken: string;
  readonly caFile: string;
  /** The service-account token issuer (`iss` of TokenRequest tokens). */
  readonly serviceAccountIssuer: string;
  /** PEM (PKCS#8) of the RSA key the apiserver signs service-account tokens with. */
  readonly serviceAccountSigningKeyFile: string;
  readonly processes: readonly ServerProcess[];
  /** Tokens of the node's components; only when started with `node`. */
  readonly nodeTokens?: NodeTokens;
}

/** What the control plane needs to know of the test node. */
export interface NodeAccess {
  readonly name: string;
  /** The address pods reach the host at (the pod bridge's); the apiserver advertises it. */
  readonly hostAddress: string;
}

/** Bearer tokens of the node's components, each a user with the roles Kubernetes gives that component. */
export interface NodeTokens {
  /** system:node:<name> in group system:nodes (Node authoriser). */
  readonly kubelet: string;
  /** system:kube-scheduler. */
  readonly scheduler: string;
  /** system:kube-proxy (bound to system:node-proxier). */
  readonly proxy: string;
  /** system:kube-router (the NetworkPolicy enforcer; node.ts binds its ClusterRole). */
  readonly networkPolicy: string;
}

export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

const CONTROLLERS = [
  'namespace-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'resourcequota-controller',
  'root-ca-certificate-publisher-controller',
  'clusterrole-aggregation-controller',
  // Without them a deleted PVC or PV keeps its protection finalizer and never goes away.
  'persistentvolumeclaim-protection-controller',
  'persistentvolume-protection-controller',
];

/** What pods on a node need besides: Services' endpoints, workloads' pods, node health and pod clean-up. */
const NODE_CONTROLLERS = [
  'endpoints-controller',
  'endpointslice-controller',
  'endpointslice-mirroring-controller',
  'replicaset-controller',
  'deployment-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'node-lifecycle-controller',
  'taint-eviction-controller',
  'pod-garbage-collector-controller',
  'persistentvolume-binder-controller',
  'ttl-after-finished-controller',
];

/** GET over TLS verified against our CA; resolves the status code (and body). */
export function httpsGet(url: string, ca: Buffer, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca, headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, timeout: 5000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export function kubeconfig(server: string, ca: Buffer, user: string, token: string): string {
  // JSON is valid YAML: kubectl and @kubernetes/client-node read it as a kubeconfig.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': ca.toString('base64') } }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user } }],
      'current-context': 'test',
    },
    null,
    2,
  );
}

export async function startControlPlane(options: {
  readonly workDir: string;
  readonly logDir: string;
  readonly etcdBinDir: string;
  readonly kubernetesBinDir: string;
  readonly ca: CertificateAuthority;
  /** Trust this OIDC issuer (the test Keycloak) for user authentication. */
  readonly oidc?: OidcTrust;
  /** Serve a node (test/env/node.ts). */
  readonly node?: NodeAccess;
}): Promise<ControlPlane> {
  const { node } = options;
  const dir = join(options.workDir, 'kubernetes');
  await mkdir(dir, { recursive: true });
  const started: ServerProcess[] = [];
  try {
    const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = await startProcess({
      name: 'etcd',
      command: join(options.etcdBinDir, 'etcd'),
      args: [
        '--name=test',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=test=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      logDir: options.logDir,
      ready: async () => (await fetch(`${etcdUrl}/health`)).ok,
    });
    started.push(etcd);

    const { caFile } = options.ca;
    const { certFile, keyFile } = await issueServingCertificate(options.ca, dir, 'kube-apiserver', [
      'IP:10.0.0.1',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
      ...(node === undefined ? [] : [`IP:${node.hostAddress}`]),
    ]);
    const ca = await readFile(caFile);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const saKey = join(dir, 'sa.key');
    const saPub = join(dir, 'sa.pub');
    await writeFile(saKey, privateKey, { mode: 0o600 });
    await writeFile(saPub, publicKey);
    const adminToken = randomBytes(24).toString('hex');
    const limitedToken = randomBytes(24).toString('hex');
    const controllerManagerToken = randomBytes(24).toString('hex');
    const tokenFile = join(dir, 'tokens.csv');
    const nodeTokens: NodeTokens | undefined =
      node === undefined
        ? undefined
        : {
            kubelet: randomBytes(24).toString('hex'),
            scheduler: randomBytes(24).toString('hex'),
            proxy: randomBytes(24).toString('hex'),
            networkPolicy: randomBytes(24).toString('hex'),
          };
    await writeFile(
      tokenFile,
      [
        `${adminToken},test-admin,uid-admin,"system:masters"`,
        `${limitedToken},limited-user,uid-limited,"limited"`,
        `${controllerManagerToken},system:kube-controller-manager,uid-kube-controller-manager`,
        ...(node === undefined || nodeTokens === undefined
          ? []
          : [
              `${nodeTokens.kubelet},system:node:${node.name},uid-kubelet,"system:nodes"`,
              `${nodeTokens.scheduler},system:kube-scheduler,uid-kube-scheduler`,
              `${nodeTokens.proxy},system:kube-proxy,uid-kube-proxy`,
              `${nodeTokens.networkPolicy},system:kube-router,uid-kube-router`,
            ]),
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    // The apiserver's client certificate for the kubelet's API (logs, exec), in group system:masters.
    const kubeletClient =
      node === undefined
        ? undefined
        : await issueClientCertificate(options.ca, dir, 'kube-apiserver-kubelet-client', 'system:masters');

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = await startProcess({
      name: 'kube-apiserver',
      command: join(options.kubernetesBinDir, 'kube-apiserver'),
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${certFile}`,
        `--tls-private-key-file=${keyFile}`,
        `--token-auth-file=${tokenFile}`,
        ...(node === undefined || kubeletClient === undefined
          ? [
              '--advertise-address=127.0.0.1',
              '--authorization-mode=RBAC',
              // No pod runs, so none needs a token mounted.
              '--disable-admission-plugins=ServiceAccount',
              // The "kubernetes" Service cannot point at a loopback address; nothing here needs it.
              '--endpoint-reconciler-type=none',
            ]
          : [
              // The kubernetes Service's endpoint: pods reach this address:port through node-relay.ts.
              `--advertise-address=${node.hostAddress}`,
              '--authorization-mode=Node,RBAC',
              '--enable-admission-plugins=NodeRestriction',
              // Client certificates of the environment's CA authenticate too; the node's components read
              // this CA from kube-system/extension-apiserver-authentication to check who calls them.
              `--client-ca-file=${caFile}`,
              `--kubelet-client-certificate=${kubeletClient.certFile}`,
              `--kubelet-client-key=${kubeletClient.keyFile}`,
              `--kubelet-certificate-authority=${caFile}`,
              '--kubelet-preferred-address-types=InternalIP',
            ]),
        // Also makes the apiserver serve OIDC discovery and its keys (/openid/v1/jwks), to any service
        // account (the default system:service-account-issuer-discovery binding).
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--profiling=false',
        ...(options.oidc === undefined
          ? []
          : [
              `--oidc-issuer-url=${options.oidc.issuerUrl}`,
              `--oidc-client-id=${options.oidc.clientId}`,
              `--oidc-ca-file=${caFile}`,
              `--oidc-username-claim=${options.oidc.usernameClaim}`,
              `--oidc-username-prefix=${options.oidc.usernamePrefix}`,
              `--oidc-groups-claim=${options.oidc.groupsClaim}`,
              `--oidc-groups-prefix=${options.oidc.groupsPrefix}`,
            ]),
      ],
      logDir: options.logDir,
      ready: async () => (await httpsGet(`${server}/readyz`, ca, adminToken)).status === 200,
    });
    started.push(apiserver);

    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfigPath, kubeconfig(server, ca, 'test-admin', adminToken), { mode: 0o600 });
    // As a cluster runs it: its own user (bound to its bootstrap role), each controller under its own
    // service account in kube-system. Admission policies that exempt the controllers (the product's
    // tenant-admission.yaml does) then see the identities they see in production.
    const controllerManagerKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
    await writeFile(
      controllerManagerKubeconfig,
      kubeconfig(server, ca, 'system:kube-controller-manager', controllerManagerToken),
      { mode: 0o600 },
    );
    const controllerManager = await startProcess({
      name: 'kube-controller-manager',
      command: join(options.kubernetesBinDir, 'kube-controller-manager'),
      args: [
        `--kubeconfig=${controllerManagerKubeconfig}`,
        `--controllers=${[...CONTROLLERS, ...(node === undefined ? [] : NODE_CONTROLLERS)].join(',')}`,
        `--service-account-private-key-file=${saKey}`,
        `--root-ca-file=${caFile}`,
        '--use-service-account-credentials=true',
        '--leader-elect=false',
        '--secure-port=0',
        '--concurrent-namespace-syncs=5',
        // Quotas on custom resources are counted once the quota controller has discovered them (every 30 s)
        // and then at its next full sync: 5 s instead of 5 min, so tests wait seconds, not minutes.
        '--resource-quota-sync-period=5s',
        '--profiling=false',
      ],
      logDir: options.logDir,
      // The serviceaccount controller creating "default" in namespace default proves the controllers run.
      ready: async () =>
        (await httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, ca, adminToken))
          .status === 200,
    });
    started.push(controllerManager);
    return {
      server,
      kubeconfigPath,
      adminToken,
      limitedToken,
      caFile,
      serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER,
      serviceAccountSigningKeyFile: saKey,
      processes: started,
      ...(nodeTokens === undefined ? {} : { nodeTokens }),
    };
  } catch (error) {
    for (const p of started.reverse()) await p.stop();
    throw error;
  }
}
