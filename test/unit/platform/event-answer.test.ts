/**
 * How events are answered so that Knative retries only what may pass later: the pure mapping against
 * Knative Eventing v0.50.0's retry rule (pkg/kncloudevents/retries.go `SelectiveRetry`: 5xx, 404, 408,
 * 409, 429), and the host answering real CloudEvent requests over loopback with it.
 */
import { CloudEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineConfig } from '../../../shared/platform/config.ts';
import { errorReasons, PlatformError, type ErrorReason } from '../../../shared/platform/errors.ts';
import { eventAnswerStatus, eventRedelivery, knativeRetries } from '../../../shared/platform/event-answer.ts';
import { operation, type FunctionSpec } from '../../../shared/platform/operation.ts';
import { startFunction, type RunningFunction } from '../../../shared/platform/server.ts';

describe('eventAnswerStatus', () => {
  it('follows Knative’s retry rule for every status', () => {
    const retried = [404, 408, 409, 429, 500, 502, 503, 504];
    const final = [200, 202, 204, 301, 400, 401, 403, 405, 413, 415, 422];
    for (const status of retried) expect(knativeRetries(status), String(status)).toBe(true);
    for (const status of final) expect(knativeRetries(status), String(status)).toBe(false);
  });

  it('answers each problem reason so that Knative retries it exactly when it is retryable (5xx always)', () => {
    for (const reason of Object.keys(errorReasons) as ErrorReason[]) {
      const error = new PlatformError({ reason, message: reason });
      const status = eventAnswerStatus(error.status, error.retryable);
      const retried = knativeRetries(status);
      if (error.status >= 500) expect(retried, reason).toBe(true);
      else expect(retried, reason).toBe(error.retryable);
    }
  });

  it('turns permanent refusals Knative would retry into 422 and keeps the final ones', () => {
    expect(eventAnswerStatus(409, false)).toBe(422); // tenant exists, not owned
    expect(eventAnswerStatus(404, false)).toBe(422);
    expect(eventAnswerStatus(400, false)).toBe(400); // bad input
    expect(eventAnswerStatus(403, false)).toBe(403); // a share limit refused
    expect(eventAnswerStatus(422, false)).toBe(422);
    expect(eventAnswerStatus(401, false)).toBe(401);
  });

  it('keeps transient failures retried and makes a retryable 4xx a 503', () => {
    expect(eventAnswerStatus(409, true)).toBe(409); // a tenant lock still held
    expect(eventAnswerStatus(429, true)).toBe(429);
    expect(eventAnswerStatus(503, true)).toBe(503);
    expect(eventAnswerStatus(504, true)).toBe(504);
    expect(eventAnswerStatus(502, true)).toBe(502);
    expect(eventAnswerStatus(500, false)).toBe(500);
    expect(eventAnswerStatus(400, true)).toBe(503);
    expect(eventAnswerStatus(200, false)).toBe(200);
  });

  it('names what Knative does next', () => {
    expect(eventRedelivery(200)).toBe('delivered');
    expect(eventRedelivery(422)).toBe('dead-lettered');
    expect(eventRedelivery(503)).toBe('retried');
  });
});

const TOKEN = 'unit-test-token-0123456789';
const refusals: Record<string, PlatformError> = {
  'dev.test.exists': new PlatformError({ reason: 'conflict', message: 'tenant lena exists' }),
  'dev.test.not-owned': new PlatformError({ reason: 'not_owned', message: 'namespace lena is not ours' }),
  'dev.test.share': new PlatformError({ reason: 'forbidden', message: 'share limit refused' }),
  'dev.test.locked': new PlatformError({
    reason: 'conflict',
    message: 'tenant lena is locked',
    retryable: true,
    retryAfterSeconds: 2,
  }),
  'dev.test.busy': new PlatformError({ reason: 'unavailable', message: 'pool busy', retryAfterSeconds: 1 }),
};
const spec: FunctionSpec = {
  name: 'answertest',
  operations: [
    ...Object.entries(refusals).map(([type, error]) =>
      operation({
        name: type.slice('dev.test.'.length),
        input: z.object({}),
        http: [{ method: 'POST', path: `/${type.slice('dev.test.'.length)}` }],
        events: [type],
        run: () => Promise.reject(error),
      }),
    ),
    operation({
      name: 'ok',
      input: z.object({}),
      events: ['dev.test.ok'],
      run: () => Promise.resolve({ done: true }),
    }),
  ],
};
const logLines: string[] = [];
let fn: RunningFunction;

beforeAll(async () => {
  fn = await startFunction({
    spec,
    loadConfig: defineConfig({}, () => ({})),
    env: { API_TOKEN: TOKEN, LOG_LEVEL: 'info' },
    port: 0,
    host: '127.0.0.1',
    logDestination: { write: (line: string) => void logLines.push(line) },
  });
});
afterAll(async () => {
  await fn.stop();
});

async function sendEvent(type: string, extra: Record<string, string> = {}) {
  const message = HTTP.binary(new CloudEvent({ type, source: '/test', data: {} }));
  const response = await fetch(`${fn.url}/`, {
    method: 'POST',
    headers: {
      ...(message.headers as Record<string, string>),
      authorization: `Bearer ${TOKEN}`,
      ...extra,
    },
    body: message.body as string,
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

describe('the host answering events', () => {
  it('answers a permanent refusal with a status Knative does not retry; a plain request keeps 409', async () => {
    for (const type of ['dev.test.exists', 'dev.test.not-owned']) {
      const answer = await sendEvent(type);
      expect(answer.status, type).toBe(422);
      const problem = JSON.parse(answer.text) as Record<string, unknown>;
      expect(problem).toMatchObject({ status: 422, httpStatus: 409, retryable: false });
    }
    const plain = await fetch(`${fn.url}/exists`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(plain.status).toBe(409);
    expect(await plain.json()).toMatchObject({ status: 409, type: 'urn:tenant-lifecycle:problem:conflict' });
    expect((await sendEvent('dev.test.share')).status).toBe(403);
  });

  it('logs a permanent refusal with the event and that it is not retried', async () => {
    logLines.length = 0;
    await sendEvent('dev.test.exists');
    const line = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find(
        (l) => l.redelivery === 'dead-lettered' && typeof l.msg === 'string' && l.msg.includes('refused'),
      );
    expect(line).toMatchObject({ eventType: 'dev.test.exists', reason: 'conflict', level: 'warn' });
    expect(String(line?.msg)).toMatch(/not retried, sent to the dead-letter sink/);
  });

  it('keeps transient failures retried, with Retry-After', async () => {
    const locked = await sendEvent('dev.test.locked');
    expect(locked.status).toBe(409);
    expect(locked.headers.get('retry-after')).toBe('2');
    const busy = await sendEvent('dev.test.busy');
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
  });

  it('answers a Broker filter’s delivery without a body, anyone else with the answer', async () => {
    const viaBroker = await sendEvent('dev.test.ok', { 'kn-namespace': 'tenant-functions' });
    expect(viaBroker.status).toBe(200);
    expect(viaBroker.text).toBe('');
    const direct = await sendEvent('dev.test.ok');
    expect(direct.status).toBe(200);
    expect(JSON.parse(direct.text)).toEqual({ done: true });
  });
});
