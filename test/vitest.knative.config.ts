import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

// End-to-end tests on Knative (`test/e2e/*.test.ts`): the test environment with its node and Knative
// Serving, Eventing and Traefik installed on it from their own sources (test/env/knative.ts). `make test-knative`.
process.env.TL_TESTENV_KNATIVE = '1';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/e2e/**/*.test.ts'],
    exclude: [...configDefaults.exclude],
    environment: 'node',
    globalSetup: ['test/e2e/global-setup.ts'],
    setupFiles: ['test/env/log-tail-on-failure.ts'],
    testTimeout: 240_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
