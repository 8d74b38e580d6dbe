/**
 * runAudited against an in-memory store (the two store methods it uses: recordAudit and withLock), whose
 * audit writes can be made to fail: every outcome's record, and what the caller gets when a record is lost.
 */
import { describe, expect, it } from 'vitest';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { createLogger } from '../../../shared/platform/logger.ts';
import type { AuditEntry } from '../../../shared/store/audit.ts';
import { runAudited, type AuditContext } from '../../../shared/store/audited-run.ts';

class MemoryStore {
  readonly records: AuditEntry[] = [];
  readonly events: string[] = [];
  /** While set, every audit write fails like a database that refuses the insert. */
  refuseWrites = false;

  recordAudit(entry: AuditEntry): Promise<string> {
    if (this.refuseWrites) return Promise.reject(new Error('permission denied for table audit_log'));
    this.records.push(entry);
    this.events.push(`record ${entry.outcome}`);
    return Promise.resolve(String(this.records.length));
  }

  async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.events.push(`lock ${name}`);
    try {
      return await fn();
    } finally {
      this.events.push(`unlock ${name}`);
    }
  }
}

function context(): AuditContext & { readonly lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    functionName: 'audited-run-test',
    level: 'info',
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { actor: 'token#1', requestId: 'req-1', log, lines };
}

const changed = (n: number) => () => Promise.resolve({ changed: n, failed: 0 });
const facts = (r: { changed: number; failed: number }) => ({
  partial: r.failed > 0,
  details: { changed: r.changed, failed: r.failed },
});

describe('runAudited', () => {
  it('records a success with who, what, the request id and the details, under the lock when asked', async () => {
    const store = new MemoryStore();
    const ctx = context();
    const result = await runAudited(
      store,
      ctx,
      { operation: 'provision', target: 'alice', lock: 'tenant:alice', record: facts },
      changed(3),
    );
    expect(result).toEqual({ changed: 3, failed: 0 });
    expect(store.records).toEqual([
      {
        actor: 'token#1',
        requestId: 'req-1',
        operation: 'provision',
        target: 'alice',
        outcome: 'success',
        details: { changed: 3, failed: 0 },
      },
    ]);
    // The record is written before the lock is released: the next run on the tenant sees it.
    expect(store.events).toEqual(['lock tenant:alice', 'record success', 'unlock tenant:alice']);
  });

  it('records a run whose result says part of it failed as partial, and answers its result', async () => {
    const store = new MemoryStore();
    const result = await runAudited(
      store,
      context(),
      { operation: 'reset', target: '*', record: facts },
      () => Promise.resolve({ changed: 2, failed: 1 }),
    );
    expect(result).toEqual({ changed: 2, failed: 1 });
    expect(store.records.map((r) => [r.outcome, r.details])).toEqual([
      ['partial', { changed: 2, failed: 1 }],
    ]);
  });

  it('records a run that threw with its problem reason and message, and rethrows the same error', async () => {
    const store = new MemoryStore();
    const refusal = new PlatformError({
      reason: 'upstream',
      message: 'grafana answered 500',
      extensions: { steps: [{ name: 'grafana', status: 'failed' }] },
    });
    await expect(
      runAudited(
        store,
        context(),
        { operation: 'provision', target: 'bob', failureDetails: { plan: 'small' }, record: facts },
        () => Promise.reject(refusal),
      ),
    ).rejects.toBe(refusal);
    // A library error (not a PlatformError) is recorded by its reason only: never its message or object.
    const libraryError = new Error('connect ECONNREFUSED 10.0.0.7:5432 password=hunter2');
    await expect(
      runAudited(store, context(), { operation: 'sync', target: '*', record: facts }, () =>
        Promise.reject(libraryError),
      ),
    ).rejects.toBe(libraryError);
    expect(store.records.map((r) => [r.operation, r.outcome, r.details])).toEqual([
      [
        'provision',
        'failure',
        {
          steps: [{ name: 'grafana', status: 'failed' }],
          plan: 'small',
          reason: 'upstream',
          error: 'grafana answered 500',
        },
      ],
      ['sync', 'failure', { reason: 'internal', error: 'internal error' }],
    ]);
    expect(JSON.stringify(store.records)).not.toContain('hunter2');
  });

  it('records a dry run as dry_run, and a run that changed nothing not at all', async () => {
    const store = new MemoryStore();
    await runAudited(
      store,
      context(),
      { operation: 'sync', target: '*', dryRun: true, record: facts },
      changed(0),
    );
    await runAudited(
      store,
      context(),
      {
        operation: 'rbac-append',
        target: 'everest-rbac',
        record: (r) => (r.changed > 0 ? { details: {} } : 'nothing-changed'),
      },
      changed(0),
    );
    await runAudited(
      store,
      context(),
      {
        operation: 'rbac-append',
        target: 'everest-rbac',
        record: (r) => (r.changed > 0 ? { details: { added: r.changed } } : 'nothing-changed'),
      },
      changed(1),
    );
    expect(store.records.map((r) => [r.operation, r.outcome, r.details])).toEqual([
      ['sync', 'dry_run', { changed: 0, failed: 0 }],
      ['rbac-append', 'success', { added: 1 }],
    ]);
  });

  it('answers a retryable 503 naming the missing record when a change cannot be recorded', async () => {
    const store = new MemoryStore();
    const ctx = context();
    // Positive control: the same run with a writable log succeeds and is recorded.
    await expect(
      runAudited(store, ctx, { operation: 'provision', target: 'carol', record: facts }, changed(1)),
    ).resolves.toEqual({ changed: 1, failed: 0 });
    expect(store.records).toHaveLength(1);

    store.refuseWrites = true;
    let workDone = 0;
    const outcome = runAudited(
      store,
      ctx,
      { operation: 'provision', target: 'dave', lock: 'tenant:dave', record: facts },
      () => {
        workDone += 1;
        return Promise.resolve({ changed: 1, failed: 0 });
      },
    );
    await expect(outcome).rejects.toMatchObject({
      name: 'PlatformError',
      reason: 'unavailable',
      status: 503,
      retryable: true,
      message: 'provision of dave: the change was made but its audit record could not be written',
      extensions: { auditRecord: 'missing' },
    });
    expect(workDone).toBe(1);
    // A partial run changed something too.
    await expect(
      runAudited(store, ctx, { operation: 'reset', target: '*', record: facts }, () =>
        Promise.resolve({ changed: 1, failed: 1 }),
      ),
    ).rejects.toMatchObject({ reason: 'unavailable', extensions: { auditRecord: 'missing' } });
    expect(store.events.slice(-2)).toEqual(['lock tenant:dave', 'unlock tenant:dave']);
    expect(
      ctx.lines.filter((l) => l.msg === 'audit record could not be written').map((l) => l.outcome),
    ).toEqual(['success', 'partial']);
  });

  it('keeps a thrown error and a dry run answer when only their record is lost, and logs the loss', async () => {
    const store = new MemoryStore();
    store.refuseWrites = true;
    const ctx = context();
    const refusal = new PlatformError({ reason: 'conflict', message: 'tenant erin already exists' });
    await expect(
      runAudited(store, ctx, { operation: 'provision', target: 'erin', record: facts }, () =>
        Promise.reject(refusal),
      ),
    ).rejects.toBe(refusal);
    await expect(
      runAudited(store, ctx, { operation: 'sync', target: '*', dryRun: true, record: facts }, changed(0)),
    ).resolves.toEqual({ changed: 0, failed: 0 });
    const lost = ctx.lines.filter((l) => l.msg === 'audit record could not be written');
    expect(lost.map((l) => [l.level, l.operation, l.outcome])).toEqual([
      ['error', 'provision', 'failure'],
      ['error', 'sync', 'dry_run'],
    ]);
  });
});
