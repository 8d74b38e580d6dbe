// Process entrypoint of the sync function.
import { serve } from '../../shared/platform/server.ts';
import { loadConfig } from './config.ts';
import { syncSetup } from './index.ts';

serve({ name: 'sync', loadConfig, setup: (config, log) => Promise.resolve(syncSetup(config, log)) });
