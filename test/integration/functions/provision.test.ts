/**
 * The provision function served over HTTP, on the real test servers: Keycloak (the realm the apiserver
 * trusts), the Kubernetes control plane, PostgreSQL for audit and idempotency, and the Grafana API.
 */
import type KcAdminClient from '@keycloak/keycloak-admin-client';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../../functions/provision/config.ts';
import { PROVISION_EVENT, provisionSetup } from '../../../functions/provision/index.ts';
import { CloudEvent, HTTP } from 'cloudevents';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { renderTenantClusterRole } from '../../../shared/tenancy/cluster-role.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import { FUNCTION_TOKEN, masterAdmin, tenantFunctionEnv } from '../../support/tenant-functions.ts';
import { freePort } from '../../env/ports.ts';
import '../../env/provided.ts';
import { apiserver } from '../../support/apiserver.ts';

const env = inject('testEnv');
const TOKEN = FUNCTION_TOKEN;
const kube = apiserver(env.kubernetes).status;
let db: TestDatabase;
let fn: RunningFunction;
let broken: RunningFunction; // the same function with Grafana unreachable
let kcAdmin: KcAdminClient;
let core: CoreV1Api;

async function start(grafanaUrl: string): Promise<RunningFunction> {
  return startFunction({
    name: 'provision',
    loadConfig,
    env: await tenantFunctionEnv(env, db.url, { GRAFANA_URL: grafanaUrl }),
    port: 0,
    host: '127.0.0.1',
    setup: (config, log) => Promise.resolve(provisionSetup(config, log)),
  });
}

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'provision');
  kcAdmin = await masterAdmin(env);
  expect([201, 409]).toContain(
    await kube(
      'POST',
      '/apis/rbac.authorization.k8s.io/v1/clusterroles',
      env.kubernetes.adminToken,
      renderTenantClusterRole(),
    ),
  );
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  fn = await start(env.grafana.url);
  broken = await start(`http://127.0.0.1:${await freePort()}`);
});
afterAll(async () => {
  await fn.stop();
  await broken.stop();
  await db.drop();
});

const provision = (body: unknown, options: { url?: string; headers?: Record<string, string> } = {}) =>
  fetch(`${options.url ?? fn.url}/provisioner`, {
    method: 'POST',
    headers: { authorization: TOKEN, 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify(body),
  });

describe('provision', () => {
  let answer: Record<string, unknown>;

  it('creates a tenant whose password works in Keycloak and Grafana and whose token works in its namespace', async () => {
    const response = await provision({ full_name: 'Erin Example', email: 'erin.example@example.org' });
    answer = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(200);
    expect(answer).toMatchObject({
      message: 'User has been successfully created',
      username: 'erin-example',
      namespace: 'erin-example',
      plan: 'default',
    });
    expect(answer.password).toMatch(/^[A-Za-z0-9]{24}$/);
    expect((answer.steps as { status: string }[]).every((s) => s.status === 'done')).toBe(true);
    const password = answer.password as string;

    const grafana = await fetch(`${env.grafana.url}/api/user`, {
      headers: { authorization: `Basic ${Buffer.from(`erin-example:${password}`).toString('base64')}` },
    });
    expect(grafana.status).toBe(200);
    await grafana.arrayBuffer();

    const login = await fetch(`${env.keycloak.url}/realms/${env.oidc.realm}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        client_id: env.oidc.clientId,
        username: 'erin-example',
        password,
        scope: 'openid',
      }),
    });
    expect(login.status).toBe(200);
    const idToken = ((await login.json()) as { id_token: string }).id_token;
    const deployment = (namespace: string) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx' }] },
        },
      },
    });
    let created = 0;
    for (let i = 0; i < 50 && created !== 201; i++) {
      created = await kube(
        'POST',
        '/apis/apps/v1/namespaces/erin-example/deployments',
        idToken,
        deployment('erin-example'),
      );
      if (created !== 201) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(created).toBe(201);
    expect(
      await kube('POST', '/apis/apps/v1/namespaces/default/deployments', idToken, deployment('default')),
    ).toBe(403);
    expect(await kube('GET', '/api/v1/namespaces', idToken)).toBe(403);

    const quota = await core.readNamespacedResourceQuota({ name: 'tenant-quota', namespace: 'erin-example' });
    expect(quota.spec?.hard).toMatchObject({ pods: '20', 'limits.memory': '4Gi' });
    const kubeconfig = JSON.parse(answer.kubeconfig as string) as {
      contexts: { context: { namespace: string } }[];
    };
    expect(kubeconfig.contexts[0]?.context.namespace).toBe('erin-example');
  });

  it('refuses to provision an existing tenant again, without a new password', async () => {
    const response = await provision({ email: 'erin.example@example.org' });
    expect(response.status).toBe(409);
    const problem = (await response.json()) as Record<string, unknown>;
    expect(problem.detail).toMatch(/already exists/);
    expect(JSON.stringify(problem)).not.toMatch(/password/i);
  });

  it('writes an audit record without the password', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ outcome: string; details: unknown }>(
        `SELECT outcome, details FROM tenant_lifecycle.audit_log WHERE operation = 'provision' AND target = 'erin-example' ORDER BY id`,
      );
      expect(rows.map((r) => r.outcome)).toEqual(['success', 'failure']);
      expect(JSON.stringify(rows)).not.toContain(answer.password as string);
    } finally {
      await client.end();
    }
  });

  it('provisions one tenant for two concurrent requests for the same person', async () => {
    const [a, b] = await Promise.all([
      provision({ full_name: 'Frank Twice' }),
      provision({ full_name: 'Frank Twice' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    await a.arrayBuffer();
    await b.arrayBuffer();
    const users = await kcAdmin.users.find({ realm: env.oidc.realm, username: 'frank-twice', exact: true });
    expect(users).toHaveLength(1);
  });

  it('replays an Idempotency-Key answer without the password', async () => {
    const headers = { 'idempotency-key': 'gina-1' };
    const first = await provision({ full_name: 'Gina Key' }, { headers });
    const firstBody = (await first.json()) as Record<string, unknown>;
    const replay = await provision({ full_name: 'Gina Key' }, { headers });
    const replayBody = (await replay.json()) as Record<string, unknown>;
    expect([first.status, replay.status]).toEqual([200, 200]);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(typeof firstBody.password).toBe('string');
    expect(replayBody).toMatchObject({ username: 'gina-key', user_id: firstBody.user_id, password: null });
  });

  it('rolls everything back when Grafana is down: no Keycloak user, no namespace left', async () => {
    const response = await provision({ full_name: 'Hank Rollback' }, { url: broken.url });
    expect(response.status).toBe(503);
    const problem = (await response.json()) as {
      upstream: string;
      rolledBack: boolean;
      steps: { step: string; status: string }[];
    };
    expect(problem).toMatchObject({ upstream: 'grafana', rolledBack: true });
    expect(problem.steps.find((s) => s.step === 'keycloak-user')?.status).toBe('rolled_back');
    expect(problem.steps.find((s) => s.step === 'kubernetes-namespace')?.status).toBe('rolled_back');
    expect(
      await kcAdmin.users.find({ realm: env.oidc.realm, username: 'hank-rollback', exact: true }),
    ).toEqual([]);
    let status = 200;
    for (let i = 0; i < 150 && status !== 404; i++) {
      status = await kube('GET', '/api/v1/namespaces/hank-rollback', env.kubernetes.adminToken);
      if (status !== 404) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(status).toBe(404);
  });

  it.each([
    [{}, /Email address and full name are missing/],
    [{ email: 'not-an-email' }, /email/i],
    [{ full_name: '😀 !!!' }, /no letters or digits/],
    [{ full_name: 'kube-system' }, /reserved/],
    [{ full_name: 'sys-admin' }, /reserved/],
    [{ full_name: 'Erin', unexpected: 1 }, /unexpected|unrecognized/i],
  ])('refuses bad input %j with 400', async (body, detail) => {
    const response = await provision(body);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(detail);
  });

  it('creates the starter objects of the webide plan, valid for the apiserver', async () => {
    const headers = { 'idempotency-key': 'maya-1' };
    const response = await provision({ full_name: 'Maya Webide', plan: 'webide' }, { headers });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { password: string; starter_password: string };
    expect(answer).toMatchObject({ username: 'maya-webide', plan: 'webide' });
    // The webide's login: random, its own (not the tenant's password), in the Secret code-server reads.
    expect(answer.starter_password).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(answer.starter_password).not.toBe(answer.password);
    const secret = await core.readNamespacedSecret({ name: 'webide-auth', namespace: 'maya-webide' });
    expect(Buffer.from(secret.data?.PASSWORD ?? '', 'base64').toString()).toBe(answer.starter_password);
    // A replay hands out neither password again.
    const replay = await provision({ full_name: 'Maya Webide', plan: 'webide' }, { headers });
    expect(await replay.json()).toMatchObject({
      username: 'maya-webide',
      password: null,
      starter_password: null,
    });
    const admin = env.kubernetes.adminToken;
    expect(await kube('GET', '/apis/apps/v1/namespaces/maya-webide/deployments/webide', admin)).toBe(200);
    expect(await kube('GET', '/api/v1/namespaces/maya-webide/services/webide', admin)).toBe(200);
    expect(
      await kube('GET', '/api/v1/namespaces/maya-webide/persistentvolumeclaims/webide-home', admin),
    ).toBe(200);
  });

  it('refuses an unknown plan', async () => {
    const response = await provision({ full_name: 'Nina Plan', plan: 'gold' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(
      /unknown plan "gold"; known: default, webide/,
    );
  });

  it('provisions from a CloudEvent (binary mode) of the documented type', async () => {
    const event = new CloudEvent({
      type: PROVISION_EVENT,
      source: '/test/signup',
      data: { full_name: 'Lena Event' },
    });
    const message = HTTP.binary(event);
    const response = await fetch(`${fn.url}/`, {
      method: 'POST',
      headers: { ...(message.headers as Record<string, string>), authorization: `Bearer ${TOKEN}` },
      body: message.body as string,
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ username: 'lena-event', namespace: 'lena-event' });
  });

  it('never logs the password, the client secret or the admin passwords, even at debug level', async () => {
    const lines: string[] = [];
    const functionEnv = await tenantFunctionEnv(env, db.url, { LOG_LEVEL: 'debug' });
    const logged = await startFunction({
      name: 'provision',
      loadConfig,
      env: functionEnv,
      port: 0,
      host: '127.0.0.1',
      logDestination: { write: (line: string) => void lines.push(line) },
      setup: (config, log) => Promise.resolve(provisionSetup(config, log)),
    });
    try {
      const response = await provision(
        { full_name: 'Olga Logs', email: 'olga.logs@example.org' },
        { url: logged.url },
      );
      const { password } = (await response.json()) as { password: string };
      expect(response.status).toBe(200);
      await provision({ full_name: 'Olga Logs' }, { url: logged.url }); // a 409, logged as a warning
      const all = lines.join('\n');
      expect(all).toContain('tenant provisioned');
      for (const secret of [password, functionEnv.KEYCLOAK_CLIENT_SECRET, env.grafana.adminPassword, TOKEN]) {
        expect(all).not.toContain(secret);
      }
    } finally {
      await logged.stop();
    }
  });

  it('refuses a wrong token', async () => {
    const response = await provision(
      { full_name: 'Ivy' },
      { headers: { authorization: 'Bearer wrong-token-0123456789' } },
    );
    expect(response.status).toBe(401);
    await response.arrayBuffer();
  });
});
