/** cleanup's settings: the shared tenant systems, the retention period and the safety bound. */
import { integer, between, withDefault } from '../../shared/platform/env-schema.ts';
import { defineConfig } from '../../shared/platform/config.ts';
import { systemsSettings, systemsShape } from '../../shared/wiring/tenant-systems-config.ts';

export const loadConfig = defineConfig(
  {
    ...systemsShape,
    RETENTION_DAYS: withDefault(integer(1, Number.MAX_SAFE_INTEGER), 365),
    CLEANUP_MAX_SHARE: withDefault(between(0, 1), 0.25),
  },
  (v) => ({ ...systemsSettings(v), retentionDays: v.RETENTION_DAYS, maxShare: v.CLEANUP_MAX_SHARE }),
);

export type CleanupConfig = ReturnType<typeof loadConfig>;
