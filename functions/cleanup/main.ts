// Process entrypoint of the cleanup function.
import { serve } from '../../shared/platform/server.ts';
import { loadConfig } from './config.ts';
import { cleanupSetup } from './index.ts';

serve({ name: 'cleanup', loadConfig, setup: (config, log) => Promise.resolve(cleanupSetup(config, log)) });
