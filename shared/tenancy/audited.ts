/**
 * Runs one mutating tenant operation under the tenant's advisory lock and writes its audit record, success
 * or failure. A failed audit write is logged, not fatal: the work is done and the answer must reach the
 * caller. Details must carry no secret (the audit log also redacts secret-looking keys).
 */
import { toPlatformError } from '../platform/errors.ts';
import type { InvocationContext } from '../platform/operation.ts';
import type { AuditOutcome } from '../platform/store/audit.ts';
import type { PlatformStore } from '../platform/store/store.ts';

export interface AuditedRun<T> {
  readonly store: Pick<PlatformStore, 'recordAudit' | 'withLock'>;
  readonly ctx: InvocationContext;
  readonly operation: string;
  readonly tenant: string;
  /** What to record about a success. */
  readonly details: (result: T) => Record<string, unknown>;
}

/** Writes one audit record for this invocation; a failed write is logged, never thrown. */
export async function recordAuditSafely(
  store: Pick<PlatformStore, 'recordAudit'>,
  ctx: InvocationContext,
  entry: { operation: string; target: string; outcome: AuditOutcome; details: Record<string, unknown> },
): Promise<void> {
  await store
    .recordAudit({ actor: ctx.actor, requestId: ctx.requestId, ...entry })
    .catch((error: unknown) => {
      ctx.log.error({ err: error }, 'audit record could not be written');
    });
}

export async function runAudited<T>(options: AuditedRun<T>, work: () => Promise<T>): Promise<T> {
  const { store, ctx } = options;
  const record = (outcome: 'success' | 'failure', details: Record<string, unknown>) =>
    recordAuditSafely(store, ctx, { operation: options.operation, target: options.tenant, outcome, details });
  // One operation per tenant at a time, across instances (provision and deprovision share the lock).
  return store.withLock(`tenant:${options.tenant}`, async () => {
    try {
      const result = await work();
      await record('success', options.details(result));
      return result;
    } catch (error) {
      const failure = toPlatformError(error);
      await record('failure', { error: failure.message, ...(failure.extensions ?? {}) });
      throw error;
    }
  });
}
