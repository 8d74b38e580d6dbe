/**
 * One reconcile run: read the desired state (ConfigMap, then only the Secrets it names), parse it (an
 * unreadable or empty document stops the run before the database is touched), then the reconcile
 * transaction, retried with exponential backoff on transient failures (connection loss, 40001, 40P01,
 * apiserver 5xx). A statement the server refuses for another reason sends the run once more, item by item,
 * so the other items are still applied and the failing one is reported.
 */
import type pg from 'pg';
import { sqlState } from '../adapters/postgres/errors.ts';
import { withRetry } from '../platform/retry.ts';
import { PlatformError } from '../platform/errors.ts';
import { reconcileTransaction, type ApplyResult, type ApplySettings } from './apply.ts';
import { DesiredStateError, parseDesiredState, type DesiredState } from './desired.ts';
import { describePlan } from './describe.ts';
import type { Plan } from './plan.ts';
import type { DesiredSource } from './source.ts';

export interface ReconcileSettings extends ApplySettings {
  /** Where users without `database` get CONNECT (DB_NAME, or PG_URL's database). */
  readonly defaultDatabase: string;
  /** Retries after the first attempt, for transient failures. */
  readonly retries: number;
  readonly retryMinDelayMs?: number;
  /** Names the ConfigMap in messages: namespace/name. */
  readonly source: string;
}

export interface ReconcileRequest {
  readonly dryRun: boolean;
  readonly force: boolean;
}

export interface ReconcileReport {
  readonly message: string;
  readonly dryRun: boolean;
  readonly scope: string;
  readonly summary: Plan['summary'] & { readonly duration: string; readonly duration_ms: number };
  /** The plan as readable lines (describe.ts). */
  readonly lines: readonly string[];
  readonly plan: {
    readonly steps: Plan['steps'];
    readonly skipped: Plan['skipped'];
    readonly problems: Plan['problems'];
    readonly refused_drops?: Plan['refusedDrops'];
  };
  readonly failures: ApplyResult['failures'];
  readonly warnings: readonly string[];
  readonly managed: Plan['managed'];
  readonly catalog_queries: number;
  readonly statements: number;
  readonly wrote: boolean;
  /** How unchanged passwords are recognised: the stored verifier, or only the Secret's version. */
  readonly password_check: 'verifier' | 'secret-version';
}

export interface ReconcileDependencies {
  readonly source: DesiredSource;
  readonly pool: pg.Pool;
  readonly settings: ReconcileSettings;
}

function refusedSql(error: unknown): boolean {
  if (!(error instanceof PlatformError) || error.retryable) return false;
  const state = sqlState(error.cause);
  return state !== undefined && !state.startsWith('08') && !state.startsWith('28') && state !== '3D000';
}

/**
 * The last parse per source: users.yaml of 10,000 users takes the yaml package about 0.4 s to parse, and
 * a warm instance sees the same document again and again (comparing the text is a memcmp).
 */
const lastParse = new WeakMap<DesiredSource, { content: string; database: string; state: DesiredState }>();

/** The Secret names a desired state needs, kept with the (cached) state it was made from. */
const namesOf = new WeakMap<DesiredState, ReadonlySet<string>>();
function secretNames(desired: DesiredState): ReadonlySet<string> {
  let names = namesOf.get(desired);
  if (names === undefined) {
    names = new Set(desired.users.map((u) => u.secretName));
    namesOf.set(desired, names);
  }
  return names;
}

/** Reads and parses the desired state; a document that cannot be trusted is a 400 that changes nothing. */
export async function readDesiredState(
  deps: Pick<ReconcileDependencies, 'source' | 'settings'>,
  signal?: AbortSignal,
): Promise<DesiredState> {
  const { settings } = deps;
  const retry = {
    retries: settings.retries,
    minDelayMs: settings.retryMinDelayMs ?? 200,
    ...(signal ? { signal } : {}),
  };
  const yaml = await withRetry(() => deps.source.readUsersYaml(), retry);
  const cached = lastParse.get(deps.source);
  if (cached !== undefined && cached.content === yaml && cached.database === settings.defaultDatabase)
    return cached.state;
  try {
    const state = parseDesiredState(yaml, settings.defaultDatabase);
    if (yaml !== undefined)
      lastParse.set(deps.source, { content: yaml, database: settings.defaultDatabase, state });
    return state;
  } catch (error) {
    if (!(error instanceof DesiredStateError)) throw error;
    throw new PlatformError({
      reason: 'bad_request',
      message: `ConfigMap ${settings.source}: ${error.message}; the run was skipped and nothing was changed`,
      retryable: false,
    });
  }
}

export async function reconcile(
  request: ReconcileRequest,
  deps: ReconcileDependencies,
  signal?: AbortSignal,
): Promise<ReconcileReport> {
  const started = performance.now();
  const { settings } = deps;
  const retry = {
    retries: settings.retries,
    minDelayMs: settings.retryMinDelayMs ?? 200,
    ...(signal ? { signal } : {}),
  };
  const desired = await readDesiredState(deps, signal);
  const names = secretNames(desired);
  const secrets = await withRetry(() => deps.source.readSecrets(names), retry);
  const run = (careful: boolean) =>
    withRetry(
      () =>
        reconcileTransaction(
          deps.pool,
          { desired, secrets, dryRun: request.dryRun, force: request.force, careful },
          settings,
        ),
      retry,
    );
  let result: ApplyResult;
  try {
    result = await run(false);
  } catch (error) {
    if (!refusedSql(error)) throw error;
    result = await run(true);
  }
  const { plan } = result;
  const ms = Math.round(performance.now() - started);
  const errors = plan.summary.errors + result.failures.length;
  const changed = plan.summary.drift_detected + plan.summary.roles_created;
  const message = request.dryRun
    ? `dry run: ${changed} changes planned, nothing was changed`
    : changed === 0 && result.statements === 0
      ? 'No drift detected - system in desired state'
      : `reconciled: ${plan.summary.users_created} users created, ${plan.summary.users_updated} updated, ${plan.summary.users_deleted} dropped, ${plan.summary.roles_created} roles created`;
  return {
    message: errors > 0 ? `${message} (${errors} errors)` : message,
    dryRun: request.dryRun,
    scope: settings.scope,
    summary: { ...plan.summary, errors, duration: `${(ms / 1000).toFixed(2)}s`, duration_ms: ms },
    lines: describePlan(plan, request.dryRun),
    plan: {
      steps: plan.steps,
      skipped: plan.skipped,
      problems: plan.problems,
      ...(plan.refusedDrops === undefined ? {} : { refused_drops: plan.refusedDrops }),
    },
    failures: result.failures,
    warnings: [...desired.warnings, ...result.notices.map((n) => `PostgreSQL: ${n}`)],
    managed: plan.managed,
    catalog_queries: result.catalogQueries,
    statements: result.statements,
    wrote: result.wrote,
    password_check: result.actual.passwordsReadable ? 'verifier' : 'secret-version',
  };
}
