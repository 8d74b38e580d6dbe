/**
 * The function host end to end in-process: the functions framework's real Express app behind our body guard,
 * driven over HTTP on loopback. Covers each trigger and each kind of bad input.
 */
import { CloudEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineConfig } from '../../../shared/platform/config.ts';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { operation, type FunctionSpec, type InvocationContext } from '../../../shared/platform/operation.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';

const TOKEN = 'unit-test-token-0123456789';
const SECRET_IN_ERROR = 'hunter2-never-shown';

const calls: { op: string; input: unknown; ctx: InvocationContext }[] = [];
const record = (op: string) => (input: unknown, ctx: InvocationContext) => {
  calls.push({ op, input, ctx });
  return Promise.resolve({ op, input });
};

const spec: FunctionSpec = {
  name: 'hosttest',
  operations: [
    operation({
      name: 'echo',
      input: z.object({ name: z.string().min(1), dryRun: z.boolean().default(false) }),
      http: [{ method: 'POST', path: '/echo' }],
      events: ['dev.tenantlifecycle.test.echo'],
      run: record('echo'),
    }),
    operation({
      name: 'sweep',
      input: z.object({ batch: z.number().int().optional() }),
      http: [{ method: 'POST', path: '/sweep' }],
      ping: true,
      successStatus: 202,
      run: record('sweep'),
    }),
    operation({
      name: 'limits',
      input: z.object({ namespace: z.string(), verbose: z.string().optional() }),
      http: [{ method: 'GET', path: '/limits/:namespace' }],
      run: record('limits'),
    }),
    operation({
      name: 'boom',
      input: z.object({}),
      http: [{ method: 'POST', path: '/boom' }],
      run: () => Promise.reject(new Error(`connect failed for password=${SECRET_IN_ERROR}`)),
    }),
    operation({
      name: 'upstream',
      input: z.object({}),
      http: [{ method: 'POST', path: '/upstream' }],
      run: () =>
        Promise.reject(
          new PlatformError({ reason: 'unavailable', message: 'keycloak unreachable', upstream: 'keycloak' }),
        ),
    }),
  ],
};

const logLines: string[] = [];
let fn: RunningFunction;

beforeAll(async () => {
  fn = await startFunction({
    spec,
    loadConfig: defineConfig({}, () => ({})),
    env: { API_TOKEN: TOKEN, LOG_LEVEL: 'debug' },
    port: 0,
    host: '127.0.0.1',
    logDestination: { write: (line: string) => void logLines.push(line) },
  });
});
afterAll(async () => {
  await fn.stop();
});

const auth = { authorization: `Bearer ${TOKEN}` };

async function post(path: string, body: string | Buffer | undefined, headers: Record<string, string> = {}) {
  const response = await fetch(`${fn.url}${path}`, {
    method: 'POST',
    headers: { ...auth, ...headers },
    body,
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    headers: response.headers,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}
const json = { 'content-type': 'application/json' };

function expectProblem(
  r: Awaited<ReturnType<typeof post>>,
  status: number,
  type: string,
): Record<string, unknown> {
  expect(r.status).toBe(status);
  expect(r.type).toMatch(/^application\/problem\+json/);
  const problem = r.json();
  expect(problem).toMatchObject({ status, type: `urn:tenant-lifecycle:problem:${type}` });
  expect(typeof problem.title).toBe('string');
  expect(typeof problem.requestId).toBe('string');
  return problem;
}

describe('plain JSON requests', () => {
  it('validates and runs the operation, echoing a request id', async () => {
    const r = await post('/echo', JSON.stringify({ name: 'alice' }), {
      ...json,
      'x-request-id': 'req-123',
      'x-actor': 'ops-bob',
    });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ op: 'echo', input: { name: 'alice', dryRun: false } });
    expect(r.headers.get('x-request-id')).toBe('req-123');
    const call = calls.at(-1);
    expect(call?.ctx.trigger).toBe('http');
    expect(call?.ctx.actor).toBe('ops-bob via token#0');
  });

  it('accepts the predecessor bare Authorization header and X-Admin-Key', async () => {
    for (const headers of [{ authorization: TOKEN }, { 'x-admin-key': TOKEN, authorization: '' }]) {
      const response = await fetch(`${fn.url}/echo`, {
        method: 'POST',
        headers: { ...json, ...headers },
        body: '{"name":"x"}',
      });
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
  });

  it('merges path parameters and query into the input of a GET', async () => {
    const response = await fetch(`${fn.url}/limits/team-a?verbose=1`, { headers: auth });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ op: 'limits', input: { namespace: 'team-a', verbose: '1' } });
  });

  it('a malformed percent-escape in a path parameter -> 400, a well-formed one is decoded', async () => {
    const bad = await fetch(`${fn.url}/limits/%E0%A4%A`, { headers: auth });
    const text = await bad.text();
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(text)).toMatchObject({ type: 'urn:tenant-lifecycle:problem:bad-request' });
    // Anywhere in the path, before the framework's router (whose answer is an HTML page with a stack).
    const elsewhere = await fetch(`${fn.url}/nowhere/%E0%A4%A?x=1`, { headers: auth });
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.text()).toContain('malformed percent-escape');
    const good = await fetch(`${fn.url}/limits/caf%C3%A9`, { headers: auth });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ op: 'limits', input: { namespace: 'café' } });
  });

  it('uses the operation success status and accepts an empty body', async () => {
    const r = await post('/sweep', undefined);
    expect(r.status).toBe(202);
    expect(r.json()).toEqual({ op: 'sweep', input: {} });
  });
});

describe('CloudEvents', () => {
  const event = new CloudEvent({
    type: 'dev.tenantlifecycle.test.echo',
    source: '/test',
    data: { name: 'carol' },
  });

  it('accepts binary mode', async () => {
    const message = HTTP.binary(event);
    const r = await post('/', message.body as string, message.headers as Record<string, string>);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ op: 'echo', input: { name: 'carol', dryRun: false } });
    expect(calls.at(-1)?.ctx.trigger).toBe('cloudevent');
    expect(calls.at(-1)?.ctx.event).toMatchObject({ id: event.id, type: event.type, source: '/test' });
  });

  it('accepts structured mode', async () => {
    const message = HTTP.structured(event);
    const r = await post('/', message.body as string, message.headers as Record<string, string>);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ op: 'echo', input: { name: 'carol', dryRun: false } });
  });

  it('routes a Knative PingSource event to the scheduled operation with its data', async () => {
    const ping = new CloudEvent({
      type: 'dev.knative.sources.ping',
      source: '/apis/v1/namespaces/tenants/pingsources/sweep',
      datacontenttype: 'application/json',
      data: { batch: 50 },
    });
    const message = HTTP.binary(ping);
    const r = await post('/', message.body as string, message.headers as Record<string, string>);
    expect(r.status).toBe(202);
    expect(r.json()).toEqual({ op: 'sweep', input: { batch: 50 } });
    expect(calls.at(-1)?.ctx.trigger).toBe('ping');
  });

  it('refuses an unknown event type with 400 and names the accepted ones', async () => {
    const message = HTTP.binary(new CloudEvent({ type: 'dev.example.unknown', source: '/x', data: {} }));
    const problem = expectProblem(
      await post('/', message.body as string, message.headers as Record<string, string>),
      400,
      'unsupported-event-type',
    );
    expect(problem.detail).toMatch(/dev\.example\.unknown/);
    expect(problem.detail).toMatch(/dev\.knative\.sources\.ping/);
  });

  it('refuses a CloudEvent without required attributes', async () => {
    const r = await post('/', '{"name":"x"}', {
      ...json,
      'ce-specversion': '1.0',
      'ce-type': 'dev.tenantlifecycle.test.echo',
    });
    expectProblem(r, 400, 'malformed-body');
  });

  it('requires a token for events: none is refused, the API token is accepted', async () => {
    const message = HTTP.binary(event);
    const headers = message.headers as Record<string, string>;
    const response = await fetch(`${fn.url}/`, { method: 'POST', headers, body: message.body as string });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await response.arrayBuffer();
    const authorized = await fetch(`${fn.url}/`, {
      method: 'POST',
      headers: { ...headers, ...auth },
      body: message.body as string,
    });
    expect(authorized.status).toBe(200);
    await authorized.arrayBuffer();
  });
});

describe('bad input', () => {
  it('malformed JSON -> 400 malformed-body, without echoing the body', async () => {
    const problem = expectProblem(await post('/echo', '{"name": "alice", oops', json), 400, 'malformed-body');
    expect(JSON.stringify(problem)).not.toContain('oops');
  });

  it('wrong content type -> 415', async () => {
    expectProblem(
      await post('/echo', 'name=alice', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'unsupported-media-type',
    );
    expectProblem(
      await post('/echo', 'alice', { 'content-type': 'text/plain' }),
      415,
      'unsupported-media-type',
    );
  });

  it('body over 1 MiB -> 413, declared or streamed', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 'a');
    expectProblem(await post('/echo', big, json), 413, 'payload-too-large');
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 17; i++) controller.enqueue(new Uint8Array(64 * 1024));
        controller.close();
      },
    });
    const response = await fetch(`${fn.url}/echo`, {
      method: 'POST',
      headers: { ...auth, ...json },
      body: stream,
      duplex: 'half',
    });
    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toMatch(/problem\+json/);
    await response.arrayBuffer();
  });

  it('schema violations -> 400 validation with per-field errors', async () => {
    const problem = expectProblem(
      await post('/echo', JSON.stringify({ name: '', dryRun: 'yes' }), json),
      400,
      'validation',
    );
    expect((problem.errors as { path: string }[]).map((e) => e.path).sort()).toEqual(['dryRun', 'name']);
  });

  it('a JSON body that is not an object -> 400 validation', async () => {
    expectProblem(await post('/echo', '[1,2]', json), 400, 'validation');
    expectProblem(await post('/echo', '"alice"', json), 400, 'validation');
  });

  it('missing or invalid token -> 401 with WWW-Authenticate, checked before the body is parsed', async () => {
    const missing = await fetch(`${fn.url}/echo`, { method: 'POST', headers: json, body: '{bad' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await missing.json()) as { detail: string }).detail).toMatch(/missing token/);
    const wrong = await post('/echo', '{"name":"x"}', {
      ...json,
      authorization: 'Bearer not-the-token-at-all',
    });
    expect(expectProblem(wrong, 401, 'unauthorized').detail).toBe('invalid token');
  });

  it('unknown path -> 404, wrong method -> 405 with Allow', async () => {
    expectProblem(await post('/nowhere', '{}', json), 404, 'not-found');
    const r = await fetch(`${fn.url}/echo`, { method: 'GET', headers: auth });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('POST');
    await r.arrayBuffer();
  });

  it('an unexpected error -> 500 without its message; an upstream failure -> 503 retryable', async () => {
    const internal = expectProblem(await post('/boom', '{}', json), 500, 'internal');
    expect(JSON.stringify(internal)).not.toContain(SECRET_IN_ERROR);
    expect(internal.retryable).toBe(false);
    const upstream = expectProblem(await post('/upstream', '{}', json), 503, 'unavailable');
    expect(upstream).toMatchObject({ retryable: true, upstream: 'keycloak', detail: 'keycloak unreachable' });
  });
});

describe('health, metrics and logs', () => {
  it('serves health and metrics without a token', async () => {
    expect((await fetch(`${fn.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${fn.url}/metrics`)).text();
    expect(metrics).toMatch(
      /tenant_function_requests_total\{[^}]*operation="echo"[^}]*trigger="http"[^}]*outcome="success"[^}]*\} [1-9]/,
    );
    expect(metrics).toMatch(
      /tenant_function_requests_total\{[^}]*operation="echo"[^}]*trigger="cloudevent"[^}]*outcome="success"/,
    );
    expect(metrics).toMatch(/tenant_function_request_duration_seconds_bucket\{/);
    expect(metrics).toMatch(/function="hosttest"/);
  });

  it('logs one JSON line per request with the request id, and never a token or a body', async () => {
    await post('/echo', JSON.stringify({ name: 'dave-the-tenant' }), {
      ...json,
      'x-request-id': 'req-log-1',
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const done = entries.find((e) => e.requestId === 'req-log-1' && e.msg === 'request completed');
    expect(done).toMatchObject({
      level: 'info',
      function: 'hosttest',
      operation: 'echo',
      status: 200,
      outcome: 'success',
    });
    const all = logLines.join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain('dave-the-tenant');
    expect(all).not.toContain('not-the-token-at-all');
    // the internal error's cause is logged for operators (with its stack), but only in the log
    expect(entries.some((e) => e.level === 'error' && JSON.stringify(e.err).includes('connect failed'))).toBe(
      true,
    );
  });
});

describe('start-up checks', () => {
  it('refuses to build a handler for idempotent operations without a platform store', async () => {
    await expect(
      startFunction({
        spec: {
          name: 'needs-store',
          operations: [
            operation({
              name: 'create',
              input: z.object({}),
              idempotent: true,
              run: () => Promise.resolve({}),
            }),
          ],
        },
        loadConfig: defineConfig({}, () => ({})),
        env: { API_TOKEN: TOKEN, LOG_LEVEL: 'silent' },
        port: 0,
      }),
    ).rejects.toThrow(/create are idempotent but no platform store/);
  });
});
