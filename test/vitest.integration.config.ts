import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

// Integration tests: real servers (etcd, kube-apiserver, kube-controller-manager, PostgreSQL, ...) started
// once per run on loopback by test/env/global-setup.ts and torn down afterwards, even when tests fail. Tests
// that need running pods (`*.node.test.ts`) run only when the environment has its node: with
// TL_TESTENV_NODE=1 here, or alone through test/vitest.node.config.ts.
const withNode = process.env.TL_TESTENV_NODE === '1';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/integration/**/*.test.ts', 'test/env/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(withNode ? [] : ['**/*.node.test.ts'])],
    environment: 'node',
    globalSetup: ['test/env/global-setup.ts'],
    setupFiles: ['test/env/log-tail-on-failure.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The servers are shared: files run one after another so a slow apiserver is not hammered by many.
    fileParallelism: false,
  },
});
