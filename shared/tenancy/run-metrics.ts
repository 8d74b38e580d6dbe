/**
 * What the periodic tenant jobs did, for dashboards and alerts beyond request counts: items per outcome
 * (namespaces reset or failed, tenants repaired, orphans found, tenants deleted) and when a run last
 * finished without failures, so "sync has not succeeded for 3 hours" is one alert rule.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export type RunOperation = 'reset' | 'cleanup' | 'sync';

export class TenantRunMetrics {
  private readonly items = new Counter({
    name: 'tenant_lifecycle_items_total',
    help: 'Items handled by the periodic tenant jobs, by operation and outcome (e.g. reset/failed, sync/repaired, sync/baseline_repaired).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [],
  });
  private readonly lastSuccess = new Gauge({
    name: 'tenant_lifecycle_last_success_timestamp_seconds',
    help: 'When a run of the operation last finished with no failed item (Unix time).',
    labelNames: ['operation'] as const,
    registers: [],
  });
  private readonly orphans = new Gauge({
    name: 'tenant_lifecycle_orphans',
    help: 'Orphans the last sync found (namespaces or product-made Grafana users without a Keycloak tenant).',
    labelNames: ['kind'] as const,
    registers: [],
  });

  register(registry: Registry): void {
    registry.registerMetric(this.items);
    registry.registerMetric(this.lastSuccess);
    registry.registerMetric(this.orphans);
  }

  /** One finished run: counts per outcome; a run without failures moves the last-success time. */
  run(operation: RunOperation, counts: Readonly<Record<string, number>>, now = Date.now()): void {
    for (const [outcome, n] of Object.entries(counts)) if (n > 0) this.items.inc({ operation, outcome }, n);
    if ((counts.failed ?? 0) === 0) this.lastSuccess.set({ operation }, Math.floor(now / 1000));
  }

  syncOrphans(namespaces: number, grafanaUsers: number): void {
    this.orphans.set({ kind: 'namespace' }, namespaces);
    this.orphans.set({ kind: 'grafana_user' }, grafanaUsers);
  }
}
