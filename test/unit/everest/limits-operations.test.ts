/**
 * A namespace's limits through the API (shared/everest/limits-operations.ts) over fake ports: put (audited,
 * then enforce asked), get, the tenants list, and the refusals of a reserved or invalid namespace.
 */
import { describe, expect, it } from 'vitest';
import { getLimits, listTenants, putLimits } from '../../../shared/everest/limits-operations.ts';
import { LIMITS_CHANGED_EVENT, type LimitsRow } from '../../../shared/everest/tenant-resource-policy.ts';
import { platformErrorOf } from '../../support/platform-error.ts';
import { bootstrapFakes, context } from './fakes.ts';

const limits = (namespace: string): LimitsRow => ({
  namespace,
  max_clusters: 2,
  allowed_engines: ['postgresql'],
  cpu_limit_cores: 4,
  memory_limit_bytes: 2 ** 33,
  max_db_users: 5,
});

describe('limits put', () => {
  it('writes the policy under the namespace’s lock with its record, then asks enforce to apply it', async () => {
    const f = bootstrapFakes();
    const answer = await putLimits(f.ports, limits('ns-alice'), context());
    expect(answer).toEqual({ status: 'ok', enforcement: 'requested' });
    expect(f.journal).toEqual([
      'store.lock tenant:everest/ns-alice',
      'limits.write ns-alice',
      'store.recordAudit limits-put everest/ns-alice success',
      'store.unlock tenant:everest/ns-alice',
      `events.send ${LIMITS_CHANGED_EVENT}`,
    ]);
    expect(f.store.records[0]?.details).toEqual({ ...limits('ns-alice') });
    expect(await getLimits(f.ports, 'ns-alice')).toEqual(limits('ns-alice'));
  });

  it('answers "scheduled" without an event sink', async () => {
    const f = bootstrapFakes();
    const answer = await putLimits({ ...f.ports, limitsEvents: undefined }, limits('ns-alice'), context());
    expect(answer.enforcement).toBe('scheduled');
    expect(f.limits.specs.has('ns-alice')).toBe(true);
  });

  it('refuses a reserved or Everest namespace (400) before anything is written; another is written', async () => {
    const f = bootstrapFakes();
    for (const namespace of ['monitoring', 'everest-system', '9-starts-with-digit']) {
      const error = await platformErrorOf(putLimits(f.ports, limits(namespace), context()));
      expect(error.status).toBe(400);
    }
    expect(f.journal).toEqual([]);
    expect(f.events.sent).toEqual([]);

    await putLimits(f.ports, limits('ns-bob'), context());
    expect([...f.limits.specs.keys()]).toEqual(['ns-bob']);
  });
});

describe('limits get and tenants', () => {
  it('answers 404 for a namespace without limits, and lists tenants sorted with their counters', async () => {
    const f = bootstrapFakes();
    expect((await platformErrorOf(getLimits(f.ports, 'ns-none'))).status).toBe(404);
    await putLimits(f.ports, limits('ns-zed'), context());
    await putLimits(f.ports, limits('ns-alice'), context());
    await f.counters.registerCluster('ns-zed', 'create', 1, 1024);

    const tenants = await listTenants(f.ports);
    expect(tenants.map((t) => t.namespace)).toEqual(['ns-alice', 'ns-zed']);
    expect(tenants[0]?.usage).toEqual({ clusters_count: 0, cpu_used: 0, memory_used: 0, db_users_count: 0 });
    expect(tenants[1]?.usage).toEqual({
      clusters_count: 1,
      cpu_used: 1,
      memory_used: 1024,
      db_users_count: 0,
    });
  });
});
