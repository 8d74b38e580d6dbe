// Process entrypoint of the pg-reconcile function.
import { serve } from '../../shared/platform/server.ts';
import { loadConfig } from './config.ts';
import { pgReconcileSetup } from './index.ts';

serve({
  name: 'pg-reconcile',
  loadConfig,
  setup: (config, log) => Promise.resolve(pgReconcileSetup(config, log)),
});
