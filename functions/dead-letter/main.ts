// Process entrypoint of the dead-letter function.
// Only the configuration is read before the server listens; index.ts (the operations and their adapters) is
// imported on first use, so that /healthz answers without loading them (see shared/platform/server.ts).
import { serve } from '../../shared/platform/server.ts';
import { loadConfig } from './config.ts';

serve({
  name: 'dead-letter',
  loadConfig,
  setup: async (config, log) => (await import('./index.ts')).deadLetterSetup(config, log),
});
