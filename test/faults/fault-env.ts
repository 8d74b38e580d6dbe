/**
 * The servers of the fault tests: a test environment of their own (test/env/environment.ts), never the one
 * the integration tests share, since freezing or killing a server would fail whatever else runs on it;
 * plus the Grafana API fake in a process of its own (grafana-process.ts), so that it too can be frozen and
 * killed. Each faultable server is named by the `upstream` its failures carry.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startTestEnv, type RunningTestEnv } from '../env/environment.ts';
import { freePort } from '../env/ports.ts';
import { startProcess, type ServerProcess } from '../env/process.ts';
import type { TestEnv } from '../env/provided.ts';

/** The systems a fault test freezes or kills, as the problem documents name them (`upstream`). */
export type FaultedSystem = 'postgres' | 'keycloak' | 'kubernetes' | 'grafana';

export interface FaultEnv {
  /** The environment, its `grafana` pointing at the faultable Grafana process. */
  readonly env: TestEnv;
  readonly servers: Readonly<Record<FaultedSystem, ServerProcess>>;
  stop(): Promise<void>;
}

export async function startFaultEnv(): Promise<FaultEnv> {
  const running: RunningTestEnv = await startTestEnv();
  const stops: (() => Promise<void>)[] = [() => running.stop()];
  try {
    const port = await freePort();
    const admin = { adminUser: 'admin', adminPassword: randomBytes(12).toString('hex') };
    const url = `http://127.0.0.1:${port}`;
    const grafana = await startProcess({
      name: 'grafana-api',
      command: process.execPath,
      args: [fileURLToPath(new URL('grafana-process.ts', import.meta.url))],
      env: {
        ...process.env,
        PORT: String(port),
        GRAFANA_ADMIN_USER: admin.adminUser,
        GRAFANA_ADMIN_PASSWORD: admin.adminPassword,
      },
      logDir: running.env.logDir,
      ready: async () => (await fetch(`${url}/api/health`)).ok,
    });
    stops.unshift(() => grafana.stop());
    const byName = (name: string): ServerProcess => {
      const found = running.processes.find((p) => p.name === name);
      if (found === undefined) throw new Error(`the test environment has no ${name}`);
      return found;
    };
    return {
      env: { ...running.env, grafana: { url, ...admin, kind: 'contract-fake' } },
      servers: {
        postgres: byName('postgres'),
        keycloak: byName('keycloak'),
        kubernetes: byName('kube-apiserver'),
        grafana,
      },
      stop: async () => {
        for (const stop of stops) await stop();
      },
    };
  } catch (error) {
    for (const stop of stops) await stop();
    throw error;
  }
}
