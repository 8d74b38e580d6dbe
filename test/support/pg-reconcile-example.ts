/**
 * pg-reconcile's example desired state, as its documentation shows it: the ConfigMap
 * `postgres-users-config` and the users' password Secrets in namespace postgres, for database myapp on the
 * environment's PostgreSQL. Every login there gives its password, so alice and bob log in with their
 * Secrets' passwords only. Existing objects and the database are kept (several stacks may share a server).
 */
import pg from 'pg';
import { KubernetesCluster } from '../../shared/adapters/kubernetes/cluster.ts';
import { loadKubeConfig } from '../../shared/adapters/kubernetes/kubeconfig.ts';
import { PlatformError } from '../../shared/platform/errors.ts';
import type { TestEnv } from '../env/provided.ts';

export const PG_RECONCILE_EXAMPLE_PASSWORDS = {
  alice: 'alice-dev-password',
  bob: 'bob-dev-password',
} as const;

export async function seedPgReconcileExample(env: TestEnv): Promise<void> {
  const cluster = new KubernetesCluster(
    loadKubeConfig({ kind: 'file', path: env.kubernetes.kubeconfigPath }),
  );
  const secret = (user: string, password: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `user-${user}-secret`, namespace: 'postgres' },
    stringData: { password },
  });
  for (const object of [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'postgres' } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'postgres-users-config', namespace: 'postgres' },
      data: {
        'users.yaml':
          'users:\n  - username: alice\n    database: myapp\n    roles:\n      - read_only\n      - analyst\n' +
          '  - username: bob\n    database: myapp\n    roles:\n      - read_write\n      - developer\n',
      },
    },
    secret('alice', PG_RECONCILE_EXAMPLE_PASSWORDS.alice),
    secret('bob', PG_RECONCILE_EXAMPLE_PASSWORDS.bob),
  ]) {
    await cluster.create(object).catch((error: unknown) => {
      if (!(error instanceof PlatformError && error.reason === 'conflict')) throw error;
    });
  }
  const admin = new pg.Client({ connectionString: env.postgres.url });
  await admin.connect();
  try {
    const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'myapp'");
    if (rowCount === 0) await admin.query('CREATE DATABASE myapp');
  } finally {
    await admin.end();
  }
}
