/**
 * A namespace's Everest limits through the API: written (PUT /limits; then enforce is asked to apply them
 * at once), read (GET /limits/{namespace}), and every tenant's listed with the usage counters (GET
 * /tenants). The TenantResourcePolicy is the source of truth; the admission policy enforce applies reads
 * it.
 */
import { PlatformError } from '../platform/errors.ts';
import type { AuditContext } from '../store/audited-run.ts';
import { auditedChange, namespaceTarget } from './audited-change.ts';
import { checkNamespaceName } from './db-namespace-plan.ts';
import type { BootstrapPorts } from './ports.ts';
import { LIMITS_CHANGED_EVENT, limitsRowFromSpec, type LimitsRow } from './tenant-resource-policy.ts';
import type { UsageCounters } from './usage-counters.ts';

/**
 * Asks enforce to apply a namespace's new limits now ('requested'); without an event sink, or when the
 * event cannot be sent (logged), enforce's schedule applies them ('scheduled').
 */
export async function requestEnforcement(
  ports: Pick<BootstrapPorts, 'limitsEvents'>,
  namespace: string,
  ctx: AuditContext,
): Promise<'requested' | 'scheduled'> {
  if (ports.limitsEvents === undefined) return 'scheduled';
  try {
    await ports.limitsEvents.send(LIMITS_CHANGED_EVENT, { namespace }, namespace);
    return 'requested';
  } catch (error) {
    ctx.log.warn({ err: error, namespace }, 'limits-changed event not sent; enforce applies on schedule');
    return 'scheduled';
  }
}

/** PUT /limits: the namespace's name checked (Everest's rule, reserved names), the policy written. */
export async function putLimits(
  ports: Pick<BootstrapPorts, 'limits' | 'store' | 'reserved' | 'limitsEvents'>,
  limits: LimitsRow,
  ctx: AuditContext,
): Promise<{ status: 'ok'; enforcement: 'requested' | 'scheduled' }> {
  checkNamespaceName(limits.namespace, ports.reserved);
  await auditedChange(
    ports.store,
    ctx,
    { operation: 'limits-put', target: namespaceTarget(limits.namespace), details: () => ({ ...limits }) },
    () => ports.limits.write(limits),
  );
  return { status: 'ok', enforcement: await requestEnforcement(ports, limits.namespace, ctx) };
}

/** GET /limits/{namespace}: 404 when the namespace has no policy. */
export async function getLimits(
  ports: Pick<BootstrapPorts, 'limits'>,
  namespace: string,
): Promise<LimitsRow> {
  const spec = await ports.limits.read(namespace);
  if (spec === undefined) throw new PlatformError({ reason: 'not_found', message: 'not found' });
  return limitsRowFromSpec(namespace, spec);
}

const NO_USAGE: UsageCounters = { clusters_count: 0, cpu_used: 0, memory_used: 0, db_users_count: 0 };

/** GET /tenants: every namespace with limits, sorted, each with its usage counters (zero when none). */
export async function listTenants(
  ports: Pick<BootstrapPorts, 'limits' | 'counters'>,
): Promise<(LimitsRow & { usage: UsageCounters })[]> {
  const [policies, counters] = await Promise.all([ports.limits.all(), ports.counters.all()]);
  return policies
    .sort((a, b) => a.namespace.localeCompare(b.namespace))
    .map((p) => ({
      ...limitsRowFromSpec(p.namespace, p.spec),
      usage: counters.get(p.namespace) ?? NO_USAGE,
    }));
}
