/**
 * Starts the whole test environment in a fresh temp dir: PostgreSQL and Keycloak in parallel with the
 * Kubernetes control plane (etcd -> kube-apiserver -> kube-controller-manager). On a start failure everything that started is
 * stopped and the error carries the failing server's log tail; the work dir is kept for inspection.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { serverBinaries } from './binaries.ts';
import { startGrafanaContractServer } from './grafana-contract-server.ts';
import { startControlPlane, type ControlPlane } from './kubernetes.ts';
import { createCertificateAuthority, issueServingCertificate } from './certificates.ts';
import { keycloakIssuerBase, keycloakListeners, startKeycloak, type KeycloakServer } from './keycloak.ts';
import { createOidcRealm, OIDC_REALM, oidcTrust } from './oidc-realm.ts';
import { startPostgres, type PostgresServer } from './postgres.ts';
import type { ServerProcess } from './process.ts';
import type { TestEnv } from './provided.ts';

export interface RunningTestEnv {
  readonly env: TestEnv;
  readonly processes: readonly ServerProcess[];
  readonly readyMs: number;
  stop(): Promise<void>;
}

export async function startTestEnv(): Promise<RunningTestEnv> {
  const startedAt = Date.now();
  const base = process.env.TL_TESTENV_DIR ?? tmpdir();
  await mkdir(base, { recursive: true });
  const workDir = await mkdtemp(join(base, 'tenant-lifecycle-env-'));
  const logDir = join(workDir, 'logs');
  await mkdir(logDir);
  const binaries = await serverBinaries();

  // One CA signs the apiserver's and Keycloak's serving certificates; the apiserver trusts Keycloak's
  // realm "tenants" as its OIDC issuer (it fetches the discovery document once Keycloak answers).
  const ca = await createCertificateAuthority(join(workDir, 'ca'));
  const listeners = await keycloakListeners(
    await issueServingCertificate(ca, join(workDir, 'ca'), 'keycloak'),
  );
  const oidc = oidcTrust(keycloakIssuerBase(listeners));
  const [kube, pgResult, kcResult] = await Promise.allSettled([
    startControlPlane({ workDir, logDir, ...binaries, ca, oidc }),
    startPostgres({ workDir, logDir }),
    startKeycloak({ workDir, logDir, listeners }).then(async (server) => {
      await createOidcRealm(server);
      return server;
    }),
  ]);
  const processes = [
    ...(kube.status === 'fulfilled' ? kube.value.processes : []),
    ...(pgResult.status === 'fulfilled' ? [pgResult.value.process] : []),
    ...(kcResult.status === 'fulfilled' ? [kcResult.value.process] : []),
  ];
  const stopAll = async (): Promise<void> => {
    for (const p of [...processes].reverse()) await p.stop();
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
  const k: ControlPlane = kube.value;
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
  };
  await writeFile(join(workDir, 'testenv.json'), JSON.stringify(env, null, 2), { mode: 0o600 });
  return {
    env,
    processes,
    readyMs: Date.now() - startedAt,
    stop: async () => {
      await grafana.stop();
      await stopAll();
      if (process.env.TL_KEEP_TESTENV !== '1') await rm(workDir, { recursive: true, force: true });
    },
  };
}

export function describeStartup(running: RunningTestEnv): string {
  const each = running.processes.map((p) => `${p.name} ${(p.startMs / 1000).toFixed(1)} s`).join(', ');
  return `test environment ready in ${(running.readyMs / 1000).toFixed(1)} s (${each}); logs in ${running.env.logDir}`;
}
