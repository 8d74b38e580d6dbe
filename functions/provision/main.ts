// Process entrypoint of the provision function (bundled per function; see functions/README.md).
import { serve } from '../../shared/platform/server.ts';
import { loadConfig } from './config.ts';
import { provisionSetup } from './index.ts';

serve({
  name: 'provision',
  loadConfig,
  setup: (config, log) => Promise.resolve(provisionSetup(config, log)),
});
