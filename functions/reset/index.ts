/**
 * reset: HTTP POST / (and the predecessor's /reset) with { username?, dryRun?, after? }, the CloudEvent
 * dev.tenantlifecycle.tenant.reset.requested, or the monthly PingSource. Path: trigger -> host ->
 * resetSweep (discovery once, namespaces in pages, bounded concurrency, deadline) -> resetNamespace
 * (one DELETE of a collection per resource type) -> starters applied again -> audit.
 */
import { z } from 'zod';
import { KubernetesCluster } from '../../shared/adapters/kubernetes/cluster.ts';
import { discoverResources } from '../../shared/adapters/kubernetes/discovery.ts';
import { loadKubeConfig } from '../../shared/adapters/kubernetes/kubeconfig.ts';
import { RawKubernetes } from '../../shared/adapters/kubernetes/raw.ts';
import { createPool } from '../../shared/adapters/postgres/pool.ts';
import type { Logger } from '../../shared/platform/logger.ts';
import { operation, type FunctionSpec } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { recordAuditSafely } from '../../shared/tenancy/audited.ts';
import { PlatformStore } from '../../shared/platform/store/store.ts';
import type { TenantPlan } from '../../shared/tenancy/baseline.ts';
import { resetSweep, type ResetSweepPorts } from '../../shared/tenancy/reset-sweep.ts';
import type { ResetConfig } from './config.ts';

export const RESET_EVENT = 'dev.tenantlifecycle.tenant.reset.requested';

export const resetRequest = z
  .object({
    username: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/)
      .optional(),
    dryRun: z.boolean().default(false),
    after: z.string().max(63).optional(),
  })
  .strict();

export interface ResetDependencies {
  readonly ports: ResetSweepPorts;
  readonly plans: ReadonlyMap<string, TenantPlan>;
  readonly concurrency: number;
  readonly store: Pick<PlatformStore, 'recordAudit'>;
}

export function resetSpec(deps: ResetDependencies): FunctionSpec {
  return {
    name: 'reset',
    operations: [
      operation({
        name: 'reset',
        input: resetRequest,
        http: [
          { method: 'POST', path: '/' },
          { method: 'POST', path: '/reset' },
        ],
        events: [RESET_EVENT],
        ping: true,
        run: async (input, ctx) => {
          const result = await resetSweep(input, deps.ports, {
            plans: deps.plans,
            deadline: ctx.deadline,
            concurrency: deps.concurrency,
          });
          await recordAuditSafely(deps.store, ctx, {
            operation: 'reset',
            target: input.username ?? '*',
            outcome: input.dryRun ? 'dry_run' : result.failed_resets.length > 0 ? 'partial' : 'success',
            details: {
              namespacesReset: result.namespaces_reset,
              failed: result.failed_resets,
              continue: result.continue,
            },
          });
          return result;
        },
      }),
    ],
  };
}

export function resetSetup(config: ResetConfig, log: Logger): FunctionSetup {
  const pool = createPool({ connectionString: config.databaseUrl, log, applicationName: 'reset' });
  const store = new PlatformStore(pool);
  const kc = loadKubeConfig(config.kubeconfig);
  const raw = new RawKubernetes(kc);
  const cluster = new KubernetesCluster(kc);
  return {
    spec: resetSpec({
      ports: {
        raw,
        discover: () => discoverResources(raw),
        namespacePages: (selector) => cluster.namespacePages(selector),
        create: (object) => cluster.create(object),
      },
      plans: config.plans,
      concurrency: config.concurrency,
      store,
    }),
    ready: () => store.ensureSchema(),
    close: () => pool.end(),
  };
}
