// Process entrypoint of the provision function (bundled per function; see functions/README.md).
// Only the configuration is read before the server listens; index.ts (the operations and their adapters) is
// imported on first use, so that /healthz answers without loading them (see shared/platform/server.ts).
import { serve } from '../../shared/platform/server.ts';
import { loadConfig } from './config.ts';

serve({
  name: 'provision',
  loadConfig,
  setup: async (config, log) => (await import('./index.ts')).provisionSetup(config, log),
});
