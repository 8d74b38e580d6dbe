/**
 * Applying a plan: one transaction on one connection, under a transaction-level advisory lock
 * (pg_advisory_xact_lock), so that concurrent instances never interleave: the second waits, then reads
 * the state the first committed and plans against it. The actual state is read and the plan made inside
 * the lock. Statements are sent in batches (one round trip per `batchSize` statements). A no-op run sends
 * BEGIN, the lock, the catalog queries, one check and COMMIT: no DDL, and the transaction gets no xid.
 *
 * A dropped user's objects in other databases are handed to the fallback role there first (REASSIGN OWNED,
 * DROP OWNED on a connection to that database; PostgreSQL cannot do this across databases in one
 * transaction), then the main transaction drops the role.
 *
 * If a batch fails for a reason that is not transient, the transaction is rolled back and run again with a
 * savepoint per user or role, so that one bad item (a name the server refuses) is reported and the others
 * are applied. Transient failures (lost connection, 40001, 40P01) are thrown for the caller's retry.
 */
import pg from 'pg';
import { postgresError, sqlState } from '../adapters/postgres/errors.ts';
import { readActualState, type ActualState, type Queryable } from './catalog.ts';
import type { DesiredState } from './desired.ts';
import { checkPasswords, resolvedUsers, triagePasswords, type PasswordTriage } from './passwords.ts';
import { planReconcile, unlistedManagedUsers, type Plan, type PlanOptions, type Step } from './plan.ts';
import { scramVerifier } from './scram.ts';
import type { UserSecret } from './source.ts';
import { ownedCleanupSql, planSql, stepSql, type RenderContext } from './sql.ts';

export const LOCK_KEY = 'tenant-lifecycle/pg-reconcile';

export interface ApplySettings extends Omit<PlanOptions, 'force'> {
  readonly scramIterations: number;
  /** Statements per round trip; default 1000. */
  readonly batchSize?: number;
  /** Connection string of another database of the same server (REASSIGN/DROP OWNED there). */
  readonly databaseUrl: (database: string) => string;
  /** Sees every SQL text sent, verifiers redacted (tests count statements with it). */
  readonly trace?: (sql: string) => void;
}

export interface ApplyResult {
  readonly plan: Plan;
  readonly actual: Pick<ActualState, 'currentUser' | 'currentDatabase' | 'passwordsReadable'>;
  readonly catalogQueries: number;
  /** Statements that changed something (0 for a no-op or a dry run). */
  readonly statements: number;
  /** Whether the transaction wrote anything (it got a transaction id). */
  readonly wrote: boolean;
  /** Items that failed in the careful (per item) mode. */
  readonly failures: readonly { readonly subject: string; readonly step: string; readonly message: string }[];
  /** What the server warned about while applying (a GRANT without effect, ...). */
  readonly notices: readonly string[];
}

const redact = (sql: string) => sql.replace(/'SCRAM-SHA-256\$[^']*'/g, "'SCRAM-SHA-256$<redacted>'");

function subjectOf(step: Step): string {
  return 'user' in step ? `user ${step.user}` : `role ${step.role}`;
}

/** The verifiers of the users whose password is set, computed on the thread pool (PBKDF2). */
async function materialize(
  steps: readonly Step[],
  desired: DesiredState,
  secrets: ReadonlyMap<string, UserSecret>,
  iterations: number,
): Promise<Map<string, string>> {
  const secretOf = new Map(desired.users.map((u) => [u.username, u.secretName]));
  const verifiers = new Map<string, string>();
  await Promise.all(
    steps.map(async (step) => {
      if (step.op !== 'create-user' && step.op !== 'set-password') return;
      const secret = secrets.get(secretOf.get(step.user) ?? '');
      if (secret === undefined) throw new Error(`Secret of ${step.user} vanished while planning`);
      verifiers.set(step.user, await scramVerifier(secret.password, iterations));
    }),
  );
  return verifiers;
}

async function cleanupOtherDatabases(plan: Plan, current: string, settings: ApplySettings): Promise<void> {
  for (const step of plan.steps) {
    if (step.op !== 'drop-user') continue;
    for (const database of step.databases) {
      if (database === current) continue;
      const client = new pg.Client({ connectionString: settings.databaseUrl(database) });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const sql = `BEGIN;\n${ownedCleanupSql(step.user, step.fallback).join(';\n')};\nCOMMIT`;
        settings.trace?.(sql);
        await client.query(sql);
      } catch (error) {
        throw postgresError(error, `hand over the objects of ${step.user} in database ${database}`);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }
}

/**
 * One reconcile transaction: lock, read, plan, (unless dry run) apply. `careful` applies item by item
 * with savepoints.
 */
export async function reconcileTransaction(
  pool: pg.Pool,
  input: {
    readonly desired: DesiredState;
    readonly secrets: ReadonlyMap<string, UserSecret>;
    readonly dryRun: boolean;
    readonly force: boolean;
    readonly careful?: boolean;
  },
  settings: ApplySettings,
): Promise<ApplyResult> {
  const client = await pool.connect().catch((error: unknown) => {
    throw postgresError(error, 'connect');
  });
  const connection = { broken: false };
  const onError = () => {
    connection.broken = true;
  };
  const notices: string[] = [];
  const onNotice = (notice: { severity?: string; message?: string }) => {
    // e.g. "no privileges were granted for ...": the reconciler's role lacks the grant option.
    if (notice.severity === 'WARNING' && notices.length < 100) notices.push(notice.message ?? '');
  };
  client.on('error', onError);
  client.on('notice', onNotice);
  const db: Queryable = {
    query: ((query: string | pg.QueryConfig, values?: unknown[]) => {
      settings.trace?.(redact(typeof query === 'string' ? query : query.text));
      return client.query(query, values);
    }) as Queryable['query'],
  };
  let action = 'begin';
  try {
    await db.query('BEGIN');
    action = 'take the reconcile lock';
    await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [LOCK_KEY]);
    action = 'read roles';
    // Each desired user's role and Secret are looked up once, here, for the password triage, the drops
    // and the plan (at 10,000 users the lookups are most of a no-op run's work).
    const { users } = input.desired;
    let triage: PasswordTriage | undefined;
    const actual = await readActualState(db, users, (roles, readable) => {
      triage = triagePasswords(users, input.secrets, roles, readable, settings.scope);
      return {
        drop: unlistedManagedUsers(input.desired, roles, settings.scope, triage.roles),
        verify: triage.verify.map((i) => users[i]?.username ?? ''),
      };
    });
    if (triage === undefined) throw new Error('the catalog was read without asking what it needs');
    action = 'check passwords';
    const checked = await checkPasswords(triage, actual.roles);
    const plan = planReconcile(
      { desired: input.desired, actual, resolved: resolvedUsers(checked) },
      { ...settings, force: input.force },
    );
    const result = {
      plan,
      actual: {
        currentUser: actual.currentUser,
        currentDatabase: actual.currentDatabase,
        passwordsReadable: actual.passwordsReadable,
      },
      catalogQueries: actual.queries,
    };
    if (input.dryRun || plan.steps.length === 0) {
      action = 'finish';
      const wrote = input.dryRun
        ? false
        : (await db.query<{ wrote: boolean }>('SELECT txid_current_if_assigned() IS NOT NULL AS wrote'))
            .rows[0]?.wrote === true;
      await db.query(input.dryRun ? 'ROLLBACK' : 'COMMIT');
      return { ...result, statements: 0, wrote, failures: [], notices };
    }

    action = 'compute password verifiers';
    const verifiers = await materialize(plan.steps, input.desired, input.secrets, settings.scramIterations);
    const ctx: RenderContext = {
      scope: settings.scope,
      passwordsReadable: actual.passwordsReadable,
      verifiers,
    };
    action = 'hand over objects in other databases';
    await cleanupOtherDatabases(plan, actual.currentDatabase, settings);

    const failures: { subject: string; step: string; message: string }[] = [];
    let statements = 0;
    if (input.careful === true) {
      // One savepoint per step: a refused statement fails its step only.
      for (const step of plan.steps) {
        const subject = subjectOf(step);
        const sql = stepSql(step, ctx);
        action = `apply ${step.op} of ${subject}`;
        await db.query('SAVEPOINT item');
        try {
          await db.query(sql.join(';\n'));
          await db.query('RELEASE SAVEPOINT item');
          statements += sql.length;
        } catch (error) {
          const state = sqlState(error);
          if (state === undefined || state.startsWith('08') || state === '40001' || state === '40P01')
            throw error;
          await db.query('ROLLBACK TO SAVEPOINT item');
          failures.push({ subject, step: step.op, message: `${state}: ${(error as Error).message}` });
        }
      }
    } else {
      const sql = planSql(plan.steps, ctx);
      const size = settings.batchSize ?? 1000;
      action = 'apply changes';
      for (let i = 0; i < sql.length; i += size) {
        await db.query(sql.slice(i, i + size).join(';\n'));
      }
      statements = sql.length;
    }
    action = 'commit';
    const wrote =
      (await db.query<{ wrote: boolean }>('SELECT txid_current_if_assigned() IS NOT NULL AS wrote')).rows[0]
        ?.wrote === true;
    await db.query('COMMIT');
    return { ...result, statements, wrote, failures, notices };
  } catch (error) {
    if (!connection.broken) {
      await client.query('ROLLBACK').catch(() => {
        connection.broken = true;
      });
    }
    throw postgresError(error, action);
  } finally {
    client.removeListener('error', onError);
    client.removeListener('notice', onNotice);
    client.release(connection.broken);
  }
}
