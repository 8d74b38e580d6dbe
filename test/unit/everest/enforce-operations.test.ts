/**
 * enforce's operations (shared/everest/enforce-operations.ts) over fake ports: the cluster-create check and
 * its refusals, the audited apply, the counters with the database-user limit, the usage report, and the
 * reserved namespaces refused before anything is read; each refusal beside the legitimate call.
 */
import { describe, expect, it } from 'vitest';
import {
  applyAdmission,
  checkClusterCreate,
  namespaceUsage,
  registerCluster,
  registerDbUser,
} from '../../../shared/everest/enforce-operations.ts';
import type { TenantLimitsSpec } from '../../../shared/everest/tenant-resource-policy.ts';
import { platformErrorOf } from '../../support/platform-error.ts';
import { context, enforceFakes } from './fakes.ts';

const spec: TenantLimitsSpec = {
  limits: { cpuCores: 4, memoryBytes: 2 ** 33, maxClusters: 2, maxDbUsers: 1 },
  selectors: { engines: ['postgresql'] },
};
const cluster = (cpu: string) => ({
  spec: { engine: { type: 'postgresql', replicas: 1, resources: { cpu, memory: '1Gi' } } },
});
const check = { engine: 'postgresql' as const, cpu_request_cores: 1, memory_request_bytes: 2 ** 30 };

describe('cluster-create', () => {
  it('allows a cluster that fits and refuses (403, logged) one beyond the limits or without limits', async () => {
    const f = enforceFakes();
    f.limits.specs.set('ns-alice', spec);
    f.clusters.clusters.set('ns-alice', [cluster('2')]);
    const ctx = context();

    expect(await checkClusterCreate(f.ports, { ...check, namespace: 'ns-alice' }, ctx)).toEqual({
      status: 'ok',
    });
    for (const [input, reason] of [
      [{ ...check, namespace: 'ns-alice', cpu_request_cores: 3 }, 'cpu limit exceeded'],
      [{ ...check, namespace: 'ns-alice', engine: 'mongodb' as const }, "engine 'mongodb' not allowed"],
      [{ ...check, namespace: 'ns-nolimits' }, 'no limits configured for namespace'],
    ] as const) {
      const error = await platformErrorOf(checkClusterCreate(f.ports, input, ctx));
      expect(error.status).toBe(403);
      expect(error.message).toBe(reason);
    }
    f.clusters.clusters.set('ns-alice', [cluster('1'), cluster('1')]);
    expect(
      (await platformErrorOf(checkClusterCreate(f.ports, { ...check, namespace: 'ns-alice' }, ctx))).message,
    ).toBe('max clusters exceeded');
    expect(ctx.lines.filter((l) => l.msg === 'cluster creation refused')).toHaveLength(4);
  });

  it('refuses a reserved namespace (400) before reading anything', async () => {
    const f = enforceFakes();
    f.limits.specs.set('ns-alice', spec);
    const error = await platformErrorOf(
      checkClusterCreate(f.ports, { ...check, namespace: 'monitoring' }, context()),
    );
    expect(error.status).toBe(400);
    expect(f.journal).toEqual([]);
    expect(await checkClusterCreate(f.ports, { ...check, namespace: 'ns-alice' }, context())).toEqual({
      status: 'ok',
    });
  });
});

describe('apply', () => {
  it('applies the enforcement of one namespace or all, with its audit record; a reserved one is 400', async () => {
    const f = enforceFakes();
    f.limits.specs.set('ns-alice', spec);
    f.limits.specs.set('ns-bob', spec);

    const reserved = await platformErrorOf(
      applyAdmission(f.ports, { namespace: 'kube-system', dryRun: false }, context()),
    );
    expect(reserved.status).toBe(400);
    expect(f.admission.applied).toEqual([]);
    expect(f.store.records).toEqual([]);

    const one = await applyAdmission(f.ports, { namespace: 'ns-alice', dryRun: false }, context());
    expect(one.namespaces.map((n) => n.namespace)).toEqual(['ns-alice']);
    await applyAdmission(f.ports, { dryRun: false }, context());
    expect(f.admission.applied).toEqual(['ns-alice', 'ns-alice', 'ns-bob']);
    await applyAdmission(f.ports, { dryRun: true }, context());
    expect(f.admission.applied).toHaveLength(3);
    expect(f.store.records.map((r) => [r.operation, r.target, r.outcome])).toEqual([
      ['enforce-apply', 'ns-alice', 'success'],
      ['enforce-apply', '*', 'success'],
      ['enforce-apply', '*', 'dry_run'],
    ]);
  });
});

describe('usage counters', () => {
  it('registers clusters and database users; a user beyond maxDbUsers is 403 and not counted', async () => {
    const f = enforceFakes();
    f.limits.specs.set('ns-alice', spec);

    const created = await registerCluster(
      f.ports,
      { namespace: 'ns-alice', op: 'create', cpu_cores: 1, memory_bytes: 1024 },
      context(),
    );
    expect(created).toEqual({
      status: 'ok',
      usage: { clusters_count: 1, cpu_used: 1, memory_used: 1024, db_users_count: 0 },
    });

    expect(
      (await registerDbUser(f.ports, { namespace: 'ns-alice', op: 'create' }, context())).usage
        .db_users_count,
    ).toBe(1);
    const beyond = await platformErrorOf(
      registerDbUser(f.ports, { namespace: 'ns-alice', op: 'create' }, context()),
    );
    expect(beyond.status).toBe(403);
    expect(beyond.message).toBe('max db users exceeded');
    expect(f.counters.counters.get('ns-alice')?.db_users_count).toBe(1);
    // A delete needs no limits and frees the place.
    expect(
      (await registerDbUser(f.ports, { namespace: 'ns-alice', op: 'delete' }, context())).usage
        .db_users_count,
    ).toBe(0);
    expect(f.store.records.map((r) => r.outcome)).toEqual(['success', 'success', 'failure', 'success']);
  });

  it('refuses a reserved namespace (400) with nothing counted', async () => {
    const f = enforceFakes();
    const error = await platformErrorOf(
      registerCluster(
        f.ports,
        { namespace: 'default', op: 'create', cpu_cores: 1, memory_bytes: 1 },
        context(),
      ),
    );
    expect(error.status).toBe(400);
    expect(f.counters.counters.size).toBe(0);
    await registerCluster(
      f.ports,
      { namespace: 'ns-alice', op: 'create', cpu_cores: 1, memory_bytes: 1 },
      context(),
    );
    expect(f.counters.counters.size).toBe(1);
  });
});

describe('usage report', () => {
  it('reads pods, clusters, PVCs and quotas of the namespace; a reserved one is 400 with nothing read', async () => {
    const f = enforceFakes();
    f.usage.pods_.set('ns-alice', [
      { status: { phase: 'Running' }, spec: { containers: [{ resources: { requests: { cpu: '500m' } } }] } },
      { status: { phase: 'Succeeded' }, spec: { containers: [{ resources: { requests: { cpu: '8' } } }] } },
    ]);
    f.clusters.clusters.set('ns-alice', [cluster('2')]);

    expect((await platformErrorOf(namespaceUsage(f.ports, 'kube-system'))).status).toBe(400);
    expect(f.journal).toEqual([]);

    const report = await namespaceUsage(f.ports, 'ns-alice');
    expect(report.pods).toMatchObject({ count: 1, requests: { cpu_cores: 0.5 } });
    expect(report.database_clusters).toMatchObject({ count: 1, cpu_cores: 2 });
    expect([...f.journal].sort()).toEqual([
      'clusters.list ns-alice',
      'usage.persistentVolumeClaims ns-alice',
      'usage.pods ns-alice',
      'usage.resourceQuotas ns-alice',
    ]);
  });
});
