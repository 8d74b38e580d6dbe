/**
 * sync: HTTP POST / (and /sync, docs/compatibility.md) with { username?, dryRun?, prune?, force?, adopt? },
 * the CloudEvent dev.tenantlifecycle.tenant.sync.requested, or the hourly PingSource.
 * Path: trigger -> host -> sync (marker-group members, Grafana users and tenant namespaces listed once
 * each, in pages) -> planSync
 * (pure) -> repairs with bounded concurrency; the baseline objects of existing tenant namespaces (one list
 * per kind) compared with the desired ones and drifted ones replaced -> prune only when asked -> audit.
 */
import { z } from 'zod';
import type { Logger } from '../../shared/platform/logger.ts';
import { operation, stopCause, type FunctionSpec } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { runAudited } from '../../shared/store/audited-run.ts';
import type { PlatformStore } from '../../shared/store/store.ts';
import { PlatformError } from '../../shared/platform/errors.ts';
import { DNS_LABEL } from '../../shared/platform/kubernetes-names.ts';
import { assertNotReserved, type ReservedNames } from '../../shared/platform/reserved-names.ts';
import { sync, type SyncPorts, type SyncSettings } from '../../shared/tenancy/sync.ts';
import { TenantRunMetrics } from '../../shared/tenancy/run-metrics.ts';
import { connectTenantSystems } from '../../shared/wiring/tenant-systems.ts';
import type { SyncConfig } from './config.ts';

export const SYNC_EVENT = 'dev.tenantlifecycle.tenant.sync.requested';

export const syncRequest = z
  .object({
    username: z.string().regex(DNS_LABEL).optional(),
    dryRun: z.boolean().default(false),
    /** Delete orphans (namespaces and product-made Grafana users without a tenant). */
    prune: z.boolean().default(false),
    /** Prune beyond the safety bound. */
    force: z.boolean().default(false),
    /**
     * With `username`, over HTTP only: take over the tenant's same-named namespace that the product did not
     * make (labelled as the tenant's, baseline created in it); recorded in the audit log.
     */
    adopt: z.boolean().default(false),
  })
  .strict();

export interface SyncDependencies {
  readonly settings: SyncSettings;
  readonly reserved: ReservedNames;
  readonly ports: SyncPorts;
  readonly store: Pick<PlatformStore, 'recordAudit' | 'withLock'>;
  readonly now?: () => Date;
  readonly metrics?: TenantRunMetrics;
}

export function syncSpec(deps: SyncDependencies): FunctionSpec {
  return {
    name: 'sync',
    operations: [
      operation({
        name: 'sync',
        input: syncRequest,
        http: [
          { method: 'POST', path: '/' },
          { method: 'POST', path: '/sync' },
        ],
        events: [SYNC_EVENT],
        ping: true,
        run: async (input, ctx) => {
          if (input.username !== undefined)
            assertNotReserved(input.username, deps.reserved, 'tenant', 'username');
          if (input.adopt && ctx.trigger !== 'http') {
            throw new PlatformError({
              reason: 'validation',
              message: 'adopt is accepted over HTTP only: an operator asks for it, never an event',
              issues: [{ path: 'adopt', message: 'HTTP only' }],
            });
          }
          const result = await runAudited(
            deps.store,
            ctx,
            {
              operation: 'sync',
              target: input.username ?? '*',
              dryRun: input.dryRun,
              // One tenant is repaired under its lock, as provision and deprovision hold it; a sweep takes each
              // tenant's lock for its repair only (SyncPorts.tenantLock). A dry run changes nothing, locks nothing.
              lock:
                input.username === undefined || input.dryRun
                  ? undefined
                  : `tenant:${input.username.toLowerCase()}`,
              lockWait: { until: ctx.deadline, signal: ctx.signal },
              record: (r) => ({
                partial: r.results.failed_fixes.length > 0 || r.stopped !== undefined,
                details: {
                  counts: r.counts,
                  ...(input.adopt ? { adopt: true } : {}),
                  ...r.results,
                  ...(r.stopped === undefined
                    ? {}
                    : { stopped: stopCause(ctx.signal), notStarted: r.stopped.not_started }),
                },
              }),
            },
            async () => {
              const done = await sync(
                input,
                deps.settings,
                deps.ports,
                (deps.now ?? (() => new Date()))(),
                ctx.signal,
              );
              if (done.dryRun !== true) {
                const pruned = done.results.pruned;
                deps.metrics?.run('sync', {
                  repaired: done.results.fixed_users.length,
                  baseline_repaired: done.results.baseline_repaired.length,
                  failed: done.results.failed_fixes.length,
                  pruned: (pruned?.namespaces.length ?? 0) + (pruned?.grafana_users.length ?? 0),
                });
                if (input.username === undefined)
                  deps.metrics?.syncOrphans(
                    done.results.orphans.namespaces.length,
                    done.results.orphans.grafana_users.length,
                  );
              }
              return done;
            },
          );
          // Names and the drifted fields only: never an object's content.
          for (const r of result.results.baseline_repaired)
            ctx.log.info(
              { tenant: r.tenant, kind: r.kind, name: r.name, action: r.action, fields: r.fields },
              'baseline object repaired',
            );
          ctx.log.info(
            { counts: result.counts, failed: result.results.failed_fixes.length },
            'sync finished',
          );
          return result;
        },
      }),
    ],
  };
}

export function syncSetup(config: SyncConfig, log: Logger): FunctionSetup {
  const systems = connectTenantSystems(config, log, 'sync', { pageSize: config.pageSize });
  const { store, identity, cluster, grafana } = systems;
  const metrics = new TenantRunMetrics();
  return {
    registerMetrics: (registry) => {
      metrics.register(registry);
    },
    spec: syncSpec({
      metrics,
      settings: { ...config.sync, markerGroup: config.markerGroup, reserved: config.reserved },
      reserved: config.reserved,
      ports: {
        identity,
        cluster: {
          namespacePages: (selector) => cluster.namespacePages(selector, config.pageSize),
          readNamespace: (name) => cluster.readNamespace(name),
          create: (object) => cluster.create(object),
          deleteNamespace: (name, uid) => cluster.deleteNamespace(name, uid),
          labelNamespace: (namespace, add) => cluster.labelNamespace(namespace, add),
          objectPages: (kind, selector, namespace) =>
            cluster.objectPages(kind, selector, {
              pageSize: config.pageSize,
              ...(namespace === undefined ? {} : { namespace }),
            }),
          read: (object) => cluster.read(object),
          replace: (object) => cluster.replace(object),
          deleteObject: (object, uid) => cluster.deleteObject(object, uid),
        },
        grafana,
        productLogins: (logins) => store.succeededOn('provision', logins),
        tenantLock: (username, work) =>
          store.withLock(`tenant:${username}`, () => work(), { until: Date.now() }),
      },
      store,
    }),
    ready: () => store.ensureSchema(),
    close: () => systems.close(),
  };
}
