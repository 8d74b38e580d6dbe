/**
 * A change to an Everest tenant's objects, run under the target's lock with its audit record. The lock is
 * `tenant:<target>`, the same name space as provision's, so that two changes of one target never overlap
 * across instances.
 */
import { runAudited, type AuditContext } from '../store/audited-run.ts';
import type { EverestStore } from './ports.ts';

export function auditedChange<T>(
  store: Pick<EverestStore, 'recordAudit' | 'withLock'>,
  ctx: AuditContext,
  change: {
    readonly operation: string;
    readonly target: string;
    /** The facts of the record (never a secret). */
    readonly details: (result: T) => Readonly<Record<string, unknown>>;
  },
  work: () => Promise<T>,
): Promise<T> {
  return runAudited(
    store,
    ctx,
    {
      operation: change.operation,
      target: change.target,
      lock: `tenant:${change.target}`,
      record: (result: T) => ({ details: change.details(result) }),
    },
    work,
  );
}

/** The audit target of an Everest database namespace. */
export const namespaceTarget = (namespace: string): string => `everest/${namespace}`;
/** The audit target of an Everest account. */
export const accountTarget = (username: string): string => `user:${username}`;
