/**
 * Secrets at rest and in logs (issue 13, item 7): provision (Keycloak and Grafana password) and bootstrap
 * (account create with a generated password, bootstrap with a given one under an Idempotency-Key,
 * set-password, rotate-password) run on the real servers with logs captured at debug level. Then the
 * captured logs and every row of the audit log and of the idempotency keys (schema tenant_lifecycle) are
 * searched for every secret used: the passwords, Everest's PBKDF2 hashes of them, the API token, the
 * Keycloak client secret, the Grafana admin password and the idempotency key secret, as text, base64 and
 * hex; and pg-reconcile's password from a Secret and the SCRAM verifier it stored (whole, and its keys).
 * Zero hits; and the search is shown to find a value planted in a real row, in every form, and the
 * rows it searched are there.
 */
import { pbkdf2Sync } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig as loadBootstrapConfig } from '../../../functions/bootstrap/config.ts';
import { bootstrapSetup } from '../../../functions/bootstrap/index.ts';
import { loadConfig as loadPgReconcileConfig } from '../../../functions/pg-reconcile/config.ts';
import { pgReconcileSetup } from '../../../functions/pg-reconcile/index.ts';
import { loadConfig as loadProvisionConfig } from '../../../functions/provision/config.ts';
import { provisionSetup } from '../../../functions/provision/index.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { PlatformStore } from '../../../shared/store/store.ts';
import { renderTenantClusterRole } from '../../../shared/tenancy/cluster-role.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { installEverest } from '../../support/everest-install.ts';
import { FUNCTION_TOKEN, IDEMPOTENCY_SECRET, tenantFunctionEnv } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const lines: string[] = [];
const running: RunningFunction[] = [];
let db: TestDatabase;
let functionEnv: Record<string, string>;
let systemUid = '';
/** Names of this run: the servers may hold an earlier run's. */
const run = Date.now().toString(36);
/** pg-reconcile's namespace (its ConfigMap and the user's Secret) and the PostgreSQL user it makes. */
const PG_NS = `sec-${run}`;
const PG_USER = `tl_sec_${run}`;
const PG_PASSWORD = `PgS3cret-${run}`;
const kube = apiserver(env.kubernetes);
const kubeToken = env.kubernetes.adminToken;

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'secrets');
  ({ systemUid } = await installEverest(env));
  expect([201, 409]).toContain(
    await apiserver(env.kubernetes).status(
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles',
      env.kubernetes.adminToken,
      renderTenantClusterRole(),
    ),
  );
  functionEnv = await tenantFunctionEnv(env, db.url, { LOG_LEVEL: 'debug' });
  const logDestination = { write: (line: string) => void lines.push(line) };
  running.push(
    await startFunction({
      name: 'provision',
      loadConfig: loadProvisionConfig,
      env: functionEnv,
      port: 0,
      host: '127.0.0.1',
      logDestination,
      setup: (config, log) => Promise.resolve(provisionSetup(config, log)),
    }),
    await startFunction({
      name: 'bootstrap',
      loadConfig: loadBootstrapConfig,
      env: functionEnv,
      port: 0,
      host: '127.0.0.1',
      logDestination,
      setup: (config, log) => Promise.resolve(bootstrapSetup(config, log)),
    }),
  );
  // pg-reconcile: a ConfigMap naming one user, its password in a Secret.
  expect(
    await kube.status('POST', '/api/v1/namespaces', kubeToken, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: PG_NS },
    }),
  ).toBe(201);
  expect(
    await kube.status('POST', `/api/v1/namespaces/${PG_NS}/secrets`, kubeToken, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `user-${PG_USER.replaceAll('_', '-')}-secret`, namespace: PG_NS },
      data: { password: Buffer.from(PG_PASSWORD).toString('base64') },
    }),
  ).toBe(201);
  expect(
    await kube.status('POST', `/api/v1/namespaces/${PG_NS}/configmaps`, kubeToken, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'postgres-users-config', namespace: PG_NS },
      data: { 'users.yaml': `users:\n  - username: ${PG_USER}\n    database: ${db.name}\n` },
    }),
  ).toBe(201);
  running.push(
    await startFunction({
      name: 'pg-reconcile',
      loadConfig: loadPgReconcileConfig,
      env: {
        API_TOKEN: FUNCTION_TOKEN,
        LOG_LEVEL: 'debug',
        DATABASE_URL: db.url,
        PG_URL: env.postgres.url,
        NAMESPACE: PG_NS,
        KUBECONFIG: env.kubernetes.kubeconfigPath,
      },
      port: 0,
      host: '127.0.0.1',
      logDestination,
      setup: (config, log) => Promise.resolve(pgReconcileSetup(config, log)),
    }),
  );
}, 300_000);

afterAll(async () => {
  for (const fn of running) await fn.stop();
  const client = new pg.Client({ connectionString: env.postgres.url });
  await client.connect();
  await client.query(`DROP OWNED BY ${pg.escapeIdentifier(PG_USER)}`).catch(() => undefined);
  await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(PG_USER)}`).catch(() => undefined);
  await client.end();
  await db.drop();
});

async function call(fn: RunningFunction | undefined, path: string, body: unknown, headers = {}) {
  const response = await fetch(`${fn?.url ?? ''}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${FUNCTION_TOKEN}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A secret and the forms it could be stored or logged in: text, base64 (both alphabets), hex. */
function forms(secret: string | Uint8Array): string[] {
  const bytes = typeof secret === 'string' ? Buffer.from(secret) : Buffer.from(secret);
  const text = typeof secret === 'string' ? [secret] : [];
  return [
    ...text,
    bytes.toString('base64'),
    bytes.toString('base64url'),
    bytes.toString('hex'),
    bytes.toString('base64').replace(/=+$/, ''),
  ];
}

/** Every place a secret must not be: the captured logs, every audit row, every idempotency row. */
async function haystacks(): Promise<{ logs: string; audit: string[]; idempotency: string[] }> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const rows = async (table: string) =>
      (
        await client.query<{ row: string }>(
          `SELECT row_to_json(t)::text AS row FROM tenant_lifecycle.${table} t`,
        )
      ).rows.map((r) => r.row);
    return {
      logs: lines.join('\n'),
      audit: await rows('audit_log'),
      idempotency: await rows('idempotency_keys'),
    };
  } finally {
    await client.end();
  }
}

function hits(secret: string | Uint8Array, where: { logs: string; audit: string[]; idempotency: string[] }) {
  return forms(secret).flatMap((form) => [
    ...(where.logs.includes(form) ? [`logs: ${form.slice(0, 4)}…`] : []),
    ...where.audit.filter((r) => r.includes(form)).map(() => `audit: ${form.slice(0, 4)}…`),
    ...where.idempotency.filter((r) => r.includes(form)).map(() => `idempotency: ${form.slice(0, 4)}…`),
  ]);
}

describe('secrets at rest and in logs', () => {
  it('leaves no password, hash, token or client secret in the logs, the audit log or the idempotency rows', async () => {
    const [provision, bootstrap] = running;
    const secrets: { name: string; value: string | Uint8Array }[] = [];
    const everestHash = (password: string) => pbkdf2Sync(password, systemUid, 4096, 32, 'sha256');
    const password = (name: string, value: string) => {
      secrets.push({ name, value }, { name: `${name} (PBKDF2)`, value: everestHash(value) });
    };

    // provision: a Keycloak user and a Grafana user with a generated password, under an Idempotency-Key.
    const tenant = await call(
      provision,
      '/provisioner',
      { full_name: `Sam Secret ${run}`, email: `sam.secret.${run}@example.org` },
      { 'idempotency-key': `secrets-provision-${run}` },
    );
    expect(tenant.status, JSON.stringify(tenant.body)).toBe(200);
    secrets.push({ name: 'provisioned password', value: String(tenant.body.password) });

    // bootstrap: a given password (Idempotency-Key), a generated one, set-password and rotate-password.
    const given = 'Sh0rt!'; // the shortest Everest allows: what a plain hash would give away at once
    password('bootstrap password', given);
    const boot = await call(
      bootstrap,
      '/bootstrap/tenant',
      {
        username: `secret_sam_${run}`,
        password: given,
        namespace: `ns-secret-${run}`,
        operators: { postgresql: true },
      },
      { 'idempotency-key': `secrets-bootstrap-${run}` },
    );
    expect(boot.status, JSON.stringify(boot.body)).toBe(200);
    const created = await call(bootstrap, '/cli/accounts/create', { username: `secret_gen_${run}` });
    expect(created.status).toBe(200);
    password('generated password', String(created.body.generated_password));
    const set = await call(bootstrap, '/cli/accounts/set-password', {
      username: `secret_gen_${run}`,
      new_password: 'S3tP@ssword-1',
    });
    expect(set.status).toBe(200);
    password('set password', 'S3tP@ssword-1');
    const rotated = await call(bootstrap, '/users/rotate-password', {
      username: `secret_sam_${run}`,
      new_password: 'R0tated@Pass',
    });
    expect(rotated.status).toBe(200);
    password('rotated password', 'R0tated@Pass');

    // pg-reconcile: the password from the Secret, and the SCRAM verifier it stored (and its keys).
    const pgRun = await call(running[2], '/reconcile', {});
    expect(pgRun.status, JSON.stringify(pgRun.body)).toBe(200);
    expect(pgRun.body).toMatchObject({ summary: { users_created: 1 } });
    const verifierClient = new pg.Client({ connectionString: env.postgres.url });
    await verifierClient.connect();
    const verifier = (
      await verifierClient.query<{ v: string }>('SELECT rolpassword AS v FROM pg_authid WHERE rolname = $1', [
        PG_USER,
      ])
    ).rows[0]?.v;
    await verifierClient.end();
    expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:/);
    const [, keys = ''] = (verifier ?? '').split('$').slice(1);
    const [storedKey = '', serverKey = ''] = keys.split(':');
    secrets.push(
      { name: 'pg-reconcile password', value: PG_PASSWORD },
      { name: 'SCRAM verifier', value: verifier ?? '' },
      { name: 'SCRAM StoredKey', value: storedKey },
      { name: 'SCRAM ServerKey', value: serverKey },
      { name: 'SCRAM StoredKey (bytes)', value: Buffer.from(storedKey, 'base64') },
      { name: 'SCRAM ServerKey (bytes)', value: Buffer.from(serverKey, 'base64') },
    );

    // The configuration's secrets.
    secrets.push(
      { name: 'API token', value: FUNCTION_TOKEN },
      { name: 'idempotency key secret', value: IDEMPOTENCY_SECRET },
      { name: 'Keycloak client secret', value: functionEnv.KEYCLOAK_CLIENT_SECRET ?? '' },
      { name: 'Grafana admin password', value: env.grafana.adminPassword },
    );
    expect(secrets.every((s) => s.value.length >= 6)).toBe(true);

    // Positive control: a value planted in a real audit row is found by the same search, in every form.
    const planted = 'planted-secret-value-42';
    const store = new PlatformStore(new pg.Pool({ connectionString: db.url }));
    try {
      await store.recordAudit({
        operation: 'planted',
        target: 'control',
        actor: 'test',
        outcome: 'success',
        details: {
          text: planted,
          base64: Buffer.from(planted).toString('base64'),
          hex: Buffer.from(planted).toString('hex'),
        },
      });
    } finally {
      await store.pool.end();
    }
    const where = await haystacks();
    for (const form of forms(planted))
      expect(
        where.audit.some((row) => row.includes(form)),
        form,
      ).toBe(true);
    expect(hits(planted, where).length).toBeGreaterThanOrEqual(forms(planted).length);
    // The rows searched are there: the audit of every operation run, both functions' idempotency keys.
    expect(where.audit.length).toBeGreaterThanOrEqual(6);
    expect(where.audit.some((row) => row.includes('"operation":"pg-reconcile"'))).toBe(true);
    expect(where.idempotency.map((r) => (JSON.parse(r) as { scope: string }).scope).sort()).toEqual([
      'bootstrap:bootstrap-tenant',
      'provision:provision',
    ]);
    // The logs searched are there (captured with LOG_LEVEL=debug): provision's and bootstrap's requests.
    expect(where.logs).toContain('tenant provisioned');
    expect(where.logs).toContain('/bootstrap/tenant');

    const found = secrets.map((s) => ({ name: s.name, hits: hits(s.value, where) }));
    expect(found.filter((f) => f.hits.length > 0)).toEqual([]);
  });
});
