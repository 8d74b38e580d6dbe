/** cleanup's settings: the shared tenant systems, the retention period and the safety bound. */
import { z } from 'zod';
import { defineConfig } from '../../shared/platform/config.ts';
import { systemsSettings, systemsShape } from '../../shared/tenancy/systems-config.ts';

export const loadConfig = defineConfig(
  {
    ...systemsShape,
    RETENTION_DAYS: z.coerce.number().int().min(1).default(365),
    CLEANUP_MAX_SHARE: z.coerce.number().min(0).max(1).default(0.25),
  },
  (v) => ({ ...systemsSettings(v), retentionDays: v.RETENTION_DAYS, maxShare: v.CLEANUP_MAX_SHARE }),
);

export type CleanupConfig = ReturnType<typeof loadConfig>;
