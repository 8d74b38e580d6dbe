/**
 * What goes into the image works on its own: a function bundled by knative/image/bundle.ts, copied to an
 * empty folder with nothing but its production files (main.mjs, the chunks it imports on first use and the
 * compile cache; no node_modules, no sources), starts with Node.js 24 as the image starts it, becomes ready
 * against the real servers (which loads the chunks), and answers a real request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bundle, compileCacheEnv } from '../../../knative/image/bundle.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import { freePort } from '../../env/ports.ts';
import '../../env/provided.ts';
import { FUNCTION_TOKEN } from '../../support/tenant-functions.ts';

const env = inject('testEnv');
let folder: string;
let db: TestDatabase;
let child: ChildProcess | undefined;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'tl-image-'));
  db = await createTestDatabase(env.postgres.url, 'image');
}, 120_000);

afterAll(async () => {
  child?.kill('SIGTERM');
  await db.drop();
  await rm(folder, { recursive: true, force: true });
});

describe('the enforce bundle', () => {
  it('holds only its production files and serves from a clean folder', async () => {
    const { dir } = await bundle('enforce', folder);
    expect((await readdir(dir)).sort()).toEqual([
      '.compile-cache',
      'chunks',
      'main.mjs',
      'main.mjs.LEGAL.txt',
      'main.mjs.map',
      'package.json',
    ]);
    // What main.mjs loads on first use (the host, the adapters): ES modules, their maps and legal notices.
    const chunks = await readdir(join(dir, 'chunks'));
    expect(chunks.filter((file) => !/\.mjs(\.map|\.LEGAL\.txt)?$/.test(file))).toEqual([]);
    expect(chunks.filter((file) => file.endsWith('.mjs')).length).toBeGreaterThan(1);
    const port = await freePort();
    child = spawn(process.execPath, ['main.mjs'], {
      cwd: dir,
      // Only what the image's environment would hold: no NODE_PATH, no project folder.
      env: {
        PATH: process.env.PATH ?? '',
        ...compileCacheEnv,
        PORT: String(port),
        API_TOKEN: FUNCTION_TOKEN,
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        KUBECONFIG: env.kubernetes.kubeconfigPath,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const url = `http://127.0.0.1:${port}`;
    let ready = 0;
    for (let i = 0; i < 150 && ready !== 200; i++) {
      ready = await fetch(`${url}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(ready, stderr).toBe(200);
    const response = await fetch(`${url}/enforce/cluster-create`, {
      method: 'POST',
      headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({
        namespace: 'no-such-ns',
        engine: 'postgresql',
        cpu_request_cores: 1,
        memory_request_bytes: 1,
      }),
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { detail: string }).detail).toBe('no limits configured for namespace');
  }, 90_000);
});
