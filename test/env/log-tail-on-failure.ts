/** setupFiles of the integration tests: when a test fails, print the tail of every server log. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, inject, onTestFailed } from 'vitest';
import { logTail } from './process.ts';
import './provided.ts';

beforeEach(() => {
  onTestFailed(async () => {
    const { logDir } = inject('testEnv');
    const files = await readdir(logDir).catch(() => [] as string[]);
    for (const file of files.sort()) {
      console.error(`--- last lines of ${join(logDir, file)} ---\n${await logTail(join(logDir, file), 25)}`);
    }
  });
});
