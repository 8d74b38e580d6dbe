import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TenantRunMetrics } from '../../../shared/tenancy/run-metrics.ts';

describe('TenantRunMetrics', () => {
  it('counts items per outcome and moves the last success only for runs without failures', async () => {
    const registry = new Registry();
    const metrics = new TenantRunMetrics();
    metrics.register(registry);
    metrics.run('reset', { reset: 10, failed: 0 }, 1_000_000);
    metrics.run('reset', { reset: 3, failed: 1 }, 2_000_000);
    metrics.syncOrphans(2, 1);
    const text = await registry.metrics();
    expect(text).toContain('tenant_lifecycle_items_total{operation="reset",outcome="reset"} 13');
    expect(text).toContain('tenant_lifecycle_items_total{operation="reset",outcome="failed"} 1');
    expect(text).toContain('tenant_lifecycle_last_success_timestamp_seconds{operation="reset"} 1000');
    expect(text).toContain('tenant_lifecycle_orphans{kind="namespace"} 2');
  });
});
