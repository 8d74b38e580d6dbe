/**
 * Every caller authenticated, with the real apiserver's service-account tokens: a function host verifies
 * the tokens Knative Eventing's senders present (TokenRequest tokens of their OIDC service accounts, with
 * the function's audience) against the keys the apiserver serves at /openid/v1/jwks, fetched with the
 * function's own service-account token over TLS. Each attack runs beside the legitimate call it imitates:
 * the refused calls get 401 and run nothing, the accepted one runs and is audited under the sender's
 * identity.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CloudEvent, HTTP } from 'cloudevents';
import { decodeJwt, decodeProtectedHeader, importPKCS8, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { createPool } from '../../../shared/adapters/postgres/pool.ts';
import { defineConfig } from '../../../shared/platform/config.ts';
import { operation, type InvocationContext } from '../../../shared/platform/operation.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';
import { runAudited } from '../../../shared/store/audited-run.ts';
import { PlatformStore } from '../../../shared/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { senderVerificationEnv, serviceAccounts } from '../../support/service-accounts.ts';

const env = inject('testEnv');
const accounts = serviceAccounts(env.kubernetes);
const API_TOKEN = 'event-auth-api-token-0123456789';
const NS = 'event-auth';
const FUNCTION = 'sweeper';
const AUDIENCE = `tenant-lifecycle/${FUNCTION}`;
/** The OIDC service account Knative Eventing makes for PingSource "sweep-nightly". */
const PING_SA = 'sweep-nightly-oidc-sources.knative.dev-pingsource';
/** The OIDC service account of Trigger "sweep-requested". */
const TRIGGER_SA = 'sweep-requested-oidc-eventing.knative.dev-trigger';
/** Any other service account: a tenant workload's, say. */
const OTHER_SA = 'default-workload';
const identity = (name: string) => `system:serviceaccount:${NS}:${name}`;

let db: TestDatabase;
let store: PlatformStore;
let fn: RunningFunction;
const runs: InvocationContext[] = [];
const logLines: string[] = [];

beforeAll(async () => {
  for (const name of [PING_SA, TRIGGER_SA, OTHER_SA]) await accounts.ensure(NS, name);
  db = await createTestDatabase(env.postgres.url, 'eventauth');
  store = new PlatformStore(createPool({ connectionString: db.url, log: { warn: () => undefined } }));
  fn = await startFunction({
    spec: {
      name: FUNCTION,
      operations: [
        operation({
          name: 'sweep',
          input: z.object({ dryRun: z.boolean().default(true) }),
          http: [{ method: 'POST', path: '/sweep' }],
          events: ['dev.tenantlifecycle.test.sweep.requested'],
          ping: true,
          run: async (input, ctx) => {
            runs.push(ctx);
            return runAudited(
              store,
              ctx,
              {
                operation: 'sweep',
                target: '*',
                dryRun: true,
                record: () => ({ details: { eventSource: ctx.event?.source ?? null } }),
              },
              () => Promise.resolve({ swept: 0, dryRun: input.dryRun }),
            );
          },
        }),
      ],
    },
    loadConfig: defineConfig({}, () => ({})),
    env: {
      API_TOKEN,
      LOG_LEVEL: 'info',
      ...(await senderVerificationEnv(env.kubernetes, {
        senders: [identity(PING_SA), identity(TRIGGER_SA)],
        self: { namespace: 'tenant-functions', name: FUNCTION },
      })),
    },
    port: 0,
    host: '127.0.0.1',
    logDestination: { write: (line: string) => void logLines.push(line) },
    setup: () => Promise.resolve({ close: () => store.pool.end() }),
  });
});
afterAll(async () => {
  await fn.stop();
  await db.drop();
});

/** A PingSource event as Knative's adapter sends it, with `token` as its bearer token when given. */
function pingEvent(
  token: string | undefined,
  source = `/apis/v1/namespaces/${NS}/pingsources/sweep-nightly`,
) {
  const message = HTTP.binary(
    new CloudEvent({ type: 'dev.knative.sources.ping', source, data: { dryRun: true } }),
  );
  return fetch(fn.url, {
    method: 'POST',
    headers: {
      ...(message.headers as Record<string, string>),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: message.body as string,
  });
}

/** Signs `claims` as the apiserver would, with its own key and key id, or with `key`. */
async function signLikeApiserver(
  claims: JWTPayload,
  kid: string,
  key?: Parameters<SignJWT['sign']>[0],
): Promise<string> {
  const signingKey =
    key ?? (await importPKCS8(await readFile(env.kubernetes.serviceAccountSigningKeyFile, 'utf8'), 'RS256'));
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(signingKey);
}

async function expectRefused(response: Response): Promise<void> {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
  const problem = (await response.json()) as { type: string; detail: string };
  expect(problem.type).toBe('urn:tenant-lifecycle:problem:unauthorized');
  expect(problem.detail).toMatch(/^(invalid token|missing token)/);
}

describe('event sender identity', () => {
  it('runs the event of an allowed sender with the right audience; refuses every other token with 401', async () => {
    const allowed = await accounts.token(NS, PING_SA, AUDIENCE);
    const kid = decodeProtectedHeader(allowed).kid ?? '';
    const claims = decodeJwt(allowed);
    const now = Math.floor(Date.now() / 1000);
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    // [what, token, the refusal's code in the log]
    const refused: [string, string | undefined, string][] = [
      ['no token', undefined, 'no-token'],
      ['the API token of another deployment', 'another-api-token-0123456789', 'unknown-token'],
      ['another service account', await accounts.token(NS, OTHER_SA, AUDIENCE), 'sender-not-allowed'],
      [
        'an allowed sender, audience of another function',
        await accounts.token(NS, PING_SA, 'tenant-lifecycle/cleanup'),
        'claim:aud',
      ],
      ['an allowed sender, the apiserver audience', await accounts.token(NS, PING_SA), 'claim:aud'],
      [
        'expired (signed with the apiserver key)',
        await signLikeApiserver({ ...claims, iat: now - 1200, nbf: now - 1200, exp: now - 600 }, kid),
        'expired',
      ],
      [
        'another issuer (signed with the apiserver key)',
        await signLikeApiserver({ ...claims, iss: 'https://attacker.example' }, kid),
        'claim:iss',
      ],
      [
        'forged: another key under the apiserver key id',
        await signLikeApiserver(claims, kid, stranger),
        'signature',
      ],
      [
        'forged: another key under its own key id',
        await signLikeApiserver(claims, 'attacker', stranger),
        'unknown-key',
      ],
      [
        'alg none',
        `${Buffer.from(JSON.stringify({ alg: 'none', kid })).toString('base64url')}.${allowed.split('.')[1] ?? ''}.`,
        'algorithm',
      ],
    ];
    const before = runs.length;
    const logged = logLines.length;
    for (const [what, token] of refused) {
      const response = await pingEvent(token);
      await expectRefused(response).catch((error: unknown) => {
        throw new Error(`${what}: ${String(error)}`);
      });
    }
    const failures = logLines
      .slice(logged)
      .map((line) => JSON.parse(line) as { msg?: string; authFailure?: string })
      .filter((entry) => entry.msg === 'request completed')
      .map((entry) => entry.authFailure);
    expect(failures).toEqual(refused.map(([, , code]) => code));
    expect(runs.length).toBe(before);

    // The legitimate calls beside them: the real token, and one signed here like the apiserver does (so
    // the refusals above are the claims' and the key's doing, not the signing's).
    const accepted = await pingEvent(allowed);
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toEqual({ swept: 0, dryRun: true });
    const selfSigned = await pingEvent(await signLikeApiserver({ ...claims, iat: now, exp: now + 600 }, kid));
    expect(selfSigned.status).toBe(200);
    await selfSigned.arrayBuffer();
    expect(runs.length).toBe(before + 2);
    expect(runs.at(-2)?.actor).toBe(identity(PING_SA));
  });

  it('audits the verified identity, never the event source the sender chose', async () => {
    const token = await accounts.token(NS, TRIGGER_SA, AUDIENCE);
    const message = HTTP.binary(
      new CloudEvent({
        type: 'dev.tenantlifecycle.test.sweep.requested',
        source: 'token#0',
        data: { dryRun: true },
      }),
    );
    const response = await fetch(fn.url, {
      method: 'POST',
      headers: {
        ...(message.headers as Record<string, string>),
        authorization: `Bearer ${token}`,
        'x-actor': 'ops-carol',
      },
      body: message.body as string,
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    const [latest] = (await store.listAudit({ operation: 'sweep', limit: 1 })).items;
    expect(latest?.actor).toBe(`ops-carol via ${identity(TRIGGER_SA)}`);
    expect(latest?.details).toEqual({ eventSource: 'token#0' });

    // The same event without the token: refused, nothing audited.
    const count = (await store.listAudit({ operation: 'sweep', limit: 500 })).items.length;
    const spoofed = await fetch(fn.url, {
      method: 'POST',
      headers: message.headers as Record<string, string>,
      body: message.body as string,
    });
    await expectRefused(spoofed);
    expect((await store.listAudit({ operation: 'sweep', limit: 500 })).items.length).toBe(count);
  });

  it('accepts an allowed service account on HTTP too, beside the API token; refuses others', async () => {
    const call = (authorization: string) =>
      fetch(`${fn.url}/sweep`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: '{"dryRun":true}',
      });
    const bySender = await call(`Bearer ${await accounts.token(NS, TRIGGER_SA, AUDIENCE)}`);
    expect(bySender.status).toBe(200);
    await bySender.arrayBuffer();
    expect(runs.at(-1)?.actor).toBe(identity(TRIGGER_SA));
    const byApiToken = await call(API_TOKEN);
    expect(byApiToken.status).toBe(200);
    await byApiToken.arrayBuffer();
    expect(runs.at(-1)?.actor).toBe('token#0');
    const before = runs.length;
    await expectRefused(await call(`Bearer ${await accounts.token(NS, OTHER_SA, AUDIENCE)}`));
    expect(runs.length).toBe(before);
  });

  it('logs why a token was refused and who was refused, never a token', async () => {
    const other = await accounts.token(NS, OTHER_SA, AUDIENCE);
    const wrongAudience = await accounts.token(NS, PING_SA, 'tenant-lifecycle/cleanup');
    await expectRefused(await pingEvent(other));
    await expectRefused(await pingEvent(wrongAudience));
    const allowed = await accounts.token(NS, PING_SA, AUDIENCE);
    const ok = await pingEvent(allowed);
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();

    const completed = logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === 'request completed')
      .slice(-3);
    expect(completed.map((e) => [e.status, e.authFailure, e.refusedSender, e.caller])).toEqual([
      [401, 'sender-not-allowed', identity(OTHER_SA), undefined],
      [401, 'claim:aud', undefined, undefined],
      [200, undefined, undefined, identity(PING_SA)],
    ]);
    const all = logLines.join('\n');
    for (const token of [other, wrongAudience, allowed]) {
      for (const part of token.split('.')) expect(all).not.toContain(part);
    }
  });

  it('answers 503 (retryable), not 401, when the issuer keys cannot be read; the API token still works', async () => {
    const blind = await startFunction({
      spec: {
        name: FUNCTION,
        operations: [
          operation({
            name: 'sweep',
            input: z.object({}),
            ping: true,
            http: [{ method: 'POST', path: '/sweep' }],
            run: (_input, ctx) => {
              runs.push(ctx);
              return Promise.resolve({});
            },
          }),
        ],
      },
      loadConfig: defineConfig({}, () => ({})),
      env: {
        API_TOKEN,
        LOG_LEVEL: 'silent',
        ...(await senderVerificationEnv(env.kubernetes, {
          senders: [identity(PING_SA)],
          self: { namespace: 'tenant-functions', name: FUNCTION },
        })),
        SERVICE_ACCOUNT_TOKEN_FILE: '/nonexistent/serviceaccount/token',
      },
      port: 0,
      host: '127.0.0.1',
    });
    try {
      const token = await accounts.token(NS, PING_SA, AUDIENCE);
      const before = runs.length;
      const call = (authorization: string) =>
        fetch(`${blind.url}/sweep`, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json' },
          body: '{}',
        });
      const unavailable = await call(`Bearer ${token}`);
      expect(unavailable.status).toBe(503);
      const problem = (await unavailable.json()) as { retryable: boolean; detail: string };
      expect(problem.retryable).toBe(true);
      expect(problem.detail).toContain('SERVICE_ACCOUNT_TOKEN_FILE');
      expect(JSON.stringify(problem)).not.toContain(token.split('.')[2] ?? token);
      expect(runs.length).toBe(before);
      const byApiToken = await call(`Bearer ${API_TOKEN}`);
      expect(byApiToken.status).toBe(200);
      await byApiToken.arrayBuffer();
      expect(runs.length).toBe(before + 1);
    } finally {
      await blind.stop();
    }
  });
});
