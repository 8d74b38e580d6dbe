/**
 * The one way an operation that may change something is run and audited: `runAudited` runs the work
 * (under a store lock when asked) and writes one audit record of its outcome: `success`, `partial` (the
 * work answered but part of it failed), `failure` (the work threw: the record carries the problem's
 * reason and message, never the raw error) or `dry_run`.
 *
 * The rule it enforces: an operation that changed anything has its audit record, or it fails. When the
 * record of a run that may have changed something (success or partial) cannot be written, the caller gets
 * a retryable 503 saying that the change was made but its audit record is missing, never a silent success.
 * Records that do not guard a change are written on a best-effort basis (a failed write is logged at error
 * level): a dry run changed nothing, and a run that threw already answers with its own error, which stays
 * the answer because it says what went wrong with the change.
 *
 * Domain code says what to record through `record`; details must carry no secret (`recordAudit` also
 * redacts secret-looking keys).
 */
import { PlatformError, toPlatformError } from '../platform/errors.ts';
import type { InvocationContext } from '../platform/operation.ts';
import type { AuditOutcome } from './audit.ts';
import type { HeldLock, LockWait, PlatformStore } from './store.ts';

/** What the audit record says about a run that answered. */
export type AuditFacts =
  | {
      readonly details: Readonly<Record<string, unknown>>;
      /** Part of the work failed (some namespaces, steps or statements): the record is `partial`. */
      readonly partial?: boolean;
    }
  /** The run changed nothing and the operation records no-ops by writing no record. */
  | 'nothing-changed';

export interface AuditedRun<T> {
  readonly operation: string;
  readonly target: string;
  /** A dry run: its record is `dry_run`, written on a best-effort basis (nothing was changed). */
  readonly dryRun?: boolean;
  /** What to record about the run's result. */
  readonly record: (result: T) => AuditFacts;
  /** Facts added to the record of a run that threw (never secret). */
  readonly failureDetails?: Readonly<Record<string, unknown>>;
  /** With `lock`: how long to wait for it (default: the store's lock wait). */
  readonly lockWait?: LockWait;
}

export type AuditStore = Pick<PlatformStore, 'recordAudit'>;
export type AuditContext = Pick<InvocationContext, 'actor' | 'requestId' | 'log'>;

/** The answer when a change was made and its audit record could not be written. */
export function auditRecordMissing(operation: string, target: string, cause: unknown): PlatformError {
  return new PlatformError({
    reason: 'unavailable',
    message: `${operation} of ${target}: the change was made but its audit record could not be written`,
    upstream: 'postgres',
    extensions: { auditRecord: 'missing' },
    cause,
  });
}

/**
 * Runs `work` and writes its audit record. With `lock`, the run and its record happen while holding the
 * store's lock of that name (`store.withLock`), so that the next operation on the same target starts only
 * once this one is recorded; `work` gets the held lock, whose `lost` signal it may watch to stop at its
 * next safe point when the lease is lost.
 */
export function runAudited<T>(
  store: AuditStore,
  ctx: AuditContext,
  run: AuditedRun<T> & { readonly lock?: undefined },
  work: () => Promise<T>,
): Promise<T>;
export function runAudited<T>(
  store: AuditStore & Pick<PlatformStore, 'withLock'>,
  ctx: AuditContext,
  run: AuditedRun<T> & { readonly lock: string | undefined },
  work: (lock?: HeldLock) => Promise<T>,
): Promise<T>;
export async function runAudited<T>(
  store: AuditStore & Partial<Pick<PlatformStore, 'withLock'>>,
  ctx: AuditContext,
  run: AuditedRun<T> & { readonly lock?: string | undefined },
  work: (lock?: HeldLock) => Promise<T>,
): Promise<T> {
  if (run.lock === undefined) return runThenRecord(store, ctx, run, () => work());
  if (store.withLock === undefined)
    throw new PlatformError({ reason: 'internal', message: `no lock available for ${run.operation}` });
  return store.withLock(run.lock, (lock) => runThenRecord(store, ctx, run, () => work(lock)), run.lockWait);
}

async function runThenRecord<T>(
  store: AuditStore,
  ctx: AuditContext,
  run: AuditedRun<T>,
  work: () => Promise<T>,
): Promise<T> {
  const write = (outcome: AuditOutcome, details: Readonly<Record<string, unknown>>) =>
    store.recordAudit({
      actor: ctx.actor,
      requestId: ctx.requestId,
      operation: run.operation,
      target: run.target,
      outcome,
      details,
    });
  const logUnwritten = (outcome: AuditOutcome, error: unknown) => {
    ctx.log.error(
      { err: error, operation: run.operation, target: run.target, outcome },
      'audit record could not be written',
    );
  };

  let result: T;
  try {
    result = await work();
  } catch (error) {
    const failure = toPlatformError(error);
    await write('failure', {
      ...(failure.extensions ?? {}),
      ...(run.failureDetails ?? {}),
      ...(run.dryRun === true ? { dryRun: true } : {}),
      reason: failure.reason,
      error: failure.message,
    }).catch((writeError: unknown) => {
      logUnwritten('failure', writeError);
    });
    throw error;
  }

  const facts = run.record(result);
  if (facts === 'nothing-changed') return result;
  if (run.dryRun === true) {
    await write('dry_run', facts.details).catch((writeError: unknown) => {
      logUnwritten('dry_run', writeError);
    });
    return result;
  }
  const outcome = facts.partial === true ? 'partial' : 'success';
  try {
    await write(outcome, facts.details);
  } catch (writeError) {
    logUnwritten(outcome, writeError);
    throw auditRecordMissing(run.operation, run.target, writeError);
  }
  return result;
}
