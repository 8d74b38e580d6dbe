/**
 * enforce: Everest limits (seed 001) checked and enforced.
 * - POST /enforce/cluster-create: the predecessor's check, against the namespace's TenantResourcePolicy and
 *   its live DatabaseClusters -> 200 {status: ok} or 403 with the predecessor's reason as `detail`.
 * - POST /enforce/apply {namespace?, dryRun?}, the CloudEvent dev.tenantlifecycle.everest.limits.changed, or
 *   the PingSource: the admission policy, its binding and each namespace's cluster-count quota applied
 *   (shared/everest/admission.ts), so the apiserver itself refuses what is beyond the limits.
 * - POST /usage/register-cluster, /usage/register-db-user: the predecessor's counters, kept for its callers.
 * - GET /usage/:namespace: the namespace's usage report (pods, database clusters, storage, quotas).
 * Path: trigger -> host -> operation -> shared/everest/* -> RawKubernetes / UsageCounterStore.
 */
import { z } from 'zod';
import { loadKubeConfig } from '../../shared/adapters/kubernetes/kubeconfig.ts';
import { RawKubernetes } from '../../shared/adapters/kubernetes/raw.ts';
import { createPool, poolSizeFor, poolTimeouts } from '../../shared/adapters/postgres/pool.ts';
import { clusterCreateRefusal, dbUserCreateRefusal } from '../../shared/everest/cluster-create-check.ts';
import { clusterUsage } from '../../shared/everest/cluster-usage.ts';
import {
  applyEnforcement,
  liveClusters,
  readLimits,
  type EverestApi,
} from '../../shared/everest/enforcement.ts';
import { MAX_CPU_CORES, MAX_MEMORY_BYTES } from '../../shared/everest/input-bounds.ts';
import { ENGINES, LIMITS_CHANGED_EVENT } from '../../shared/everest/tenant-resource-policy.ts';
import { UsageCounterStore } from '../../shared/everest/usage-counters.ts';
import {
  usageReport,
  type PodLike,
  type PvcLike,
  type QuotaLike,
} from '../../shared/everest/usage-report.ts';
import { PlatformError } from '../../shared/platform/errors.ts';
import {
  assertNotReserved,
  builtinReservedNames,
  type ReservedNames,
} from '../../shared/platform/reserved-names.ts';
import type { Logger } from '../../shared/platform/logger.ts';
import { operation, type FunctionSpec } from '../../shared/platform/operation.ts';
import type { FunctionSetup } from '../../shared/platform/server.ts';
import { runAudited } from '../../shared/store/audited-run.ts';
import { PlatformStore } from '../../shared/store/store.ts';
import type { EnforceConfig } from './config.ts';

const namespace = z.string().regex(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, 'an RFC 1035 label');
const cores = z.number().min(0).max(MAX_CPU_CORES);
const bytes = z.number().int().min(0).max(MAX_MEMORY_BYTES);

export const clusterCreateRequest = z
  .object({
    namespace,
    engine: z.enum(ENGINES),
    cpu_request_cores: cores,
    memory_request_bytes: bytes,
  })
  .strict();
export const applyRequest = z
  .object({ namespace: namespace.optional(), dryRun: z.boolean().default(false) })
  .strict();
export const registerClusterRequest = z
  .object({ namespace, op: z.enum(['create', 'delete']), cpu_cores: cores, memory_bytes: bytes })
  .strict();
export const registerDbUserRequest = z.object({ namespace, op: z.enum(['create', 'delete']) }).strict();
export const usageRequest = z.object({ namespace }).strict();

export interface EnforceDependencies {
  readonly api: EverestApi;
  readonly counters: Pick<UsageCounterStore, 'registerCluster' | 'registerDbUser'>;
  readonly store: Pick<PlatformStore, 'recordAudit'>;
  /** Namespaces never taken as a target (the configuration's reserved names); default: the built-in list. */
  readonly reserved?: ReservedNames;
}

const forbidden = (reason: string) => new PlatformError({ reason: 'forbidden', message: reason });

/** The objects of a core resource type in `namespace`. */
async function list<T>(api: EverestApi, namespace: string, resource: string, action: string): Promise<T[]> {
  return (await api.list<T>({ group: '', version: 'v1', resource, namespace }, action)).items;
}

export function enforceSpec(deps: EnforceDependencies): FunctionSpec {
  const { api } = deps;
  const reserved = deps.reserved ?? builtinReservedNames;
  /** 400 for a reserved namespace, before anything is read or written. */
  const target = (namespace: string) => {
    assertNotReserved(namespace, reserved, 'tenant namespace', 'namespace');
    return namespace;
  };
  return {
    name: 'enforce',
    operations: [
      operation({
        name: 'cluster-create',
        input: clusterCreateRequest,
        http: [{ method: 'POST', path: '/enforce/cluster-create' }],
        run: async (input, ctx) => {
          target(input.namespace);
          const [limits, clusters] = await Promise.all([
            readLimits(api, input.namespace),
            liveClusters(api, input.namespace),
          ]);
          const refusal = clusterCreateRefusal(limits, clusterUsage(clusters), input);
          if (refusal !== undefined) {
            ctx.log.info({ namespace: input.namespace, refusal }, 'cluster creation refused');
            throw forbidden(refusal);
          }
          return { status: 'ok' };
        },
      }),
      operation({
        name: 'apply',
        input: applyRequest,
        http: [{ method: 'POST', path: '/enforce/apply' }],
        events: [LIMITS_CHANGED_EVENT],
        ping: true,
        run: async (input, ctx) => {
          if (input.namespace !== undefined) target(input.namespace);
          return runAudited(
            deps.store,
            ctx,
            {
              operation: 'enforce-apply',
              target: input.namespace ?? '*',
              dryRun: input.dryRun,
              record: (report) => ({
                partial: report.failures.length > 0,
                details: { namespaces: report.namespaces, failures: report.failures },
              }),
            },
            () => applyEnforcement(api, input),
          );
        },
      }),
      operation({
        name: 'register-cluster',
        input: registerClusterRequest,
        http: [{ method: 'POST', path: '/usage/register-cluster' }],
        run: async (input, ctx) => {
          target(input.namespace);
          const usage = await runAudited(
            deps.store,
            ctx,
            {
              operation: 'usage-register-cluster',
              target: input.namespace,
              record: (counted) => ({ details: { op: input.op, usage: counted } }),
            },
            () =>
              deps.counters.registerCluster(input.namespace, input.op, input.cpu_cores, input.memory_bytes),
          );
          return { status: 'ok', usage };
        },
      }),
      operation({
        name: 'register-db-user',
        input: registerDbUserRequest,
        http: [{ method: 'POST', path: '/usage/register-db-user' }],
        run: async (input, ctx) => {
          target(input.namespace);
          const limits = input.op === 'create' ? await readLimits(api, input.namespace) : undefined;
          const usage = await runAudited(
            deps.store,
            ctx,
            {
              operation: 'usage-register-db-user',
              target: input.namespace,
              record: (counted) => ({ details: { op: input.op, usage: counted } }),
            },
            () =>
              deps.counters.registerDbUser(input.namespace, input.op, (count) =>
                dbUserCreateRefusal(limits, count),
              ),
          );
          return { status: 'ok', usage };
        },
      }),
      operation({
        name: 'usage',
        input: usageRequest,
        http: [{ method: 'GET', path: '/usage/:namespace' }],
        run: async (input) => {
          target(input.namespace);
          const ns = input.namespace;
          const [pods, databaseClusters, pvcs, quotas] = await Promise.all([
            list<PodLike>(api, ns, 'pods', `list pods in ${ns}`),
            liveClusters(api, ns),
            list<PvcLike>(api, ns, 'persistentvolumeclaims', `list PVCs in ${ns}`),
            list<QuotaLike>(api, ns, 'resourcequotas', `list quotas in ${ns}`),
          ]);
          return usageReport(input.namespace, { pods, databaseClusters, pvcs, quotas });
        },
      }),
    ],
  };
}

export function enforceSetup(config: EnforceConfig, log: Logger): FunctionSetup {
  const pool = createPool({
    connectionString: config.databaseUrl,
    max: poolSizeFor(config.maxConcurrentOperations),
    log,
    applicationName: 'enforce',
    ...poolTimeouts(config.callTimeouts),
  });
  const store = new PlatformStore(pool);
  const counters = new UsageCounterStore(store);
  const api = new RawKubernetes(loadKubeConfig(config.kubeconfig), {
    timeoutMs: config.callTimeouts.kubernetesMs,
  });
  return {
    spec: enforceSpec({ api, counters, store, reserved: config.reserved }),
    ready: () => store.ensureSchema(),
    close: () => pool.end(),
  };
}
