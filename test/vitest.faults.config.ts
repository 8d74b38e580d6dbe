import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Fault tests: each file starts servers of its own (test/faults/fault-env.ts) and freezes or kills them, so
// they never run beside the integration tests' shared environment (`make test-integration` runs them after).
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/faults/**/*.test.ts'],
    environment: 'node',
    // A faulted call answers within its few-second bound; these generous limits only catch a hang.
    testTimeout: 300_000,
    hookTimeout: 400_000,
    fileParallelism: false,
  },
});
