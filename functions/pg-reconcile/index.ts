/**
 * pg-reconcile: PostgreSQL users and roles from a ConfigMap (users.yaml) and Secrets.
 * - HTTP POST / or /reconcile with { dryRun?, force? }, the CloudEvent dev.tenantlifecycle.pg.reconcile.requested,
 *   or the PingSource: one reconcile run.
 * - CloudEvents of a Knative ApiServerSource watching ConfigMaps and Secrets (dev.knative.apiserver.resource.*
 *   in Resource mode, dev.knative.apiserver.ref.* in Reference mode): a run when the event concerns the
 *   ConfigMap or a Secret of the namespace; other objects are answered `ignored`.
 * Path: trigger -> host -> reconcile (shared/pg-roles/reconcile.ts: ConfigMap and Secrets, then one
 * transaction under an advisory lock: catalog, plan, apply) -> metrics -> audit.
 */
import { z } from 'zod';
import type { Logger } from '../../shared/platform/logger.ts';
import { operation, type FunctionSpec, type InvocationContext } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { runAudited } from '../../shared/store/audited-run.ts';
import type { PlatformStore } from '../../shared/store/store.ts';
import { coalescing } from '../../shared/pg-roles/coalesce.ts';
import { ReconcileMetrics } from '../../shared/pg-roles/metrics.ts';
import {
  reconcile,
  type ReconcileDependencies,
  type ReconcileReport,
} from '../../shared/pg-roles/reconcile.ts';
import { connectPgReconcileSystems } from '../../shared/wiring/pg-reconcile-systems.ts';
import type { PgReconcileConfig } from './config.ts';

export const RECONCILE_EVENT = 'dev.tenantlifecycle.pg.reconcile.requested';
export const APISERVER_EVENTS = [
  'dev.knative.apiserver.resource.add',
  'dev.knative.apiserver.resource.update',
  'dev.knative.apiserver.resource.delete',
  'dev.knative.apiserver.ref.add',
  'dev.knative.apiserver.ref.update',
  'dev.knative.apiserver.ref.delete',
] as const;

export const reconcileRequest = z
  .object({
    dryRun: z.boolean().default(false),
    /** Drop beyond the safety bound. */
    force: z.boolean().default(false),
  })
  .strict();

/**
 * What an ApiServerSource sends: the object itself (Resource mode: kind + metadata) or a reference
 * (Reference mode: kind, namespace, name). Only these fields are read; a Secret's data is never looked at.
 */
export const apiserverEvent = z.looseObject({
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  metadata: z.looseObject({ namespace: z.string().optional(), name: z.string().optional() }).optional(),
});

export interface PgReconcileDependencies {
  readonly reconcile: ReconcileDependencies;
  readonly store: Pick<PlatformStore, 'recordAudit'>;
  readonly metrics: ReconcileMetrics;
  /** Every run is a dry run. */
  readonly dryRun?: boolean;
}

/** Whether an apiserver event concerns the desired state: the ConfigMap, or a Secret of its namespace. */
export function concernsDesiredState(
  data: z.infer<typeof apiserverEvent>,
  where: { namespace: string; configMap: string },
): boolean {
  const namespace = data.metadata?.namespace ?? data.namespace;
  const name = data.metadata?.name ?? data.name;
  if (namespace !== where.namespace) return false;
  return (data.kind === 'ConfigMap' && name === where.configMap) || data.kind === 'Secret';
}

export function pgReconcileSpec(deps: PgReconcileDependencies): FunctionSpec {
  const { settings } = deps.reconcile;
  const [namespace = '', configMap = ''] = settings.source.split('/');

  /** One run, counted in the metrics (a run that threw too). */
  const measuredRun = async (run: () => Promise<ReconcileReport>): Promise<ReconcileReport> => {
    try {
      const report = await run();
      deps.metrics.observe(report);
      return report;
    } catch (error) {
      deps.metrics.failed();
      throw error;
    }
  };
  const auditedReconcile = async (
    request: { dryRun: boolean; force: boolean },
    ctx: InvocationContext,
    run: () => Promise<ReconcileReport>,
  ): Promise<ReconcileReport> => {
    const report = await runAudited(
      deps.store,
      ctx,
      {
        operation: 'pg-reconcile',
        target: settings.scope,
        dryRun: request.dryRun,
        failureDetails: { dryRun: request.dryRun },
        record: (r) => ({
          partial: r.summary.errors > 0,
          details: {
            summary: r.summary,
            skipped: r.plan.skipped.slice(0, 100),
            failures: r.failures.slice(0, 100),
            ...(r.plan.refused_drops === undefined ? {} : { refusedDrops: r.plan.refused_drops }),
            dropped: r.plan.steps.flatMap((s) => (s.op === 'drop-user' ? [s.user] : [])).slice(0, 100),
          },
        }),
      },
      () => measuredRun(run),
    );
    ctx.log.info({ summary: report.summary, dryRun: report.dryRun }, report.message);
    return report;
  };

  // Ordinary runs (not dry, not forced) coalesce within the instance; the lock serialises instances.
  const plainRun = coalescing(() => reconcile({ dryRun: false, force: false }, deps.reconcile));
  const runFor = (request: { dryRun: boolean; force: boolean }, ctx: InvocationContext) => {
    const effective = { dryRun: request.dryRun || deps.dryRun === true, force: request.force };
    return auditedReconcile(effective, ctx, () =>
      effective.dryRun || effective.force ? reconcile(effective, deps.reconcile, ctx.signal) : plainRun(),
    );
  };

  return {
    name: 'pg-reconcile',
    operations: [
      operation({
        name: 'reconcile',
        input: reconcileRequest,
        http: [
          { method: 'POST', path: '/' },
          { method: 'POST', path: '/reconcile' },
        ],
        events: [RECONCILE_EVENT],
        ping: true,
        run: (input, ctx) => runFor(input, ctx),
      }),
      operation({
        name: 'apiserver-event',
        input: apiserverEvent,
        events: APISERVER_EVENTS,
        run: async (input, ctx) => {
          if (!concernsDesiredState(input, { namespace, configMap })) {
            return {
              ignored: true,
              reason: `not the ConfigMap ${settings.source} nor a Secret of ${namespace}`,
            };
          }
          return runFor({ dryRun: false, force: false }, ctx);
        },
      }),
    ],
  };
}

export function pgReconcileSetup(config: PgReconcileConfig, log: Logger): FunctionSetup {
  const systems = connectPgReconcileSystems(config, log);
  const { store, target, source } = systems;
  const metrics = new ReconcileMetrics();
  return {
    spec: pgReconcileSpec({
      reconcile: {
        source,
        pool: target,
        settings: {
          source: `${config.namespace}/${config.configMap}`,
          scope: config.scope,
          defaultDatabase: config.defaultDatabase,
          ...(config.fallbackRole === undefined ? {} : { fallbackRole: config.fallbackRole }),
          maxDropShare: config.maxDropShare,
          scramIterations: config.scramIterations,
          batchSize: config.batchSize,
          retries: config.retries,
          retryMinDelayMs: config.retryMinDelayMs,
          databaseUrl: config.targetDatabaseUrl,
        },
      },
      store,
      metrics,
      dryRun: config.dryRun,
    }),
    ready: async () => {
      await store.ensureSchema();
      await target.query('SELECT 1');
    },
    close: () => systems.close(),
    registerMetrics: (registry) => {
      metrics.register(registry);
    },
  };
}
