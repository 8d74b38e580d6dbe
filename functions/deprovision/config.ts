/** deprovision's settings: the shared tenant systems, nothing of its own. */
import { defineConfig } from '../../shared/platform/config.ts';
import { systemsSettings, systemsShape } from '../../shared/wiring/tenant-systems-config.ts';

export const loadConfig = defineConfig(systemsShape, systemsSettings);

export type DeprovisionConfig = ReturnType<typeof loadConfig>;
