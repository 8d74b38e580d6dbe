/**
 * pg-reconcile's desired state reaches it through Knative Eventing on its own: an edit of the ConfigMap
 * `postgres-users-config` (namespace postgres, seeded by test/support/pg-reconcile-example.ts) is seen by the
 * ApiServerSource `pg-reconcile-desired` (Reference mode), posted to the Broker with the source's OIDC
 * identity, and delivered by the Trigger `pg-reconcile-desired` to pg-reconcile, which creates the new
 * login role within 30 s (a bounded wait; the figure is printed), and drops it once the entry is taken out. The audit record of that run names the
 * Trigger's identity, so the role did not come from the 5-minute PingSource. The role logs in with its
 * Secret's password and not with another.
 *
 * The user and its Secret carry this file's random prefix; afterwards the ConfigMap is without the entry,
 * the Secret deleted and the role dropped, also when the test failed half-way.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import '../env/provided.ts';
import './provided.ts';
import { eventually } from '../support/eventually.ts';
import { knativeSenderIdentity } from '../support/knative-oidc.ts';
import { productOn } from '../support/knative-product.ts';
import { login, rolePrefix } from '../support/pg-roles.ts';

const env = inject('testEnv');
const product = inject('product');
const p = productOn(env, product);

const DESIRED = { name: 'postgres-users-config', namespace: 'postgres' } as const;
const username = `${rolePrefix()}events`;
const secretName = `user-${username.replaceAll('_', '-')}-secret`;
const password = randomBytes(18).toString('base64url');
const entry = `  - username: ${username}\n    database: myapp\n    roles: []\n`;

async function roleExists(): Promise<boolean> {
  const client = new pg.Client({ connectionString: env.postgres.url });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
    return rowCount === 1;
  } finally {
    await client.end();
  }
}

/** Rewrites users.yaml of the desired state (read, change, replace: a concurrent edit makes it fail). */
async function editUsers(change: (usersYaml: string) => string): Promise<void> {
  const current = await p.core.readNamespacedConfigMap(DESIRED);
  const users = current.data?.['users.yaml'] ?? '';
  await p.core.replaceNamespacedConfigMap({
    ...DESIRED,
    body: {
      metadata: { ...DESIRED, resourceVersion: current.metadata?.resourceVersion },
      data: { ...current.data, 'users.yaml': change(users) },
    },
  });
}

/** Drops the role if it is still there: its grants on database myapp first (DROP OWNED there). */
async function dropRole(): Promise<void> {
  if (!(await roleExists())) return;
  const myapp = new URL(env.postgres.url);
  myapp.pathname = '/myapp';
  for (const [url, sql] of [
    [myapp.toString(), `DROP OWNED BY ${pg.escapeIdentifier(username)}`],
    [env.postgres.url, `DROP ROLE IF EXISTS ${pg.escapeIdentifier(username)}`],
  ] as const) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }
}

afterAll(async () => {
  await editUsers((users) => users.replace(entry, '')).catch((error: unknown) => {
    console.error(`could not take ${username} out of ${DESIRED.name}`, error);
  });
  await p.core
    .deleteNamespacedSecret({ name: secretName, namespace: DESIRED.namespace })
    .catch(() => undefined);
  await dropRole();
});

describe('pg-reconcile through the ApiServerSource', () => {
  it('creates the role of a user added to its ConfigMap within 30 s, delivered by the Trigger pg-reconcile-desired', async () => {
    const desiredIdentity = knativeSenderIdentity('Trigger', product.namespace, 'pg-reconcile-desired');
    await p.core.createNamespacedSecret({
      namespace: DESIRED.namespace,
      body: { metadata: { name: secretName }, stringData: { password } },
    });
    expect(await roleExists()).toBe(false);

    const since = await p.storeNow();
    const editedAt = Date.now();
    await editUsers((users) => users + entry);
    await eventually(
      `role ${username} to exist`,
      async () => ((await roleExists()) ? true : undefined),
      30_000,
      100,
    );
    const elapsedMs = Date.now() - editedAt;
    console.log(`pg-reconcile: ConfigMap edit to role ${username} in pg_roles: ${String(elapsedMs)} ms`);

    // The run that created it came through the ApiServerSource's Trigger, not the PingSource's.
    const runs = await eventually('the audit record of the run', async () => {
      const rows = await p.store<{ actor: string; details: { summary?: { users_created?: number } } }>(
        `SELECT actor, details FROM tenant_lifecycle.audit_log
          WHERE operation = 'pg-reconcile' AND at > $1 ORDER BY id`,
        [since],
      );
      return rows.some((r) => (r.details.summary?.users_created ?? 0) > 0) ? rows : undefined;
    });
    const creating = runs.find((r) => (r.details.summary?.users_created ?? 0) > 0);
    expect(creating?.actor).toBe(desiredIdentity);

    // The role is the Secret's: its password logs in, another is refused (28P01).
    expect(await login(env.postgres.url, username, password, 'myapp')).toBe('ok');
    expect(await login(env.postgres.url, username, `${password}-wrong`, 'myapp')).toBe('28P01');

    // Taken out of the ConfigMap, the user is dropped the same way.
    const removedAt = Date.now();
    await editUsers((users) => users.replace(entry, ''));
    await eventually(
      `role ${username} to be dropped`,
      async () => ((await roleExists()) ? undefined : true),
      30_000,
      100,
    );
    console.log(
      `pg-reconcile: ConfigMap edit to role ${username} dropped: ${String(Date.now() - removedAt)} ms`,
    );
  });
});
