/**
 * serve() as a real process: start-up refusal on bad config or a failing setup, and graceful shutdown on
 * SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/slow-function.ts', import.meta.url));
const TOKEN = 'serve-test-token-0123456789';
const children: ChildProcess[] = [];

function start(env: Record<string, string>): {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
} {
  const child = spawn(process.execPath, [fixture], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: 'pipe',
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { child, stdout: () => out, stderr: () => err };
}

async function waitForPort(stdout: () => string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = /"port":(\d+)/.exec(stdout())?.[1];
    if (port !== undefined) return Number(port);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`function did not start; output: ${stdout()}`);
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

describe('serve', () => {
  it('refuses to start without a token, naming the variable and not printing values', async () => {
    const proc = start({ PORT: '0', LOG_LEVEL: 'info', MAX_BODY_BYTES: 'lots' });
    const [code] = (await once(proc.child, 'exit')) as [number];
    expect(code).toBe(1);
    const line = JSON.parse(proc.stderr().trim()) as { level: string; msg: string };
    expect(line.level).toBe('fatal');
    expect(line.msg).toMatch(/API_TOKEN/);
    expect(line.msg).toMatch(/MAX_BODY_BYTES/);
    expect(line.msg).not.toContain('lots');
  });

  it('answers /healthz before setup, and exits as a failed start-up when setup fails', async () => {
    const proc = start({ PORT: '0', API_TOKEN: TOKEN, SETUP_FAILS: '1' });
    const port = await waitForPort(proc.stdout);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    const [code] = (await once(proc.child, 'exit')) as [number];
    expect(code).toBe(1);
    const line = JSON.parse(proc.stderr().trim()) as { level: string; msg: string };
    expect(line).toMatchObject({ level: 'fatal', msg: 'start-up failed: Error: setup failed on purpose' });
  });

  it('finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const proc = start({ PORT: '0', API_TOKEN: TOKEN, SHUTDOWN_GRACE_SECONDS: '5' });
    const port = await waitForPort(proc.stdout);
    const inFlight = fetch(`http://127.0.0.1:${port}/wait`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ms: 700 }),
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    proc.child.kill('SIGTERM');
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ waited: 700 });
    const [code] = (await once(proc.child, 'exit')) as [number];
    expect(code).toBe(0);
    expect(proc.stdout()).toMatch(/"msg":"stopped"/);
  });

  it('aborts a running operation at SIGTERM, not at the end of the grace, and exits', async () => {
    const proc = start({ PORT: '0', API_TOKEN: TOKEN, SHUTDOWN_GRACE_SECONDS: '60' });
    const port = await waitForPort(proc.stdout);
    const call = (path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // Control: before SIGTERM an operation runs and answers.
    expect((await call('/wait', { ms: 0 })).status).toBe(200);
    const running = call('/until-stopped', {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    proc.child.kill('SIGTERM');
    const response = await running;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ stoppedBy: 'shutdown' });
    const [code] = (await once(proc.child, 'exit')) as [number];
    expect(code).toBe(0);
    // It stopped because its signal told it, not because the 60 s grace ran out.
    expect(proc.stdout()).not.toContain('shutdown grace over');
    expect(proc.stdout()).toMatch(/"msg":"stopped"/);
  });
});
