/**
 * Start-up in two steps (shared/platform/server.ts): the server listens and answers /healthz before the
 * function's setup has run; setup runs once, on the first request for anything else, which waits for it;
 * a failing setup is reported (serve() exits on it) and the waiting request gets a 500 problem.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineConfig } from '../../../shared/platform/config.ts';
import { operation, type FunctionSpec } from '../../../shared/platform/operation.ts';
import { startFunction, type FunctionSetup, type RunningFunction } from '../../../shared/platform/server.ts';

const TOKEN = 'lazy-setup-token-0123456789';
const spec: FunctionSpec = {
  name: 'lazy',
  operations: [
    operation({
      name: 'echo',
      input: z.object({ say: z.string() }),
      http: [{ method: 'POST', path: '/echo' }],
      run: ({ say }) => Promise.resolve({ said: say }),
    }),
  ],
};

let running: RunningFunction | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

function start(setup: () => Promise<FunctionSetup>, onSetupError?: (error: unknown) => void) {
  return startFunction({
    name: 'lazy',
    loadConfig: defineConfig({}, () => ({})),
    env: { API_TOKEN: TOKEN, LOG_LEVEL: 'silent', SHUTDOWN_GRACE_SECONDS: '1' },
    port: 0,
    host: '127.0.0.1',
    lazySetup: true,
    setup,
    ...(onSetupError === undefined ? {} : { onSetupError }),
  });
}

describe('lazy setup', () => {
  it('answers /healthz before setup, and runs setup once, on the first other request', async () => {
    let calls = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    running = await start(async () => {
      calls++;
      await gate;
      return { spec, ready: () => Promise.resolve() };
    });
    const health = await fetch(`${running.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(health.headers.get('x-request-id')).toBeTruthy();
    // OpenFaaS' probe path (faas-netes 0.18.17 pkg/k8s/probes.go), answered the same way, without a token
    // and before setup; a path beside it is not, so the answer is not a catch-all.
    const openFaasProbe = await fetch(`${running.url}/_/health`);
    expect(openFaasProbe.status).toBe(200);
    expect(await openFaasProbe.json()).toEqual({ status: 'ok' });
    expect(calls).toBe(0);
    const beside = fetch(`${running.url}/_/healthy`);

    const ready = fetch(`${running.url}/readyz`);
    const echo = fetch(`${running.url}/echo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ say: 'hi' }),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Setup is running and has not finished: /healthz still answers at once.
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${running.url}/_/health`)).status).toBe(200);
    release();
    expect((await beside).status).toBe(401);
    expect((await ready).status).toBe(200);
    expect(await (await echo).json()).toEqual({ said: 'hi' });
    expect((await fetch(`${running.url}/metrics`)).status).toBe(200);
    expect(calls).toBe(1);
  });

  it('reports a failing setup and answers the waiting request with a 500 problem', async () => {
    const failures: unknown[] = [];
    running = await start(
      () => Promise.reject(new Error('kubeconfig not found')),
      (error) => failures.push(error),
    );
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${running.url}/readyz`);
    expect(ready.status).toBe(500);
    expect(ready.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const problem = (await ready.json()) as { detail?: string };
    expect(JSON.stringify(problem)).not.toContain('kubeconfig');
    expect(failures).toHaveLength(1);
  });

  it('runs setup before returning unless lazySetup, and rejects when it fails', async () => {
    await expect(
      startFunction({
        name: 'eager',
        loadConfig: defineConfig({}, () => ({})),
        env: { API_TOKEN: TOKEN, LOG_LEVEL: 'silent' },
        port: 0,
        setup: () => Promise.reject(new Error('no database')),
      }),
    ).rejects.toThrow(/no database/);
  });
});
