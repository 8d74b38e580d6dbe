/**
 * A Kubernetes control plane on loopback: etcd 3.6, kube-apiserver and kube-controller-manager 1.34 built
 * from the Go module proxy (build-servers.sh). Token authentication (an admin in system:masters and a user
 * bound to nothing), RBAC, a CA of our own for the serving certificate, and the controllers the product
 * relies on: namespace finalisation, garbage collection, service accounts and their tokens, quota usage,
 * kube-root-ca.crt publishing and ClusterRole aggregation. No kubelet: pods are accepted and stay Pending.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { run, startProcess, type ServerProcess } from './process.ts';

export interface ControlPlane {
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly adminToken: string;
  readonly limitedToken: string;
  readonly caFile: string;
  readonly processes: readonly ServerProcess[];
}

const CONTROLLERS = [
  'namespace-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'resourcequota-controller',
  'root-ca-certificate-publisher-controller',
  'clusterrole-aggregation-controller',
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

async function writeCertificates(
  dir: string,
): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'apiserver.key');
  const csr = join(dir, 'apiserver.csr');
  const certFile = join(dir, 'apiserver.crt');
  const ext = join(dir, 'apiserver.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '7',
    '-subj',
    '/CN=tenant-lifecycle-test-ca',
  ]);
  await run('openssl', ['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=kube-apiserver']);
  await writeFile(
    ext,
    [
      'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
    ].join('\n'),
  );
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caFile,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    certFile,
    '-days',
    '7',
    '-extfile',
    ext,
  ]);
  return { caFile, certFile, keyFile };
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
}): Promise<ControlPlane> {
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

    const { caFile, certFile, keyFile } = await writeCertificates(dir);
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
    const tokenFile = join(dir, 'tokens.csv');
    await writeFile(
      tokenFile,
      `${adminToken},test-admin,uid-admin,"system:masters"\n${limitedToken},limited-user,uid-limited,"limited"\n`,
      { mode: 0o600 },
    );

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = await startProcess({
      name: 'kube-apiserver',
      command: join(options.kubernetesBinDir, 'kube-apiserver'),
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${certFile}`,
        `--tls-private-key-file=${keyFile}`,
        `--token-auth-file=${tokenFile}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--disable-admission-plugins=ServiceAccount',
        '--profiling=false',
        // The "kubernetes" Service cannot point at a loopback address; nothing here needs it.
        '--endpoint-reconciler-type=none',
      ],
      logDir: options.logDir,
      ready: async () => (await httpsGet(`${server}/readyz`, ca, adminToken)).status === 200,
    });
    started.push(apiserver);

    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfigPath, kubeconfig(server, ca, 'test-admin', adminToken), { mode: 0o600 });
    const controllerManager = await startProcess({
      name: 'kube-controller-manager',
      command: join(options.kubernetesBinDir, 'kube-controller-manager'),
      args: [
        `--kubeconfig=${kubeconfigPath}`,
        `--controllers=${CONTROLLERS.join(',')}`,
        `--service-account-private-key-file=${saKey}`,
        `--root-ca-file=${caFile}`,
        '--use-service-account-credentials=false',
        '--leader-elect=false',
        '--secure-port=0',
        '--concurrent-namespace-syncs=5',
        '--profiling=false',
      ],
      logDir: options.logDir,
      // The serviceaccount controller creating "default" in namespace default proves the controllers run.
      ready: async () =>
        (await httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, ca, adminToken))
          .status === 200,
    });
    started.push(controllerManager);
    return { server, kubeconfigPath, adminToken, limitedToken, caFile, processes: started };
  } catch (error) {
    for (const p of started.reverse()) await p.stop();
    throw error;
  }
}
