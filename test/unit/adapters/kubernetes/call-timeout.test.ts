/**
 * Every apiserver call is bounded: against a server that accepts connections and never answers (what a
 * frozen apiserver looks like), the typed client-node calls and the raw requests fail with a retryable 504
 * `timeout` naming Kubernetes; against one that answers, the same calls succeed.
 */
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesCluster } from '../../../../shared/adapters/kubernetes/cluster.ts';
import { KubernetesConfigObjects } from '../../../../shared/adapters/kubernetes/config-objects.ts';
import { loadKubeConfig } from '../../../../shared/adapters/kubernetes/kubeconfig.ts';
import { RawKubernetes } from '../../../../shared/adapters/kubernetes/raw.ts';
import { PlatformError } from '../../../../shared/platform/errors.ts';

const kubeconfigFor = (server: string) =>
  loadKubeConfig({
    kind: 'inline',
    content: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // Plain HTTP test servers: client-node wants skip-TLS-verify set to speak it.
      clusters: [{ name: 'c', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 'abc' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  });

let silent: TcpServer;
const sockets = new Set<Socket>();
let answering: Server;
let silentUrl: string;
let answeringUrl: string;

beforeAll(async () => {
  silent = createTcpServer((socket) => {
    sockets.add(socket); // accepted, read, never answered
    socket.on('data', () => undefined);
  });
  answering = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        req.url?.startsWith('/api/v1/namespaces/pg/configmaps/')
          ? { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'users' }, data: { 'users.yaml': 'x' } }
          : { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', uid: 'u1' } },
      ),
    );
  });
  await Promise.all([
    new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve)),
    new Promise<void>((resolve) => answering.listen(0, '127.0.0.1', resolve)),
  ]);
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  answeringUrl = `http://127.0.0.1:${(answering.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all([
    new Promise((resolve) => silent.close(resolve)),
    new Promise((resolve) => answering.close(resolve)),
  ]);
});

async function failure(call: Promise<unknown>): Promise<PlatformError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof PlatformError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

const timedOut = {
  reason: 'timeout',
  status: 504,
  retryable: true,
  upstream: 'kubernetes',
};

describe('a bounded apiserver call', () => {
  it('typed client-node calls (namespaces, objects) answer 504 timeout from a silent server, 200 from a live one', async () => {
    const frozen = new KubernetesCluster(kubeconfigFor(silentUrl), { timeoutMs: 300 });
    const read = await failure(frozen.readNamespace('team-a'));
    expect(read).toMatchObject(timedOut);
    expect(read.message).toMatch(/^kubernetes: read namespace team-a: /);
    const create = await failure(
      frozen.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } }),
    );
    expect(create).toMatchObject(timedOut);

    const live = new KubernetesCluster(kubeconfigFor(answeringUrl), { timeoutMs: 300 });
    expect(await live.readNamespace('team-a')).toMatchObject({ name: 'team-a', uid: 'u1' });
  });

  it('ConfigMap and Secret reads (pg-reconcile’s source) are bounded the same way', async () => {
    const frozen = new KubernetesConfigObjects(kubeconfigFor(silentUrl), { timeoutMs: 300 });
    expect(await failure(frozen.readConfigMapData('pg', 'users'))).toMatchObject(timedOut);
    const live = new KubernetesConfigObjects(kubeconfigFor(answeringUrl), { timeoutMs: 300 });
    expect((await live.readConfigMapData('pg', 'users'))['users.yaml']).toBe('x');
  });

  it('raw requests answer 504 timeout from a silent server, the body from a live one', async () => {
    const frozen = new RawKubernetes(kubeconfigFor(silentUrl), { timeoutMs: 300 });
    const error = await failure(frozen.apiResources({ group: '', version: 'v1' }, 'discover core resources'));
    expect(error).toMatchObject(timedOut);
    expect(error.message).toBe('kubernetes: discover core resources: no answer in time');
    const live = new RawKubernetes(kubeconfigFor(answeringUrl), { timeoutMs: 300 });
    const teamA = { group: '', version: 'v1', resource: 'namespaces', name: 'team-a' };
    expect(await live.get(teamA, 'read')).toMatchObject({ kind: 'Namespace' });
  });
});
