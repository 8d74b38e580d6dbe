/** The pure parts of Everest enforcement: quantities, the predecessor's check order, usage, rendering. */
import { describe, expect, it } from 'vitest';
import { renderAdmissionPolicy, renderClusterQuota } from '../../../shared/everest/admission.ts';
import { clusterCreateRefusal, dbUserCreateRefusal } from '../../../shared/everest/cluster-create-check.ts';
import { clusterUsage, noUsage } from '../../../shared/everest/cluster-usage.ts';
import { engineAllowed } from '../../../shared/everest/engines.ts';
import { parseQuantity } from '../../../shared/everest/quantity.ts';
import type { TenantLimitsSpec } from '../../../shared/everest/tenant-resource-policy.ts';
import { usageReport } from '../../../shared/everest/usage-report.ts';

const alice: TenantLimitsSpec = {
  limits: { cpuCores: 4, memoryBytes: 17179869184, maxClusters: 3, maxDbUsers: 20 },
  selectors: { engines: ['postgresql', 'mysql'] },
};
const request = { engine: 'postgresql' as const, cpu_request_cores: 1, memory_request_bytes: 2 ** 31 };

describe('parseQuantity', () => {
  it.each([
    ['500m', 0.5],
    ['2', 2],
    ['2Gi', 2 ** 31],
    ['1.5Mi', 1.5 * 2 ** 20],
    ['1e3', 1000],
    ['100k', 100_000],
    [3, 3],
  ])('%s is %d', (q, v) => {
    expect(parseQuantity(q)).toBeCloseTo(v);
  });
  it('refuses what is not a quantity', () => {
    expect(parseQuantity('2 GB')).toBeUndefined();
    expect(parseQuantity('')).toBeUndefined();
  });
});

describe('clusterCreateRefusal', () => {
  it('checks in the predecessor’s order with its words', () => {
    expect(clusterCreateRefusal(undefined, noUsage, request)).toBe('no limits configured for namespace');
    expect(clusterCreateRefusal(alice, noUsage, { ...request, engine: 'mongodb' })).toBe(
      "engine 'mongodb' not allowed",
    );
    const full = { ...noUsage, clusters: 3, cpuCores: 4, memoryBytes: alice.limits.memoryBytes };
    expect(clusterCreateRefusal(alice, full, request)).toBe('max clusters exceeded');
    expect(clusterCreateRefusal(alice, { ...full, clusters: 2 }, request)).toBe('cpu limit exceeded');
    expect(clusterCreateRefusal(alice, { ...full, clusters: 2, cpuCores: 3 }, request)).toBe(
      'memory limit exceeded',
    );
    expect(clusterCreateRefusal(alice, noUsage, request)).toBeUndefined();
  });
  it('treats 0 as unlimited and no engines as every engine', () => {
    const open: TenantLimitsSpec = {
      limits: { cpuCores: 0, memoryBytes: 0, maxClusters: 0, maxDbUsers: 0 },
      selectors: { engines: [] },
    };
    const huge = { clusters: 1e6, cpuCores: 1e6, memoryBytes: 1e15, storageBytes: 0, byEngine: {} };
    expect(clusterCreateRefusal(open, huge, { ...request, engine: 'mongodb' })).toBeUndefined();
    expect(dbUserCreateRefusal(open, 1e6)).toBeUndefined();
    expect(dbUserCreateRefusal(alice, 20)).toBe('max db users exceeded');
  });
});

describe('clusterUsage', () => {
  it('sums engine resources times replicas and skips clusters being deleted', () => {
    const usage = clusterUsage([
      { spec: { engine: { type: 'postgresql', replicas: 3, resources: { cpu: '500m', memory: '1Gi' } } } },
      {
        spec: { engine: { type: 'pxc', resources: { cpu: 1, memory: '512Mi' }, storage: { size: '10Gi' } } },
      },
      {
        metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' },
        spec: { engine: { type: 'pxc', replicas: 9 } },
      },
    ]);
    expect(usage).toEqual({
      clusters: 2,
      cpuCores: 2.5,
      memoryBytes: 3 * 2 ** 30 + 2 ** 29,
      storageBytes: 10 * 2 ** 30,
      byEngine: { postgresql: 1, pxc: 1 },
    });
  });
});

describe('engineAllowed', () => {
  it('maps the predecessor’s engine names to DatabaseCluster engine types', () => {
    expect(engineAllowed(['mysql'], 'pxc')).toBe(true);
    expect(engineAllowed(['mongodb'], 'psmdb')).toBe(true);
    expect(engineAllowed(['postgresql'], 'pxc')).toBe(false);
    expect(engineAllowed([], 'anything')).toBe(true);
  });
});

describe('admission rendering', () => {
  it('binds the policy to Everest namespaces with the namespace’s own TenantResourcePolicy, failing closed', () => {
    const [policy, binding] = renderAdmissionPolicy();
    expect(policy?.spec).toMatchObject({
      failurePolicy: 'Fail',
      paramKind: { kind: 'TenantResourcePolicy' },
    });
    expect(binding?.spec).toMatchObject({
      paramRef: { name: 'resource-policy', parameterNotFoundAction: 'Deny' },
      matchResources: { namespaceSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'everest' } } },
    });
  });
  it('counts clusters with a quota, and none when unlimited', () => {
    expect(renderClusterQuota('ns-alice', alice)?.spec).toEqual({
      hard: { 'count/databaseclusters.everest.percona.com': '3' },
    });
    expect(
      renderClusterQuota('ns-alice', { ...alice, limits: { ...alice.limits, maxClusters: 0 } }),
    ).toBeUndefined();
  });
});

describe('usageReport', () => {
  it('adds up running pods, database clusters, claimed storage and quota usage', () => {
    const report = usageReport('ns', {
      pods: [
        {
          spec: {
            containers: [{ resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '1' } } }],
          },
        },
        { status: { phase: 'Succeeded' }, spec: { containers: [{ resources: { requests: { cpu: '8' } } }] } },
      ],
      databaseClusters: [{ spec: { engine: { type: 'psmdb', resources: { cpu: '1', memory: '1Gi' } } } }],
      pvcs: [{ spec: { resources: { requests: { storage: '5Gi' } } } }],
      quotas: [{ metadata: { name: 'q' }, status: { hard: { pods: '20' }, used: { pods: '1' } } }],
    });
    expect(report).toMatchObject({
      pods: { count: 1, requests: { cpu_cores: 0.25, memory_bytes: 64 * 2 ** 20 }, limits: { cpu_cores: 1 } },
      database_clusters: { count: 1, by_engine: { psmdb: 1 } },
      storage: { pvcs: 1, requested_bytes: 5 * 2 ** 30 },
      quotas: [{ name: 'q', hard: { pods: '20' }, used: { pods: '1' } }],
    });
  });
});
