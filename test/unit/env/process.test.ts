import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess } from '../../env/process.ts';

let logDir: string;
beforeAll(async () => {
  logDir = await mkdtemp(join(tmpdir(), 'process-test-'));
});
afterAll(async () => {
  await rm(logDir, { recursive: true, force: true });
});

describe('startProcess', () => {
  it('fails with the log tail when the server exits before it is ready', async () => {
    const start = startProcess({
      name: 'crasher',
      command: 'sh',
      args: ['-c', 'echo "listen tcp: address already in use" >&2; exit 3'],
      logDir,
      ready: () => Promise.resolve(false),
    });
    await expect(start).rejects.toThrow(/crasher exited with code 3[\s\S]*address already in use/);
  });

  it('fails with the log tail when the server is never ready, and stops it', async () => {
    const start = startProcess({
      name: 'sleeper',
      command: 'sh',
      args: ['-c', 'echo waiting forever; exec sleep 60'],
      logDir,
      ready: () => Promise.resolve(false),
      timeoutMs: 500,
    });
    await expect(start).rejects.toThrow(/sleeper was not ready after[\s\S]*waiting forever/);
  });

  it('answers once ready, and stop() ends the process', async () => {
    let polls = 0;
    const server = await startProcess({
      name: 'ok',
      command: 'sleep',
      args: ['60'],
      logDir,
      ready: () => Promise.resolve(++polls >= 3),
    });
    expect(polls).toBe(3);
    expect(() => process.kill(server.pid, 0)).not.toThrow();
    await server.stop();
    expect(() => process.kill(server.pid, 0)).toThrow();
  });
});
