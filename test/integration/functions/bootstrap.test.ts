/**
 * The bootstrap function with enforce, on the real kube-apiserver (Everest's and OLM's CRDs installed,
 * Everest's installation stood in by test/support/everest-install.ts) and PostgreSQL: seed 001's examples
 * for alice and bob end to end (bootstrap, policy lines, limits, enforcement by the apiserver, usage,
 * day-2), concurrent policy appends, and bad input refused with the reason and nothing changed.
 * Bootstrap sends its limits-changed CloudEvent straight to enforce (in a cluster, through the Broker).
 */
import { pbkdf2Sync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import { loadConfig } from '../../../functions/bootstrap/config.ts';
import { bootstrapSetup } from '../../../functions/bootstrap/index.ts';
import { loadConfig as loadEnforceConfig } from '../../../functions/enforce/config.ts';
import { enforceSetup } from '../../../functions/enforce/index.ts';
import { ADMISSION_POLICY_NAME, CLUSTER_QUOTA_NAME } from '../../../shared/everest/admission.ts';
import { parsePolicy, policyProblem } from '../../../shared/everest/rbac-policy.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';
import { everestAcceptsPassword, installEverest } from '../../support/everest-install.ts';
import { FUNCTION_TOKEN, IDEMPOTENCY_SECRET } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
const api = apiserver(env.kubernetes);
const admin = env.kubernetes.adminToken;
const OLM = '/apis/operators.coreos.com';
const clusters = (ns: string) => `/apis/everest.percona.com/v1alpha1/namespaces/${ns}/databaseclusters`;
let db: TestDatabase;
let bootstrap: RunningFunction | undefined;
let enforce: RunningFunction | undefined;
let systemUid = '';

interface Answer {
  status: number;
  body: Record<string, unknown> & { detail?: string };
  text: string;
  headers: Headers;
}

async function call(
  fn: RunningFunction | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers = {},
): Promise<Answer> {
  const response = await fetch(`${fn?.url ?? ''}${path}`, {
    method,
    headers: { 'x-admin-key': FUNCTION_TOKEN, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // text/plain answers
  }
  return { status: response.status, body: json, text, headers: response.headers };
}
const boot = (method: string, path: string, body?: unknown, headers = {}) =>
  call(bootstrap, method, path, body, headers);

async function storedUsersYaml(): Promise<string> {
  const secret = await api.send('GET', '/api/v1/namespaces/everest-system/secrets/everest-accounts', admin);
  return Buffer.from(
    (secret.json as { data: Record<string, string> }).data['users.yaml'] ?? '',
    'base64',
  ).toString();
}

async function storedAccounts(): Promise<
  Record<string, { passwordHash: Uint8Array | string; enabled: boolean }>
> {
  return parseDocument(await storedUsersYaml(), { customTags: ['binary'] }).toJS() as Record<
    string,
    { passwordHash: Uint8Array; enabled: boolean }
  >;
}

async function storedPolicy(): Promise<string> {
  const cm = await api.send('GET', '/api/v1/namespaces/everest-system/configmaps/everest-rbac', admin);
  return (cm.json as { data: Record<string, string> }).data['policy.csv'] ?? '';
}

/** Everest's check of a password: PBKDF2-HMAC-SHA256 with the everest-system UID, 4096 rounds, 32 bytes. */
const everestHash = (password: string) => pbkdf2Sync(password, systemUid, 4096, 32, 'sha256');

const ALICE = {
  username: 'alice',
  password: 'StrongP@ssw0rd',
  namespace: 'ns-alice',
  operators: { postgresql: true, mongodb: false, xtradb_cluster: true },
};
const BOB = {
  username: 'bob',
  password: 'AnotherP@ss1',
  namespace: 'ns-bob',
  operators: { postgresql: true, mongodb: true, xtradb_cluster: false },
};

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'bootstrap');
  ({ systemUid } = await installEverest(env));
  const common = {
    API_TOKEN: FUNCTION_TOKEN,
    LOG_LEVEL: 'silent',
    DATABASE_URL: db.url,
    KUBECONFIG: env.kubernetes.kubeconfigPath,
  };
  enforce = await startFunction({
    name: 'enforce',
    loadConfig: loadEnforceConfig,
    env: common,
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(enforceSetup(config, log)),
  });
  bootstrap = await startFunction({
    name: 'bootstrap',
    loadConfig,
    env: {
      ...common,
      IDEMPOTENCY_KEY_SECRET: IDEMPOTENCY_SECRET,
      LIMITS_EVENT_SINK: enforce.url,
      LIMITS_EVENT_TOKEN: FUNCTION_TOKEN,
    },
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(bootstrapSetup(config, log)),
  });
}, 300_000);

afterAll(async () => {
  await bootstrap?.stop();
  await enforce?.stop();
  await db.drop();
});

describe('bootstrap: seed 001’s alice and bob', () => {
  it('bootstraps both tenants as Everest would have them, and replays an Idempotency-Key', async () => {
    const alice = await boot('POST', '/bootstrap/tenant', ALICE, {
      'idempotency-key': '11111111-1111-1111-1111-111111111111',
    });
    expect(alice.status).toBe(200);
    expect(alice.body).toMatchObject({
      status: 'ok',
      namespace: 'ns-alice',
      username: 'alice',
      namespace_created: true,
      operators_installed: ['postgresql', 'xtradb_cluster'],
      account: 'created',
      rbac: { added: 9, already_present: 0, enforced: false },
      limits: { source: 'default', max_clusters: 3, allowed_engines: ['postgresql', 'mysql'] },
      enforcement: 'requested',
    });
    const bob = await boot('POST', '/bootstrap/tenant', BOB, {
      'idempotency-key': '22222222-2222-2222-2222-222222222222',
    });
    expect(bob.status).toBe(200);
    const replay = await boot('POST', '/bootstrap/tenant', ALICE, {
      'idempotency-key': '11111111-1111-1111-1111-111111111111',
    });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(alice.body);

    // The namespace as Everest's chart makes it.
    const ns = await api.send('GET', '/api/v1/namespaces/ns-alice', admin);
    expect((ns.json as { metadata: { labels: Record<string, string> } }).metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'everest',
    });
    expect(await api.names(`${OLM}/v1alpha1/namespaces/ns-alice/subscriptions`, admin)).toEqual([
      'percona-postgresql-operator',
      'percona-xtradb-cluster-operator',
    ]);
    expect(await api.names(`${OLM}/v1alpha1/namespaces/ns-bob/subscriptions`, admin)).toEqual([
      'percona-postgresql-operator',
      'percona-server-mongodb-operator',
    ]);
    expect(await api.names(`${OLM}/v1/namespaces/ns-alice/operatorgroups`, admin)).toEqual([
      'everest-databases',
    ]);

    // The accounts in Everest's format: the hash Everest computes, the admin untouched.
    const accounts = await storedAccounts();
    expect(Buffer.from(accounts.alice?.passwordHash as Uint8Array)).toEqual(everestHash('StrongP@ssw0rd'));
    expect(Buffer.from(accounts.bob?.passwordHash as Uint8Array)).toEqual(everestHash('AnotherP@ss1'));
    expect(accounts.admin?.passwordHash).toBe('initial-admin-password');
    // And Everest's own Go code (yaml.v3 + PBKDF2) reads the same: the right password matches, a wrong one not.
    const usersYaml = await storedUsersYaml();
    expect(await everestAcceptsPassword(usersYaml, systemUid, 'alice', 'StrongP@ssw0rd')).toBe(true);
    expect(await everestAcceptsPassword(usersYaml, systemUid, 'bob', 'AnotherP@ss1')).toBe(true);
    expect(await everestAcceptsPassword(usersYaml, systemUid, 'alice', 'AnotherP@ss1')).toBe(false);

    // The tenant policy lines, once each.
    const policy = await storedPolicy();
    expect(policy.split('\n').filter((l) => l === 'g, alice, role:tenant-ns-alice')).toHaveLength(1);
    expect(policy).toContain('p, role:tenant-ns-bob, database-clusters, *, ns-bob/*');
  });

  it('runs again without duplicating anything: a second bootstrap sets the password and keeps the limits', async () => {
    await boot('PUT', '/limits', {
      namespace: 'ns-bob',
      max_clusters: 1,
      allowed_engines: ['mongodb'],
      cpu_limit_cores: 2,
      memory_limit_bytes: 4294967296,
      max_db_users: 5,
    });
    const again = await boot('POST', '/bootstrap/tenant', { ...BOB, password: 'AnotherP@ss2' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      namespace_created: false,
      operators_installed: [],
      operators_present: ['postgresql', 'mongodb'],
      account: 'password_set',
      rbac: { added: 0, already_present: 9 },
      limits: { source: 'existing', max_clusters: 1 },
    });
    expect(Buffer.from((await storedAccounts()).bob?.passwordHash as Uint8Array)).toEqual(
      everestHash('AnotherP@ss2'),
    );
  });

  it('appends the seed’s policy lines without duplicates and answers rbac can from the stored policy', async () => {
    const lines = [
      'p, role:tenant-ns-alice, namespaces, read, ns-alice',
      'p, role:tenant-ns-alice, database-clusters, *, ns-alice/*',
      'g, alice, role:tenant-ns-alice',
    ];
    const append = await boot('POST', '/rbac/append', { lines });
    expect(append.status).toBe(200);
    expect(append.body).toMatchObject({ lines_appended: 0, lines_already_present: 3 });
    const can = (user: string, verb: string, object: string) =>
      boot('POST', '/rbac/can', { user, resource: 'database-clusters', verb, object });
    expect((await can('alice', 'create', 'ns-alice/*')).body).toEqual({ allowed: true, enforced: false });
    expect((await can('alice', 'create', 'ns-bob/*')).body).toMatchObject({ allowed: false });
    expect((await can('bob', 'delete', 'ns-bob/pg-1')).body).toMatchObject({ allowed: true });
    expect((await can('admin', 'create', '*')).body).toMatchObject({ allowed: true });
  });

  it('writes limits, and the apiserver itself enforces them through enforce', async () => {
    const put = await boot('PUT', '/limits', {
      namespace: 'ns-alice',
      max_clusters: 3,
      allowed_engines: ['postgresql', 'mysql'],
      cpu_limit_cores: 4,
      memory_limit_bytes: 17179869184,
      max_db_users: 20,
    });
    expect(put.body).toEqual({ status: 'ok', enforcement: 'requested' });
    expect((await boot('GET', '/limits/ns-alice')).body).toEqual({
      namespace: 'ns-alice',
      max_clusters: 3,
      allowed_engines: ['postgresql', 'mysql'],
      cpu_limit_cores: 4,
      memory_limit_bytes: 17179869184,
      max_db_users: 20,
    });
    // enforce applied the admission policy and the namespace's quota on the event.
    expect(
      await api.status(
        'GET',
        `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${ADMISSION_POLICY_NAME}`,
        admin,
      ),
    ).toBe(200);
    expect(
      await api.status('GET', `/api/v1/namespaces/ns-alice/resourcequotas/${CLUSTER_QUOTA_NAME}`, admin),
    ).toBe(200);
    const cluster = (name: string, type: string, cpu: string) => ({
      apiVersion: 'everest.percona.com/v1alpha1',
      kind: 'DatabaseCluster',
      metadata: { name },
      spec: { engine: { type, replicas: 1, resources: { cpu, memory: '1Gi' }, storage: { size: '1Gi' } } },
    });
    // A binding takes a moment to reach the admission plugin, the quota until the controller counted.
    const message = (answer: { json: unknown }) =>
      (answer.json as { message?: string } | undefined)?.message ?? '';
    let refused = { status: 0, json: undefined as unknown };
    for (let i = 0; i < 300 && !message(refused).includes('not allowed'); i++) {
      refused = await api.send('POST', clusters('ns-alice'), admin, cluster('mongo', 'psmdb', '1'));
      if (refused.status === 201) await api.status('DELETE', `${clusters('ns-alice')}/mongo`, admin);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(refused.status).toBe(403);
    expect(message(refused)).toContain("engine 'psmdb' not allowed");
    let accepted = 0;
    for (let i = 0; i < 250 && accepted !== 201; i++) {
      accepted = await api.status('POST', clusters('ns-alice'), admin, cluster('pg-1', 'postgresql', '1'));
      if (accepted !== 201) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(accepted).toBe(201);
    // The seed's check, from the live clusters: one more within the limits is fine, a 5th cpu is not.
    const check = (cpu: number) =>
      call(enforce, 'POST', '/enforce/cluster-create', {
        namespace: 'ns-alice',
        engine: 'postgresql',
        cpu_request_cores: cpu,
        memory_request_bytes: 2147483648,
      });
    expect((await check(1)).status).toBe(200);
    expect((await check(4)).body).toMatchObject({ detail: 'cpu limit exceeded' });
  }, 120_000);

  it('reports usage, tenants, audit and the raw listings', async () => {
    const usage = await call(enforce, 'GET', '/usage/ns-alice');
    expect(usage.status).toBe(200);
    expect(usage.body).toMatchObject({ namespace: 'ns-alice' });
    const tenants = await boot('GET', '/tenants');
    // Other tests' namespaces share the apiserver: look at seed 001's two, in the answer's order.
    const ours = (tenants.body as unknown as { namespace: string }[]).filter((t) =>
      ['ns-alice', 'ns-bob'].includes(t.namespace),
    );
    expect(ours).toMatchObject([
      { namespace: 'ns-alice', max_clusters: 3, usage: { clusters_count: 0 } },
      { namespace: 'ns-bob' },
    ]);
    const audit = await boot('GET', '/audit?limit=2');
    expect((audit.body.items as unknown[]).length).toBe(2);
    expect(typeof audit.body.nextCursor).toBe('string');
    const operations = ((await boot('GET', '/audit?limit=500')).body.items as { operation: string }[]).map(
      (i) => i.operation,
    );
    expect(operations).toEqual(expect.arrayContaining(['bootstrap-tenant', 'limits-put']));
    const users = await boot('GET', '/users/raw');
    expect(users.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(users.text).toMatch(
      /^USER\s+CAPABILITIES\s+ENABLED\nadmin\s+\[login\]\s+true\nalice\s+\[login\]\s+true\nbob/,
    );
    expect((await boot('GET', '/namespaces/raw')).text).toMatch(
      /ns-alice\s+postgresql, xtradb_cluster\nns-bob\s+postgresql, mongodb/,
    );
    const list = await boot('GET', '/cli/accounts/list');
    expect(list.body.users).toEqual(
      expect.arrayContaining([{ user: 'alice', capabilities: ['login'], enabled: true }]),
    );
  });

  it('day-2: rotates a password, adds an operator, removes a user and a namespace', async () => {
    expect(
      (await boot('POST', '/users/rotate-password', { username: 'alice', new_password: 'EvenStrongerP@ss2' }))
        .status,
    ).toBe(200);
    expect(Buffer.from((await storedAccounts()).alice?.passwordHash as Uint8Array)).toEqual(
      everestHash('EvenStrongerP@ss2'),
    );
    const usersYaml = await storedUsersYaml();
    expect(await everestAcceptsPassword(usersYaml, systemUid, 'alice', 'EvenStrongerP@ss2')).toBe(true);
    expect(await everestAcceptsPassword(usersYaml, systemUid, 'alice', 'StrongP@ssw0rd')).toBe(false);

    const update = await boot('POST', '/cli/namespaces/update', {
      namespace: 'ns-alice',
      operators: { mongodb: true, postgresql: false },
    });
    expect(update.body).toMatchObject({
      operators_installed: ['mongodb'],
      warnings: [expect.stringContaining('Removal of an installed operator is not supported')],
    });
    expect(await api.names(`${OLM}/v1alpha1/namespaces/ns-alice/subscriptions`, admin)).toHaveLength(3);

    // ns-alice holds a database cluster: not removed unless forced.
    const kept = await boot('DELETE', '/namespaces', {
      namespace: 'ns-alice',
      force: false,
      keep_namespace: false,
    });
    expect(kept.status).toBe(409);
    expect(kept.body.detail).toMatch(/^cannot remove namespace with running database clusters/);

    const removeUser = await boot('DELETE', '/users', { username: 'bob', remove_rbac: true });
    expect(removeUser.body.rbac_lines_removed).toContain('g, bob, role:tenant-ns-bob');
    expect(await storedPolicy()).not.toContain('ns-bob');
    expect(Object.keys(await storedAccounts())).not.toContain('bob');
    expect((await boot('DELETE', '/users', { username: 'bob' })).status).toBe(404);

    const released = await boot('DELETE', '/cli/namespaces/remove', {
      namespace: 'ns-bob',
      keep_namespace: true,
    });
    expect(released.body).toMatchObject({ namespace: 'kept' });
    const ns = await api.send('GET', '/api/v1/namespaces/ns-bob', admin);
    expect(
      (ns.json as { metadata: { labels?: Record<string, string> } }).metadata.labels?.[
        'app.kubernetes.io/managed-by'
      ],
    ).toBeUndefined();
    expect(await api.names(`${OLM}/v1alpha1/namespaces/ns-bob/subscriptions`, admin)).toEqual([]);
    expect((await boot('DELETE', '/namespaces', { namespace: 'ns-bob' })).status).toBe(409); // no longer Everest's
  });
});

describe('bootstrap: secrets stay out of the logs', () => {
  it('never logs a password or the API token, even at debug level', async () => {
    const lines: string[] = [];
    const logged = await startFunction({
      name: 'bootstrap',
      loadConfig,
      env: {
        API_TOKEN: FUNCTION_TOKEN,
        IDEMPOTENCY_KEY_SECRET: IDEMPOTENCY_SECRET,
        LOG_LEVEL: 'debug',
        DATABASE_URL: db.url,
        KUBECONFIG: env.kubernetes.kubeconfigPath,
      },
      port: 0,
      host: '127.0.0.1',
      logDestination: { write: (line: string) => void lines.push(line) },
      setup: (config, log) => Promise.resolve(bootstrapSetup(config, log)),
    });
    try {
      const passwords = ['Carol-P@ssw0rd', 'Carol-N3w-pass', 'Dave-P@ssw0rd'];
      const tenant = {
        username: 'logger',
        password: passwords[0],
        namespace: 'ns-logs',
        operators: { postgresql: true },
      };
      expect((await call(logged, 'POST', '/bootstrap/tenant', tenant)).status).toBe(200);
      expect(
        (
          await call(logged, 'POST', '/users/rotate-password', {
            username: 'logger',
            new_password: passwords[1],
          })
        ).status,
      ).toBe(200);
      // Refused requests are logged as warnings: their passwords must not be in them either.
      expect(
        (await call(logged, 'POST', '/cli/accounts/create', { username: 'logger', password: passwords[2] }))
          .status,
      ).toBe(409);
      const generated = await call(logged, 'POST', '/cli/accounts/create', { username: 'dave' });
      expect(generated.status).toBe(200);
      const all = lines.join('\n');
      expect(all).toContain('request completed');
      for (const secret of [...passwords, String(generated.body.generated_password), FUNCTION_TOKEN])
        expect(all).not.toContain(secret);
    } finally {
      await logged.stop();
    }
  });
});

describe('bootstrap: concurrency and bad input', () => {
  it('loses no line when policy lines are appended concurrently', async () => {
    const lines = Array.from({ length: 16 }, (_, i) => [
      `p, role:team-${i}, database-clusters, read, team-${i}/*`,
      `g, user${i}, role:team-${i}`,
    ]);
    const answers = await Promise.all(lines.map((pair) => boot('POST', '/rbac/append', { lines: pair })));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    const policy = (await storedPolicy()).split('\n');
    for (const line of lines.flat()) expect(policy.filter((l) => l === line)).toHaveLength(1);
  });

  it('refuses bad input with the reason and changes nothing', async () => {
    const before = await storedPolicy();
    const refused = async (method: string, path: string, body: unknown, pattern: RegExp) => {
      const answer = await boot(method, path, body);
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(JSON.stringify(answer.body)).toMatch(pattern);
    };
    await refused('POST', '/bootstrap/tenant', { ...ALICE, namespace: 'NS_Alice' }, /RFC 1035/);
    await refused('POST', '/bootstrap/tenant', { ...ALICE, namespace: 'everest-system' }, /reserved/);
    await refused('POST', '/bootstrap/tenant', { ...ALICE, username: 'al' }, /at least 3 characters/);
    await refused(
      'POST',
      '/bootstrap/tenant',
      { ...ALICE, password: 'has space 1' },
      /password may contain only/,
    );
    await refused(
      'POST',
      '/bootstrap/tenant',
      { ...ALICE, namespace: 'ns-carol', operators: {} },
      /no operators selected/,
    );
    await refused(
      'PUT',
      '/limits',
      {
        namespace: 'ns-alice',
        max_clusters: 1,
        allowed_engines: ['oracle'],
        cpu_limit_cores: 1,
        memory_limit_bytes: 1,
        max_db_users: 1,
      },
      /allowed_engines/,
    );
    await refused(
      'PUT',
      '/limits',
      { namespace: 'ns-alice', max_clusters: -1, cpu_limit_cores: 1, memory_limit_bytes: 1, max_db_users: 1 },
      /max_clusters/,
    );
    await refused('POST', '/rbac/append', { lines: ['p, alice, database-clusters'] }, /invalid policy size/);
    await refused('POST', '/rbac/append', { lines: ['alice can do everything'] }, /invalid policy line/);
    await refused(
      'POST',
      '/rbac/append',
      { lines: ['p, alice, pods, *, ns-alice/*'] },
      /unknown resource name 'pods'/,
    );
    await refused(
      'POST',
      '/rbac/append',
      { lines: ['p, role:ghost, database-clusters, *, x/*'] },
      /role 'role:ghost' does not exist/,
    );
    await refused(
      'POST',
      '/rbac/can',
      { user: 'alice', resource: 'database-clusters', verb: 'launch', object: '*' },
      /invalid action 'launch'/,
    );
    expect(await storedPolicy()).toBe(before);
    expect(await api.status('GET', '/api/v1/namespaces/ns-carol', admin)).toBe(404);
    expect((await boot('GET', '/limits/ns-nowhere')).status).toBe(404);
  });
});

describe('bootstrap: only what the product made for the tenant, names that are not reserved', () => {
  const tenant = (username: string, namespace: string, extra: Record<string, unknown> = {}) => ({
    username,
    password: 'Own3dP@ssword',
    namespace,
    operators: { postgresql: true },
    ...extra,
  });

  it('refuses admin with 409 not_owned: never reset, never bound; another name beside it is bootstrapped', async () => {
    const before = { accounts: await storedUsersYaml(), policy: await storedPolicy() };
    const refused = await boot('POST', '/bootstrap/tenant', tenant('admin', 'ns-own-a'));
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ type: 'urn:tenant-lifecycle:problem:not-owned' });
    expect(refused.body.detail).toMatch(/Everest account admin is Everest's administrator/);
    const dry = await boot('POST', '/bootstrap/tenant', tenant('admin', 'ns-own-a', { dryRun: true }));
    expect(dry.status).toBe(409);
    expect(await storedUsersYaml()).toBe(before.accounts);
    expect(await storedPolicy()).toBe(before.policy);
    expect(await api.status('GET', '/api/v1/namespaces/ns-own-a', admin)).toBe(404);
    // The CLI-style account routes refuse the reserved name too (400), so admin cannot be reset there.
    const reset = await boot('POST', '/users/rotate-password', {
      username: 'admin',
      new_password: 'Hijack3d!',
    });
    expect(reset.status).toBe(400);
    expect((await storedAccounts()).admin?.passwordHash).toBe('initial-admin-password');

    // Positive control: the same request for a name of its own.
    const ok = await boot('POST', '/bootstrap/tenant', tenant('owner_a', 'ns-own-a'));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ account: 'created', namespace_created: true });
    expect(await storedPolicy()).toContain('g, owner_a, role:tenant-ns-own-a');
    expect(await storedPolicy()).not.toContain('g, admin, role:tenant-');
  });

  it('refuses an existing account the product did not make, or made for another tenant; its own it updates', async () => {
    // An account made outside bootstrap (as Everest's UI or everestctl would): no owner record.
    expect((await boot('POST', '/cli/accounts/create', { username: 'foreign_x' })).status).toBe(200);
    const before = { accounts: await storedUsersYaml(), policy: await storedPolicy() };
    const foreign = await boot('POST', '/bootstrap/tenant', tenant('foreign_x', 'ns-own-b'));
    expect(foreign.status).toBe(409);
    expect(foreign.body.detail).toMatch(/^Everest account foreign_x exists and is not tenant ns-own-b's/);
    expect(await storedUsersYaml()).toBe(before.accounts);
    expect(await storedPolicy()).toBe(before.policy);
    expect(await api.status('GET', '/api/v1/namespaces/ns-own-b', admin)).toBe(404);

    // owner_a belongs to ns-own-a: another tenant cannot take it over...
    const other = await boot('POST', '/bootstrap/tenant', tenant('owner_a', 'ns-own-b'));
    expect(other.status).toBe(409);
    expect(other.body.detail).toMatch(/not tenant ns-own-b's/);
    expect(await storedPolicy()).not.toContain('g, owner_a, role:tenant-ns-own-b');
    // ...its own tenant runs again and sets its password (positive control).
    const again = await boot(
      'POST',
      '/bootstrap/tenant',
      tenant('owner_a', 'ns-own-a', { password: 'N3wP@ssword' }),
    );
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ account: 'password_set' });
    expect(Buffer.from((await storedAccounts()).owner_a?.passwordHash as Uint8Array)).toEqual(
      everestHash('N3wP@ssword'),
    );
  });

  it('refuses to adopt, update or remove a namespace the product did not make (409 naming it); its own it removes', async () => {
    await api.send('POST', '/api/v1/namespaces', admin, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'team-foreign' },
    });
    await api.send('POST', '/api/v1/namespaces', admin, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'everest-foreign', labels: { 'app.kubernetes.io/managed-by': 'everest' } },
    });
    const adopt = await boot(
      'POST',
      '/bootstrap/tenant',
      tenant('owner_c', 'team-foreign', { take_ownership: true }),
    );
    expect(adopt.status).toBe(409);
    expect(adopt.body).toMatchObject({ type: 'urn:tenant-lifecycle:problem:not-owned' });
    expect(adopt.body.detail).toMatch(/^namespace team-foreign exists and cannot be taken over/);
    const add = await boot('POST', '/cli/namespaces/add', {
      namespace: 'team-foreign',
      operators: { postgresql: true },
      take_ownership: true,
    });
    expect(add.status).toBe(409);
    const ns = await api.send('GET', '/api/v1/namespaces/team-foreign', admin);
    expect((ns.json as { metadata: { labels?: Record<string, string> } }).metadata.labels).not.toHaveProperty(
      'app.kubernetes.io/managed-by',
    );
    expect(await storedPolicy()).not.toContain('owner_c');

    // An Everest namespace someone else made: not bootstrapped into, not removed.
    expect((await boot('POST', '/bootstrap/tenant', tenant('owner_d', 'everest-foreign'))).status).toBe(400); // reserved: everest*
    await api.send('POST', '/api/v1/namespaces', admin, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'db-foreign', labels: { 'app.kubernetes.io/managed-by': 'everest' } },
    });
    const update = await boot('POST', '/cli/namespaces/update', {
      namespace: 'db-foreign',
      operators: { mongodb: true },
    });
    expect(update.status).toBe(409);
    expect(update.body.detail).toMatch(
      /^namespace db-foreign is managed by Everest but not a tenant of this product/,
    );
    const remove = await boot('DELETE', '/namespaces', { namespace: 'db-foreign' });
    expect(remove.status).toBe(409);
    expect(remove.body.detail).toMatch(/^namespace db-foreign is managed by Everest but not a tenant/);
    expect(await api.status('GET', '/api/v1/namespaces/db-foreign', admin)).toBe(200);
    expect(await api.names(`${OLM}/v1alpha1/namespaces/db-foreign/subscriptions`, admin)).toEqual([]);

    // Positive control: the product's own namespace is released, adopted again, and removed.
    const own = await boot('POST', '/bootstrap/tenant', tenant('owner_e', 'ns-own-e'));
    expect(own.status).toBe(200);
    expect(
      (await boot('DELETE', '/cli/namespaces/remove', { namespace: 'ns-own-e', keep_namespace: true })).body,
    ).toMatchObject({ namespace: 'kept' });
    const readopt = await boot('POST', '/cli/namespaces/add', {
      namespace: 'ns-own-e',
      operators: { postgresql: true },
      take_ownership: true,
    });
    expect(readopt.status, JSON.stringify(readopt.body)).toBe(200);
    expect((await boot('DELETE', '/namespaces', { namespace: 'ns-own-e' })).body).toMatchObject({
      namespace: 'deleting',
    });
  });

  it('refuses reserved namespace and account names (400), beside Everest’s own reserved namespaces', async () => {
    const before = { accounts: await storedUsersYaml(), policy: await storedPolicy() };
    for (const [body, field] of [
      [tenant('owner_f', 'kube-tenant'), 'namespace'],
      [tenant('owner_f', 'monitoring'), 'namespace'],
      [tenant('owner_f', 'knative-serving'), 'namespace'],
      [tenant('root', 'ns-own-f'), 'username'],
    ] as const) {
      const answer = await boot('POST', '/bootstrap/tenant', body);
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body).toMatchObject({ errors: [{ path: field, message: 'reserved name' }] });
    }
    expect((await boot('POST', '/cli/accounts/create', { username: 'root' })).status).toBe(400);
    expect(
      (
        await boot('PUT', '/limits', {
          namespace: 'kube-system',
          max_clusters: 1,
          cpu_limit_cores: 1,
          memory_limit_bytes: 1,
          max_db_users: 1,
        })
      ).status,
    ).toBe(400);
    expect(
      (await call(enforce, 'POST', '/usage/register-db-user', { namespace: 'kube-system', op: 'create' }))
        .status,
    ).toBe(400);
    // ...and beside it, the same enforce route for an ordinary namespace is served.
    expect(
      (await call(enforce, 'POST', '/usage/register-db-user', { namespace: 'ns-own-a', op: 'create' }))
        .status,
    ).toBe(200);
    expect(await storedUsersYaml()).toBe(before.accounts);
    expect(await storedPolicy()).toBe(before.policy);
    // Positive control: an ordinary name beside them.
    expect((await boot('POST', '/bootstrap/tenant', tenant('owner_f', 'ns-own-f'))).status).toBe(200);
  });

  it('refuses a policy line holding a newline (issue 13’s attack) whole: the stored policy stays loadable', async () => {
    const before = await storedPolicy();
    for (const line of [
      'g, probe\np, x',
      'g, probe\rp, x',
      'g, probe\u0000, role:admin',
      'g, pro be, role:admin',
    ]) {
      const answer = await boot('POST', '/rbac/append', {
        lines: ['g, owner_g, role:tenant-ns-own-a', line],
      });
      expect(answer.status, line).toBe(400);
    }
    const unknownRole = await boot('POST', '/rbac/append', { lines: ['g, owner_g, role:tenant-ns-nowhere'] });
    expect(unknownRole.status).toBe(400);
    expect(await storedPolicy()).toBe(before);
    // Positive control: the legitimate line alone is appended, and the policy is one Everest loads.
    const ok = await boot('POST', '/rbac/append', { lines: ['g, owner_g, role:tenant-ns-own-a'] });
    expect(ok.status).toBe(200);
    const after = await storedPolicy();
    expect(after).toBe(`${before.replace(/\n*$/, '\n')}g, owner_g, role:tenant-ns-own-a\n`);
    expect(policyProblem(parsePolicy(after))).toBeUndefined();
    expect(after.split('\n').every((l) => l === '' || /^[pg], /.test(l) || l.startsWith('#'))).toBe(true);
  });
});
