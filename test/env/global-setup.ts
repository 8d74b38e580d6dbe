/**
 * vitest globalSetup of the integration tests: starts the test environment once per run, hands it to the
 * tests (`inject('testEnv')`), and stops it afterwards, whether tests passed or failed. A server that fails
 * to start fails the whole run with its log tail; nothing is skipped silently.
 */
import type { TestProject } from 'vitest/node';
import { describeStartup, startTestEnv } from './environment.ts';
import './provided.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const running = await startTestEnv();
  console.log(describeStartup(running));
  project.provide('testEnv', running.env);
  return async () => {
    await running.stop();
  };
}
