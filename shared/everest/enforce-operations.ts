/**
 * enforce's operations: the admission check of a new database cluster against the namespace's limits and
 * live clusters, the in-apiserver enforcement applied, the usage counters kept for compatibility
 * (docs/compatibility.md), and a namespace's usage report. Every operation refuses a reserved namespace
 * (400) before anything is read or written.
 */
import { PlatformError } from '../platform/errors.ts';
import { assertNotReserved } from '../platform/reserved-names.ts';
import { runAudited, type AuditContext } from '../store/audited-run.ts';
import {
  clusterCreateRefusal,
  dbUserCreateRefusal,
  type ClusterCreateRequest,
} from './cluster-create-check.ts';
import { clusterUsage } from './cluster-usage.ts';
import type { EnforcementReport } from './enforcement.ts';
import type { EnforcePorts } from './ports.ts';
import type { UsageCounters } from './usage-counters.ts';
import { usageReport, type UsageReport } from './usage-report.ts';

function refuseReserved(ports: Pick<EnforcePorts, 'reserved'>, namespace: string): void {
  assertNotReserved(namespace, ports.reserved, 'tenant namespace', 'namespace');
}

/** 200 `{status: ok}` when the cluster fits the namespace's limits, else 403 with the reason as detail. */
export async function checkClusterCreate(
  ports: Pick<EnforcePorts, 'reserved' | 'limits' | 'clusters'>,
  input: ClusterCreateRequest & { readonly namespace: string },
  ctx: AuditContext,
): Promise<{ status: 'ok' }> {
  refuseReserved(ports, input.namespace);
  const [limits, clusters] = await Promise.all([
    ports.limits.read(input.namespace),
    ports.clusters.list(input.namespace),
  ]);
  const refusal = clusterCreateRefusal(limits, clusterUsage(clusters), input);
  if (refusal !== undefined) {
    ctx.log.info({ namespace: input.namespace, refusal }, 'cluster creation refused');
    throw new PlatformError({ reason: 'forbidden', message: refusal });
  }
  return { status: 'ok' };
}

/** The admission policy, its binding and the quotas of one namespace (or all), audited. */
export async function applyAdmission(
  ports: Pick<EnforcePorts, 'reserved' | 'admission' | 'store'>,
  input: { readonly namespace?: string | undefined; readonly dryRun: boolean },
  ctx: AuditContext,
): Promise<EnforcementReport> {
  if (input.namespace !== undefined) refuseReserved(ports, input.namespace);
  return runAudited(
    ports.store,
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
    () => ports.admission.apply(input),
  );
}

/** POST /usage/register-cluster: ±1 cluster and its resources in the counters. */
export async function registerCluster(
  ports: Pick<EnforcePorts, 'reserved' | 'counters' | 'store'>,
  input: {
    readonly namespace: string;
    readonly op: 'create' | 'delete';
    readonly cpu_cores: number;
    readonly memory_bytes: number;
  },
  ctx: AuditContext,
): Promise<{ status: 'ok'; usage: UsageCounters }> {
  refuseReserved(ports, input.namespace);
  const usage = await runAudited(
    ports.store,
    ctx,
    {
      operation: 'usage-register-cluster',
      target: input.namespace,
      record: (counted) => ({ details: { op: input.op, usage: counted } }),
    },
    () => ports.counters.registerCluster(input.namespace, input.op, input.cpu_cores, input.memory_bytes),
  );
  return { status: 'ok', usage };
}

/** POST /usage/register-db-user: ±1 database user; a create beyond maxDbUsers is refused (403). */
export async function registerDbUser(
  ports: Pick<EnforcePorts, 'reserved' | 'limits' | 'counters' | 'store'>,
  input: { readonly namespace: string; readonly op: 'create' | 'delete' },
  ctx: AuditContext,
): Promise<{ status: 'ok'; usage: UsageCounters }> {
  refuseReserved(ports, input.namespace);
  const limits = input.op === 'create' ? await ports.limits.read(input.namespace) : undefined;
  const usage = await runAudited(
    ports.store,
    ctx,
    {
      operation: 'usage-register-db-user',
      target: input.namespace,
      record: (counted) => ({ details: { op: input.op, usage: counted } }),
    },
    () =>
      ports.counters.registerDbUser(input.namespace, input.op, (count) => dbUserCreateRefusal(limits, count)),
  );
  return { status: 'ok', usage };
}

/** GET /usage/{namespace}: pods, database clusters, storage and quotas of the namespace. */
export async function namespaceUsage(
  ports: Pick<EnforcePorts, 'reserved' | 'clusters' | 'usage'>,
  namespace: string,
): Promise<UsageReport> {
  refuseReserved(ports, namespace);
  const [pods, databaseClusters, pvcs, quotas] = await Promise.all([
    ports.usage.pods(namespace),
    ports.clusters.list(namespace),
    ports.usage.persistentVolumeClaims(namespace),
    ports.usage.resourceQuotas(namespace),
  ]);
  return usageReport(namespace, { pods, databaseClusters, pvcs, quotas });
}
