// Process entrypoint of the deprovision function.
import { serve } from '../../shared/platform/server.ts';
import { loadConfig } from './config.ts';
import { deprovisionSetup } from './index.ts';

serve({
  name: 'deprovision',
  loadConfig,
  setup: (config, log) => Promise.resolve(deprovisionSetup(config, log)),
});
