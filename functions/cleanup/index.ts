/**
 * cleanup: HTTP POST / (and /cleanup, docs/compatibility.md) with { dryRun?, force?, now? }, the CloudEvent
 * dev.tenantlifecycle.tenant.cleanup.requested, or the daily PingSource. Path: trigger -> host -> cleanup
 * (marker-group members, created-before, exempt namespaces, safety bound) -> removeTenant for each -> audit.
 */
import { z } from 'zod';
import type { Logger } from '../../shared/platform/logger.ts';
import { operation, stopCause, type FunctionSpec } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { runAudited } from '../../shared/store/audited-run.ts';
import type { PlatformStore } from '../../shared/store/store.ts';
import { cleanup, type CleanupPorts, type CleanupSettings } from '../../shared/tenancy/cleanup.ts';
import { TenantRunMetrics } from '../../shared/tenancy/run-metrics.ts';
import { connectTenantSystems } from '../../shared/wiring/tenant-systems.ts';
import type { CleanupConfig } from './config.ts';

export const CLEANUP_EVENT = 'dev.tenantlifecycle.tenant.cleanup.requested';

export const cleanupRequest = z
  .object({
    dryRun: z.boolean().default(false),
    force: z.boolean().default(false),
    now: z.iso.datetime().optional(),
  })
  .strict();

export function cleanupSpec(deps: {
  settings: CleanupSettings;
  ports: CleanupPorts;
  store: Pick<PlatformStore, 'recordAudit'>;
  metrics?: TenantRunMetrics;
}): FunctionSpec {
  return {
    name: 'cleanup',
    operations: [
      operation({
        name: 'cleanup',
        input: cleanupRequest,
        http: [
          { method: 'POST', path: '/' },
          { method: 'POST', path: '/cleanup' },
        ],
        events: [CLEANUP_EVENT],
        ping: true,
        run: async (input, ctx) => {
          const result = await runAudited(
            deps.store,
            ctx,
            {
              operation: 'cleanup',
              target: '*',
              dryRun: input.dryRun,
              record: (r) => {
                const notStarted = 'not_started' in r ? r.not_started : undefined;
                return {
                  partial: ('failed' in r && r.failed > 0) || notStarted !== undefined,
                  details: {
                    cutoff: r.cutoff,
                    notOwned: r.not_owned,
                    ...('deleted_users' in r ? { deleted: r.deleted_users, failed: r.failed_deletions } : {}),
                    ...(notStarted === undefined ? {} : { stopped: stopCause(ctx.signal), notStarted }),
                  },
                };
              },
            },
            async () => {
              const done = await cleanup(input, deps.settings, deps.ports, ctx.signal);
              if ('successfully_deleted' in done)
                deps.metrics?.run('cleanup', { deleted: done.successfully_deleted, failed: done.failed });
              return done;
            },
          );
          return result;
        },
      }),
    ],
  };
}

export function cleanupSetup(config: CleanupConfig, log: Logger): FunctionSetup {
  const systems = connectTenantSystems(config, log, 'cleanup');
  const { store, identity, cluster, grafana } = systems;
  const metrics = new TenantRunMetrics();
  return {
    registerMetrics: (registry) => {
      metrics.register(registry);
    },
    spec: cleanupSpec({
      metrics,
      settings: {
        markerGroup: config.markerGroup,
        reserved: config.reserved,
        retentionDays: config.retentionDays,
        maxShare: config.maxShare,
      },
      ports: {
        identity,
        cluster,
        grafana,
        members: (groupId) => identity.groupMembers(groupId),
        createdBefore: (cutoff) => identity.usersCreatedBefore(cutoff),
        namespacePages: (selector) => cluster.namespacePages(selector),
      },
      store,
    }),
    ready: () => store.ensureSchema(),
    close: () => systems.close(),
  };
}
