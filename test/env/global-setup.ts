/**
 * vitest globalSetup of the integration tests: starts the test environment once per run, hands it to the
 * tests (`inject('testEnv')`), and stops it afterwards, whether tests passed or failed. A server that fails
 * to start fails the whole run with its log tail; nothing is skipped silently.
 *
 * TL_TESTENV_FILE=.dev/testenv.json reuses an environment started by `make testenv` instead (fast
 * iterations while developing); it is left running.
 */
import { readFile } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { describeStartup, startTestEnv } from './environment.ts';
import type { TestEnv } from './provided.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const reuse = process.env.TL_TESTENV_FILE;
  if (reuse) {
    project.provide('testEnv', JSON.parse(await readFile(reuse, 'utf8')) as TestEnv);
    console.log(`reusing the test environment described in ${reuse}`);
    return () => Promise.resolve();
  }
  const running = await startTestEnv();
  console.log(describeStartup(running));
  project.provide('testEnv', running.env);
  return async () => {
    await running.stop();
  };
}
