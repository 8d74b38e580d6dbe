/**
 * Starts the whole test environment in a fresh temp dir: PostgreSQL and Keycloak in parallel with the
 * Kubernetes control plane (etcd -> kube-apiserver -> kube-controller-manager), and, when asked for
 * (`node: true`, or TL_TESTENV_NODE=1), a node after the control plane (test/env/node.ts) with the servers
 * relayed to its pods, and with `knative: true` (TL_TESTENV_KNATIVE=1) Knative and Traefik on that node
 * (test/env/knative.ts). On a start failure everything that started is stopped and the error carries the
 * failing server's log tail; the work dir is kept for inspection.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { serverAndNodeBinaries, serverBinaries, serverNodeAndKnativeBinaries } from './binaries.ts';
import { startKnative } from './knative.ts';
import { startGrafanaContractServer } from './grafana-contract-server.ts';
import { startControlPlane, type ControlPlane } from './kubernetes.ts';
import { createCertificateAuthority, issueServingCertificate } from './certificates.ts';
import { keycloakIssuerBase, keycloakListeners, startKeycloak, type KeycloakServer } from './keycloak.ts';
import { createOidcRealm, OIDC_REALM, oidcTrust } from './oidc-realm.ts';
import { acquireHost, HOST_ADDRESS, NODE_NAME, releaseHost } from './node-host.ts';
import { startNode } from './node.ts';
import { startPostgres, type PostgresServer } from './postgres.ts';
import type { ServerProcess } from './process.ts';
import type { TestEnv } from './provided.ts';

export interface RunningTestEnv {
  readonly env: TestEnv;
  readonly processes: readonly ServerProcess[];
  readonly readyMs: number;
  /** With the node: from the start until the node was Ready, and until CoreDNS was. */
  readonly nodeReadyMs?: { readonly node: number; readonly dns: number };
  /** With Knative: from the node's readiness until every Knative and Traefik Deployment was available. */
  readonly knativeReadyMs?: number;
  stop(): Promise<void>;
}

export interface TestEnvOptions {
  /** Also start a node (kubelet, containerd, ...): pods run. Off unless asked for; slower to start. */
  readonly node?: boolean;
  /** Also install Knative Serving, Eventing and Traefik on the node (implies `node`). */
  readonly knative?: boolean;
}

/** TL_TESTENV_NODE=1 asks for the node (the node tests' vitest config sets it). */
export function nodeRequested(): boolean {
  return process.env.TL_TESTENV_NODE === '1';
}

/** TL_TESTENV_KNATIVE=1 asks for Knative on the node (the Knative tests' vitest config sets it). */
export function knativeRequested(): boolean {
  return process.env.TL_TESTENV_KNATIVE === '1';
}

export async function startTestEnv(options: TestEnvOptions = {}): Promise<RunningTestEnv> {
  const startedAt = Date.now();
  const withKnative = options.knative ?? knativeRequested();
  const withNode = withKnative || (options.node ?? nodeRequested());
  const base = process.env.TL_TESTENV_DIR ?? tmpdir();
  await mkdir(base, { recursive: true });
  const workDir = await mkdtemp(join(base, 'tenant-lifecycle-env-'));
  const logDir = join(workDir, 'logs');
  await mkdir(logDir);
  const knativeBinaries = withKnative ? await serverNodeAndKnativeBinaries() : undefined;
  const nodeBinaries = knativeBinaries ?? (withNode ? await serverAndNodeBinaries() : undefined);
  const binaries = nodeBinaries ?? (await serverBinaries());
  // The node's bridge exists before the apiserver advertises its address.
  const host = withNode ? await acquireHost(workDir) : undefined;

  // One CA signs the apiserver's and Keycloak's serving certificates; the apiserver trusts Keycloak's
  // realm "tenants" as its OIDC issuer (it fetches the discovery document once Keycloak answers).
  const ca = await createCertificateAuthority(join(workDir, 'ca'));
  const listeners = await keycloakListeners(
    await issueServingCertificate(ca, join(workDir, 'ca'), 'keycloak'),
  );
  const oidc = oidcTrust(keycloakIssuerBase(listeners));
  const nodeAccess = withNode ? { name: NODE_NAME, hostAddress: HOST_ADDRESS } : undefined;
  const [kube, pgResult, kcResult] = await Promise.allSettled([
    startControlPlane({ workDir, logDir, ...binaries, ca, oidc, node: nodeAccess }).then(
      async (controlPlane) => {
        if (host === undefined || nodeBinaries === undefined)
          return { controlPlane, node: undefined, knative: undefined };
        try {
          const node = await startNode({ workDir, logDir, binaries: nodeBinaries, ca, controlPlane, host });
          if (knativeBinaries === undefined) return { controlPlane, node, knative: undefined };
          try {
            const knative = await startKnative({
              dir: join(workDir, 'knative'),
              kubeconfigPath: controlPlane.kubeconfigPath,
              crane: node.info.crane,
              registry: node.info.registry.address,
              binaries: knativeBinaries,
            });
            return { controlPlane, node, knative };
          } catch (error) {
            await node.stop();
            throw error;
          }
        } catch (error) {
          for (const p of [...controlPlane.processes].reverse()) await p.stop();
          throw error;
        }
      },
    ),
    startPostgres({ workDir, logDir }),
    startKeycloak({ workDir, logDir, listeners }).then(async (server) => {
      await createOidcRealm(server);
      return server;
    }),
  ]);
  const node = kube.status === 'fulfilled' ? kube.value.node : undefined;
  const knative = kube.status === 'fulfilled' ? kube.value.knative : undefined;
  const processes = [
    ...(kube.status === 'fulfilled' ? kube.value.controlPlane.processes : []),
    ...(pgResult.status === 'fulfilled' ? [pgResult.value.process] : []),
    ...(kcResult.status === 'fulfilled' ? [kcResult.value.process] : []),
  ];
  const stopAll = async (): Promise<void> => {
    await node?.stop();
    for (const p of [...processes].reverse()) await p.stop();
    // A node that failed to start has released the host itself; without one, the bridge is still ours.
    if (node === undefined && host !== undefined) await releaseHost(host);
  };
  if (kube.status === 'rejected' || pgResult.status === 'rejected' || kcResult.status === 'rejected') {
    await stopAll();
    const failures = [kube, pgResult, kcResult]
      .filter((r) => r.status === 'rejected')
      .map((r) => (r.reason as Error).message);
    throw new Error(
      `test environment failed to start (work dir kept: ${workDir}):\n${failures.join('\n\n')}`,
    );
  }
  // Grafana: see test/env/grafana-contract-server.ts for why this one is a fake of its HTTP contract.
  const grafanaAdmin = { adminUser: 'admin', adminPassword: randomBytes(12).toString('hex') };
  const grafana = await startGrafanaContractServer(grafanaAdmin);
  if (node !== undefined) {
    // Pods reach the servers at the node's host address, on the same ports as on loopback.
    const ports = [
      pgResult.value.port,
      listeners.httpPort,
      listeners.httpsPort,
      Number(new URL(grafana.url).port),
    ];
    for (const port of ports) await node.relay(port);
  }
  const k: ControlPlane = kube.value.controlPlane;
  const p: PostgresServer = pgResult.value;
  const kc: KeycloakServer = kcResult.value;
  const env: TestEnv = {
    workDir,
    logDir,
    kubernetes: {
      server: k.server,
      kubeconfigPath: k.kubeconfigPath,
      adminToken: k.adminToken,
      limitedToken: k.limitedToken,
      caFile: k.caFile,
      serviceAccountIssuer: k.serviceAccountIssuer,
      serviceAccountSigningKeyFile: k.serviceAccountSigningKeyFile,
    },
    grafana: { url: grafana.url, ...grafanaAdmin, kind: 'contract-fake' },
    keycloak: { url: kc.url, adminUser: kc.adminUser, adminPassword: kc.adminPassword },
    oidc: { ...oidc, realm: OIDC_REALM, caFile: ca.caFile },
    postgres: { url: p.url, host: p.host, port: p.port, user: p.user, password: p.password },
    ...(node === undefined ? {} : { node: node.info }),
    ...(knative === undefined ? {} : { knative: knative.info }),
  };
  await writeFile(join(workDir, 'testenv.json'), JSON.stringify(env, null, 2), { mode: 0o600 });
  return {
    env,
    processes: [...processes, ...(node?.processes ?? [])],
    readyMs: Date.now() - startedAt,
    ...(node === undefined ? {} : { nodeReadyMs: node.readyMs }),
    ...(knative === undefined ? {} : { knativeReadyMs: knative.readyMs }),
    stop: async () => {
      await grafana.stop();
      await stopAll();
      if (process.env.TL_KEEP_TESTENV !== '1') await rm(workDir, { recursive: true, force: true });
    },
  };
}

export function describeStartup(running: RunningTestEnv): string {
  const each = running.processes.map((p) => `${p.name} ${(p.startMs / 1000).toFixed(1)} s`).join(', ');
  const node =
    running.nodeReadyMs === undefined
      ? ''
      : `; node Ready ${(running.nodeReadyMs.node / 1000).toFixed(1)} s and CoreDNS ready ` +
        `${(running.nodeReadyMs.dns / 1000).toFixed(1)} s after the control plane` +
        (running.knativeReadyMs === undefined
          ? ''
          : `; Knative and Traefik ready ${(running.knativeReadyMs / 1000).toFixed(1)} s after the node`);
  return `test environment ready in ${(running.readyMs / 1000).toFixed(1)} s (${each})${node}; logs in ${running.env.logDir}`;
}
