/**
 * The pg-reconcile function end to end: HTTP, its ApiServerSource and PingSource triggers, the ConfigMap
 * and Secrets on the real kube-apiserver, roles on the real PostgreSQL. Seed 004's alice/bob example, a
 * role change, a password rotation (the user logs in with the new password, not the old), a removal with
 * owned objects in another database, unmanaged roles that survive, an empty or broken ConfigMap that drops
 * nothing, hostile names, the drop bound, metrics and audit.
 *
 * Role names carry a per-run prefix (roles are cluster-wide). The test server asks every login for its
 * password (scram-sha-256 in its pg_hba.conf), so the logins below prove the passwords pg-reconcile sets.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/pg-reconcile/config.ts';
import { pgReconcileSetup } from '../../../functions/pg-reconcile/index.ts';
import { parseMarker } from '../../../shared/pg-roles/marker.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { PlatformStore } from '../../../shared/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { login, readRoles, rolePrefix } from '../../support/pg-roles.ts';
import { FUNCTION_TOKEN } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const token = env.kubernetes.adminToken;
const P = rolePrefix();
const NS = `pgr-${P.slice(1, 7)}`;
const CM = 'postgres-users-config';
const [alice, bob] = [`${P}alice`, `${P}bob`];
const r = (name: string) => `${P}${name}`;
let app: TestDatabase;
let store: TestDatabase;
let fn: RunningFunction | undefined;
let admin: pg.Client;

const secretName = (user: string) => `user-${user.replaceAll('_', '-')}-secret`;

async function putSecret(name: string, password: string, labels: Record<string, string> = {}) {
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NS, labels },
    type: 'Opaque',
    data: { password: Buffer.from(password).toString('base64') },
  };
  const path = `/api/v1/namespaces/${NS}/secrets`;
  const created = await api.send('POST', path, token, body);
  if (created.status === 409) expect(await api.status('PUT', `${path}/${name}`, token, body)).toBe(200);
  else expect(created.status).toBe(201);
}

async function putConfigMap(usersYaml: string | undefined) {
  const body = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: CM, namespace: NS },
    data: usersYaml === undefined ? {} : { 'users.yaml': usersYaml },
  };
  const path = `/api/v1/namespaces/${NS}/configmaps`;
  const created = await api.send('POST', path, token, body);
  if (created.status === 409) expect(await api.status('PUT', `${path}/${CM}`, token, body)).toBe(200);
  else expect(created.status).toBe(201);
}

/** Seed 004's example, with this run's prefix and database. */
const seedYaml = (aliceRoles = ['read_only', 'analyst'], extra = '') => `
timestamp: "2025-10-29T10:30:45"
users:
  - username: ${alice}
    database: ${app.name}
    roles:
${aliceRoles.map((x) => `      - ${r(x)}`).join('\n')}
  - username: ${bob}
    database: ${app.name}
    roles:
      - ${r('read_write')}
      - ${r('developer')}
${extra}`;

/** alice (after the role change) and whoever else is given: bob is no longer listed. */
const aliceYaml = (extra = '') =>
  `users:\n  - username: ${alice}\n    database: ${app.name}\n    roles: [${r('read_only')}, ${r('writer')}]\n${extra}`;

interface Report {
  message: string;
  lines: string[];
  summary: Record<string, number | string>;
  plan: {
    steps: { op: string; user?: string; role?: string }[];
    skipped: { username: string; reason: string }[];
    refused_drops?: { users: string[] };
  };
  statements: number;
  wrote: boolean;
  catalog_queries: number;
  password_check: string;
}

async function call(body: unknown = {}, headers: Record<string, string> = {}) {
  const response = await fetch(`${fn?.url ?? ''}/reconcile`, {
    method: 'POST',
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as Report & { type?: string; detail?: string },
  };
}

/** A CloudEvent as a Knative ApiServerSource in Resource mode sends it (binary mode). */
async function apiserverEvent(
  type: string,
  object: { kind: string; metadata: { name: string; namespace: string } },
) {
  const response = await fetch(`${fn?.url ?? ''}/`, {
    method: 'POST',
    headers: {
      authorization: FUNCTION_TOKEN,
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': `ev-${Math.random().toString(36).slice(2)}`,
      'ce-type': type,
      'ce-source': 'https://kubernetes.default.svc',
      'ce-subject': `/api/v1/namespaces/${object.metadata.namespace}/${object.kind.toLowerCase()}s/${object.metadata.name}`,
    },
    body: JSON.stringify({ apiVersion: 'v1', ...object }),
  });
  return { status: response.status, body: (await response.json()) as Report & { ignored?: boolean } };
}

async function roles() {
  return readRoles(env.postgres.url, P);
}

beforeAll(async () => {
  app = await createTestDatabase(env.postgres.url, 'pgr_myapp');
  store = await createTestDatabase(env.postgres.url, 'pgr_store');
  admin = new pg.Client({ connectionString: env.postgres.url });
  await admin.connect();
  expect(await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }, token)).toBe(201);
  fn = await startFunction({
    name: 'pg-reconcile',
    loadConfig,
    env: {
      API_TOKEN: FUNCTION_TOKEN,
      LOG_LEVEL: 'silent',
      DATABASE_URL: store.url,
      PG_URL: env.postgres.url,
      NAMESPACE: NS,
      KUBECONFIG: env.kubernetes.kubeconfigPath,
      RETRY_MIN_DELAY_MS: '20',
      MAX_RETRIES: '2',
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(pgReconcileSetup(config, log)),
  });
});

afterAll(async () => {
  await fn?.stop();
  const { rows } = await admin.query<{ name: string }>(
    `SELECT rolname AS name FROM pg_roles WHERE starts_with(rolname, $1)`,
    [P],
  );
  const appAdmin = new pg.Client({ connectionString: app.url });
  await appAdmin.connect();
  for (const { name } of rows) {
    for (const c of [appAdmin, admin])
      await c.query(`DROP OWNED BY ${pg.escapeIdentifier(name)}`).catch(() => undefined);
  }
  await appAdmin.end();
  for (const { name } of rows) await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`);
  await admin.end();
  await api.send('DELETE', `/api/v1/namespaces/${NS}`, token);
  await app.drop();
  await store.drop();
});

describe('pg-reconcile', () => {
  it('a missing ConfigMap skips the run (404) and changes nothing', async () => {
    const { status, body } = await call();
    expect(status).toBe(404);
    expect(body.detail).toMatch(new RegExp(`ConfigMap ${NS}/${CM} not found`));
  });

  it("dry run of seed 004's example: the predecessor's lines, the plan as JSON, nothing created", async () => {
    await putConfigMap(seedYaml());
    await putSecret(secretName(alice), 'alice-password-1');
    await putSecret(secretName(bob), 'bob-password-1');
    const { status, body } = await call({ dryRun: true });
    expect(status).toBe(200);
    expect(body.lines).toEqual([
      `[DRY-RUN] Would create role: ${r('analyst')}`,
      `[DRY-RUN] Would create role: ${r('developer')}`,
      `[DRY-RUN] Would create role: ${r('read_only')}`,
      `[DRY-RUN] Would create role: ${r('read_write')}`,
      `[DRY-RUN] Would create user: ${alice} with roles ['${r('analyst')}', '${r('read_only')}']`,
      `[DRY-RUN] Would create user: ${bob} with roles ['${r('developer')}', '${r('read_write')}']`,
      `[DRY-RUN] Would grant CONNECT on database ${app.name} to ${alice}`,
      `[DRY-RUN] Would grant CONNECT on database ${app.name} to ${bob}`,
      'Drift detected: 2 changes needed',
    ]);
    expect(body.plan.steps.map((s) => s.op)).toContain('create-user');
    expect(JSON.stringify(body)).not.toContain('password-1');
    expect((await roles()).size).toBe(0);
  });

  it("seed 004's example end to end: roles, users with their memberships, CONNECT, markers; alice logs in", async () => {
    const { status, body } = await call();
    expect(status).toBe(200);
    expect(body.summary).toMatchObject({ users_created: 2, roles_created: 4, users_deleted: 0, errors: 0 });
    expect(body.password_check).toBe('verifier');
    const all = await roles();
    expect(all.get(alice)).toMatchObject({ login: true, member_of: [r('analyst'), r('read_only')] });
    expect(all.get(bob)).toMatchObject({ login: true, member_of: [r('developer'), r('read_write')] });
    expect(all.get(r('analyst'))).toMatchObject({ login: false });
    expect(parseMarker(all.get(alice)?.comment)).toMatchObject({ scope: `${NS}/${CM}`, kind: 'user' });
    expect(parseMarker(all.get(r('analyst'))?.comment)).toMatchObject({ kind: 'role' });
    expect(all.get(alice)?.password).toMatch(/^SCRAM-SHA-256\$4096:/);
    const { rows } = await admin.query<{ ok: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a
                       WHERE d.datname = $1 AND a.grantee = $2::regrole AND a.privilege_type = 'CONNECT') AS ok`,
      [app.name, alice],
    );
    expect(rows[0]?.ok).toBe(true);
    expect(await login(env.postgres.url, alice, 'alice-password-1', app.name)).toBe('ok');
    expect(await login(env.postgres.url, alice, 'wrong', app.name)).toBe('28P01');
    expect(await login(env.postgres.url, bob, 'bob-password-1', app.name)).toBe('ok');
    expect(await login(env.postgres.url, bob, 'alice-password-1', app.name)).toBe('28P01');
  });

  it('a second run is a no-op: no statement, no write, at most 3 catalog queries', async () => {
    const { body } = await call();
    expect(body).toMatchObject({ statements: 0, wrote: false });
    expect(body.catalog_queries).toBeLessThanOrEqual(3);
    expect(body.lines).toEqual(['No drift detected - system in desired state']);
  });

  it('a role change: the ConfigMap event revokes what went and grants what came', async () => {
    await putConfigMap(seedYaml(['read_only', 'writer']));
    const { status, body } = await apiserverEvent('dev.knative.apiserver.resource.update', {
      kind: 'ConfigMap',
      metadata: { name: CM, namespace: NS },
    });
    expect(status).toBe(200);
    expect(body.lines).toEqual([
      `Created role: ${r('writer')}`,
      `Revoked roles from ${alice}: {'${r('analyst')}'}`,
      `Granted roles to ${alice}: {'${r('writer')}'}`,
      'Drift detected: 1 changes needed',
    ]);
    expect((await roles()).get(alice)?.member_of).toEqual([r('read_only'), r('writer')]);
  });

  it('a password rotation from a Secret event: alice logs in with the new password, not the old', async () => {
    await putSecret(secretName(alice), 'alice-password-2');
    const { status, body } = await apiserverEvent('dev.knative.apiserver.resource.update', {
      kind: 'Secret',
      metadata: { name: secretName(alice), namespace: NS },
    });
    expect(status).toBe(200);
    expect(body.summary).toMatchObject({ passwords_rotated: 1, users_updated: 1 });
    expect(body.lines).toContain(`Rotated password of ${alice} (Secret ${secretName(alice)} changed)`);
    expect(await login(env.postgres.url, alice, 'alice-password-2', app.name)).toBe('ok');
    expect(await login(env.postgres.url, alice, 'alice-password-1', app.name)).toBe('28P01');
  });

  it('a Secret changed without a new password: only the marker follows, the password is not written', async () => {
    const before = (await roles()).get(alice)?.password;
    await putSecret(secretName(alice), 'alice-password-2', { touched: 'yes' });
    const { body } = await call();
    expect(body.plan.steps.map((s) => s.op)).toEqual(['refresh-marker']);
    expect(body.summary).toMatchObject({ passwords_rotated: 0, drift_detected: 0 });
    expect((await roles()).get(alice)?.password).toBe(before);
    expect((await call()).body).toMatchObject({ statements: 0, wrote: false });
  });

  it('a password changed by hand in the database is set back to the Secret', async () => {
    await admin.query(`ALTER ROLE ${pg.escapeIdentifier(alice)} PASSWORD 'hand-made'`);
    const { body } = await call();
    expect(body.summary).toMatchObject({ passwords_rotated: 1 });
    expect(await login(env.postgres.url, alice, 'alice-password-2', app.name)).toBe('ok');
    expect(await login(env.postgres.url, alice, 'hand-made', app.name)).toBe('28P01');
  });

  it('unmanaged roles survive and are never altered, even when the ConfigMap names them', async () => {
    await admin.query(`CREATE ROLE ${pg.escapeIdentifier(r('handmade'))} LOGIN`);
    await admin.query(`CREATE ROLE ${pg.escapeIdentifier(r('claimed'))} LOGIN CONNECTION LIMIT 7`);
    await putSecret(secretName(r('claimed')), 'claimed-pw');
    await putConfigMap(
      seedYaml(['read_only', 'writer'], `  - username: ${r('claimed')}\n    roles: [${r('writer')}]\n`),
    );
    const { body } = await call();
    expect(body.plan.skipped).toEqual([
      expect.objectContaining({ username: r('claimed'), reason: 'unmanaged' }) as unknown,
    ]);
    const all = await roles();
    expect(all.get(r('handmade'))).toMatchObject({ login: true, comment: null, member_of: [] });
    expect(all.get(r('claimed'))).toMatchObject({ comment: null, member_of: [], password: null });
  });

  it('an empty, unreadable or user-less ConfigMap skips the run with an error and drops nothing', async () => {
    for (const content of [undefined, '', 'users: [', 'users: []', 'people:\n  - alice\n']) {
      await putConfigMap(content);
      const { status, body } = await call();
      expect(status).toBe(400);
      expect(body.type).toBe('urn:tenant-lifecycle:problem:bad-request');
      expect(body.detail).toMatch(/the run was skipped and nothing was changed/);
    }
    const all = await roles();
    expect(all.has(alice) && all.has(bob)).toBe(true);
  });

  it('a missing Secret skips that user and reports it; the others go on', async () => {
    const carol = r('carol');
    await putConfigMap(
      seedYaml(['read_only', 'writer'], `  - username: ${carol}\n  - username: ${r('dave')}\n`),
    );
    await putSecret(secretName(r('dave')), 'dave-pw');
    const { status, body } = await call();
    expect(status).toBe(200);
    expect(body.plan.skipped).toEqual([
      expect.objectContaining({ username: carol, reason: 'missing_secret' }) as unknown,
    ]);
    expect(body.lines).toContain(
      `Skipped user ${carol}: Secret ${secretName(carol)} (key password) not found`,
    );
    expect(body.summary).toMatchObject({ users_created: 1, errors: 1 });
    expect((await roles()).has(r('dave'))).toBe(true);
    expect((await roles()).has(carol)).toBe(false);
  });

  it('a removal with owned objects: REASSIGN OWNED to the fallback and DROP OWNED in its database, then DROP ROLE', async () => {
    const appAdmin = new pg.Client({ connectionString: app.url });
    await appAdmin.connect();
    try {
      await appAdmin.query(`CREATE TABLE bobs_table (id int)`);
      await appAdmin.query(`ALTER TABLE bobs_table OWNER TO ${pg.escapeIdentifier(bob)}`);
      await appAdmin.query(`CREATE TABLE shared_table (id int)`);
      await appAdmin.query(`GRANT SELECT ON shared_table TO ${pg.escapeIdentifier(bob)}`);
      await putConfigMap(aliceYaml(`  - username: ${r('dave')}\n`));
      const { status, body } = await call();
      expect(status).toBe(200);
      expect(body.lines, JSON.stringify(body)).toContain(`Dropped user: ${bob}`);
      expect(body.plan.steps).toContainEqual({
        op: 'drop-user',
        user: bob,
        databases: [app.name, 'postgres'].sort(),
        fallback: 'postgres',
      });
      expect((await roles()).has(bob)).toBe(false);
      const { rows } = await appAdmin.query<{ owner: string }>(
        `SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'bobs_table'`,
      );
      expect(rows).toEqual([{ owner: 'postgres' }]);
    } finally {
      await appAdmin.end();
    }
  });

  it('refuses to drop more than the share of managed users in one run unless forced', async () => {
    const extra = ['e1', 'e2', 'e3', 'e4', 'e5'].map(r);
    for (const u of extra) await putSecret(secretName(u), `${u}-pw`);
    await putConfigMap(aliceYaml([r('dave'), ...extra].map((u) => `  - username: ${u}\n`).join('')));
    expect((await call()).body.summary).toMatchObject({ users_created: 5 });
    // Keep alice only: 6 of 7 managed users would go (dave and e1..e5); the bound allows 1.
    await putConfigMap(aliceYaml());
    const refused = await call();
    expect(refused.status).toBe(200);
    expect(refused.body.plan.refused_drops?.users).toHaveLength(6);
    expect(refused.body.summary).toMatchObject({ users_deleted: 0 });
    expect(refused.body.lines.join('\n')).toMatch(/Not dropped: refusing to drop 6 of 7 managed users/);
    expect((await roles()).has(r('e1'))).toBe(true);
    const forced = await call({ force: true });
    expect(forced.body.summary).toMatchObject({ users_deleted: 6 });
    expect((await roles()).has(r('e1'))).toBe(false);
  });

  it('names with quotes, spaces and SQL metacharacters are quoted identifiers, never executed', async () => {
    const canary = r('canary');
    await admin.query(`CREATE TABLE ${pg.escapeIdentifier(canary)} (id int)`);
    const evilUser = `${P}o'brien"; DROP TABLE ${canary}; --`;
    const evilRole = `${P}weird "role" ; DROP ROLE ${alice}`;
    const spaced = `${P}with space`;
    await putSecret('hostile-1', 'hostile-pw');
    await putConfigMap(`users:
  - username: ${alice}
    database: ${app.name}
    roles: [${r('read_only')}, ${r('writer')}]
  - username: ${JSON.stringify(evilUser)}
    secretName: hostile-1
    database: ${app.name}
    roles: [${JSON.stringify(evilRole)}, ${JSON.stringify(spaced)}]
  - username: ${r('x')}${'y'.repeat(70)}
`);
    const { status, body } = await call();
    expect(status).toBe(200);
    expect(body.summary).toMatchObject({ users_created: 1, roles_created: 2 });
    expect(body.plan.skipped).toEqual([
      expect.objectContaining({ reason: 'invalid_entry', username: `${r('x')}${'y'.repeat(70)}` }) as unknown,
    ]);
    const all = await roles();
    expect(all.get(evilUser)).toMatchObject({ login: true, member_of: [spaced, evilRole].sort() });
    expect(all.has(alice)).toBe(true);
    const { rows } = await admin.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [
      pg.escapeIdentifier(canary),
    ]);
    expect(rows[0]?.t).not.toBeNull();
    // And it can be dropped again just as safely.
    await putConfigMap(aliceYaml());
    expect((await call()).body.summary).toMatchObject({ users_deleted: 1 });
    expect((await roles()).has(evilUser)).toBe(false);
    await admin.query(`DROP TABLE ${pg.escapeIdentifier(canary)}`);
  });

  it('the PingSource triggers a run; unrelated apiserver events are ignored', async () => {
    const ping = await fetch(`${fn?.url ?? ''}/`, {
      method: 'POST',
      headers: {
        authorization: FUNCTION_TOKEN,
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'ping-1',
        'ce-type': 'dev.knative.sources.ping',
        'ce-source': '/apis/v1/namespaces/tenant-functions/pingsources/pg-reconcile',
      },
      body: JSON.stringify({}),
    });
    expect(ping.status).toBe(200);
    expect(((await ping.json()) as Report).statements).toBe(0);
    const other = await apiserverEvent('dev.knative.apiserver.resource.add', {
      kind: 'ConfigMap',
      metadata: { name: 'unrelated', namespace: NS },
    });
    expect(other.body.ignored).toBe(true);
  });

  it('exposes the predecessor metrics and writes audit records', async () => {
    const text = await (await fetch(`${fn?.url ?? ''}/metrics`)).text();
    for (const name of [
      'postgres_controller_reconciliations_total',
      'postgres_controller_last_reconciliation_timestamp',
      'postgres_controller_drift_total',
      'postgres_controller_users_managed',
      'postgres_controller_roles_managed',
      'postgres_controller_errors_total',
      'postgres_controller_last_error_timestamp',
    ])
      expect(text).toContain(name);
    expect(text).toMatch(/postgres_controller_users_managed\{function="pg-reconcile"\} 1\b/);
    const auditStore = new PlatformStore(new pg.Pool({ connectionString: store.url }));
    try {
      const page = await auditStore.listAudit({ operation: 'pg-reconcile' });
      const outcomes = new Set(page.items.map((e) => e.outcome));
      expect(outcomes).toEqual(new Set(['dry_run', 'success', 'partial', 'failure']));
      expect(JSON.stringify(page.items)).not.toMatch(/password-[12]|hostile-pw/);
    } finally {
      await auditStore.pool.end();
    }
  });
});
