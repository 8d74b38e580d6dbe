import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

// Tests that need running pods (`*.node.test.ts`): the test environment of the integration tests plus its
// node (kubelet, containerd, kube-proxy, CoreDNS, a loopback registry; test/env/node.ts), which takes
// longer to start and is one per machine. `make test-node`.
process.env.TL_TESTENV_NODE = '1';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/integration/**/*.node.test.ts'],
    exclude: [...configDefaults.exclude],
    environment: 'node',
    globalSetup: ['test/env/global-setup.ts'],
    setupFiles: ['test/env/log-tail-on-failure.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
