// Process entrypoint of the reset function.
import { serve } from '../../shared/platform/server.ts';
import { loadConfig } from './config.ts';
import { resetSetup } from './index.ts';

serve({ name: 'reset', loadConfig, setup: (config, log) => Promise.resolve(resetSetup(config, log)) });
