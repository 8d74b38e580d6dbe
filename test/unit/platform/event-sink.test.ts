/**
 * The events a function emits carry its own token to the sink: a fixed one, or a projected service-account
 * token read from its file at every send (the kubelet rotates it), as a Broker's ingress under Knative's
 * `authentication-oidc` requires.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { eventSinkFor } from '../../../shared/platform/event-sink.ts';

const received: { authorization: string | undefined; type: string | undefined }[] = [];
let server: Server;
let url = '';
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tl-sink-'));
  server = createServer((req, res) => {
    received.push({ authorization: req.headers.authorization, type: req.headers['ce-type'] as string });
    req.resume();
    req.on('end', () => res.writeHead(202).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address !== null && typeof address === 'object') url = `http://127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('EventSink', () => {
  it('sends the token file’s current content, read at every send', async () => {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'first-projected-token\n');
    const sink = eventSinkFor({ sink: url, tokenFile }, '/tenant-lifecycle/test');
    await sink?.send('dev.tenantlifecycle.test.one', {});
    await writeFile(tokenFile, 'rotated-projected-token');
    await sink?.send('dev.tenantlifecycle.test.two', {});
    expect(received.slice(-2)).toEqual([
      { authorization: 'Bearer first-projected-token', type: 'dev.tenantlifecycle.test.one' },
      { authorization: 'Bearer rotated-projected-token', type: 'dev.tenantlifecycle.test.two' },
    ]);
    await sink?.close();
  });

  it('prefers a configured token; without either sends none', async () => {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'projected-token');
    const withToken = eventSinkFor({ sink: url, token: 'fixed-token', tokenFile }, '/t');
    const bare = eventSinkFor({ sink: url }, '/t');
    await withToken?.send('dev.tenantlifecycle.test.fixed', {});
    await bare?.send('dev.tenantlifecycle.test.bare', {});
    expect(received.slice(-2)).toEqual([
      { authorization: 'Bearer fixed-token', type: 'dev.tenantlifecycle.test.fixed' },
      { authorization: undefined, type: 'dev.tenantlifecycle.test.bare' },
    ]);
    await withToken?.close();
    await bare?.close();
  });

  it('sends nothing and answers 503 naming the variable when the token file is unreadable', async () => {
    const sink = eventSinkFor({ sink: url, tokenFile: join(dir, 'missing') }, '/t');
    const before = received.length;
    const error = await sink?.send('dev.tenantlifecycle.test.lost', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as PlatformError).status).toBe(503);
    expect((error as PlatformError).message).toContain('EVENT_SINK_TOKEN_FILE');
    expect(received.length).toBe(before);
    await sink?.close();
  });
});
