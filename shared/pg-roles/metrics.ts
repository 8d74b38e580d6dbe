/**
 * The postgres_controller_* metrics at /metrics, names and meaning kept for compatibility
 * (docs/compatibility.md):
 * reconciliations, drift, users and roles managed, errors, and the time of the last run and last error.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ReconcileReport } from './reconcile.ts';

export class ReconcileMetrics {
  private readonly reconciliations = new Counter({
    name: 'postgres_controller_reconciliations_total',
    help: 'Reconciliation runs, by outcome (success, partial, failure, dry_run).',
    labelNames: ['outcome'],
    registers: [],
  });
  private readonly lastRun = new Gauge({
    name: 'postgres_controller_last_reconciliation_timestamp',
    help: 'Time of the last finished reconciliation (epoch seconds).',
    registers: [],
  });
  private readonly drift = new Counter({
    name: 'postgres_controller_drift_total',
    help: 'Changes found between the ConfigMap and the database (users created, updated, dropped).',
    registers: [],
  });
  private readonly users = new Gauge({
    name: 'postgres_controller_users_managed',
    help: 'Users carrying this reconciler marker.',
    registers: [],
  });
  private readonly roles = new Gauge({
    name: 'postgres_controller_roles_managed',
    help: 'Group roles carrying this reconciler marker.',
    registers: [],
  });
  private readonly errors = new Counter({
    name: 'postgres_controller_errors_total',
    help: 'Errors: skipped users, refused drops, failed items, failed runs.',
    registers: [],
  });
  private readonly lastError = new Gauge({
    name: 'postgres_controller_last_error_timestamp',
    help: 'Time of the last error (epoch seconds).',
    registers: [],
  });

  register(registry: Registry): void {
    for (const m of [
      this.reconciliations,
      this.lastRun,
      this.drift,
      this.users,
      this.roles,
      this.errors,
      this.lastError,
    ])
      registry.registerMetric(m);
  }

  /** A finished run (dry runs count as runs but change no gauge of managed objects). */
  observe(report: ReconcileReport): void {
    const errors = report.summary.errors;
    this.reconciliations.inc({ outcome: report.dryRun ? 'dry_run' : errors > 0 ? 'partial' : 'success' });
    this.lastRun.setToCurrentTime();
    if (!report.dryRun) {
      this.drift.inc(report.summary.drift_detected);
      this.users.set(report.managed.users);
      this.roles.set(report.managed.roles);
    }
    if (errors > 0) {
      this.errors.inc(errors);
      this.lastError.setToCurrentTime();
    }
  }

  /** A run that stopped with an error (unreadable ConfigMap, database unreachable, ...). */
  failed(): void {
    this.reconciliations.inc({ outcome: 'failure' });
    this.errors.inc();
    this.lastError.setToCurrentTime();
  }
}
