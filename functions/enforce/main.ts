// Process entrypoint of the enforce function.
import { serve } from '../../shared/platform/server.ts';
import { loadConfig } from './config.ts';
import { enforceSetup } from './index.ts';

serve({ name: 'enforce', loadConfig, setup: (config, log) => Promise.resolve(enforceSetup(config, log)) });
