/**
 * The sweep's own logic with in-memory ports: deadlines and continuation, partial failure, 404, what is
 * still terminating after the deletes.
 */
import { describe, expect, it } from 'vitest';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { defaultPlan } from '../../../shared/tenancy/baseline.ts';
import { resetSweep, type ResetSweepPorts } from '../../../shared/tenancy/reset-sweep.ts';
import { annotations, labels, MANAGER } from '../../../shared/tenancy/labels.ts';
import { webIdePlan } from '../../../shared/tenancy/plans.ts';
import type { ListedObject } from '../../../shared/tenancy/reset-occupancy.ts';

/** A namespace as provision makes it. */
const owned = (name: string) => ({
  name,
  labels: { [labels.managedBy]: MANAGER, [labels.tenant]: name },
  annotations: { [annotations.ownerTenant]: name },
});

const names = Array.from({ length: 10 }, (_, i) => `tenant-${String(i).padStart(2, '0')}`);

function ports(failing: string[] = []): ResetSweepPorts & { deleted: string[] } {
  const deleted: string[] = [];
  return {
    deleted,
    discover: () =>
      Promise.resolve([
        {
          group: 'apps',
          version: 'v1',
          resource: 'deployments',
          kind: 'Deployment',
          namespaced: true,
          verbs: ['list', 'deletecollection'],
        },
      ]),
    namespacePages: () => pagesOf([names.slice(0, 4).map(owned), names.slice(4).map(owned)]),
    readNamespace: (name) => Promise.resolve(names.includes(name) ? owned(name) : undefined),
    raw: {
      deleteCollection: (collection) => {
        const ns = collection.namespace ?? '';
        if (failing.includes(ns))
          return Promise.reject(new PlatformError({ reason: 'forbidden', message: 'denied' }));
        deleted.push(ns);
        return Promise.resolve(2);
      },
    },
    create: () => Promise.resolve(),
  };
}

async function* pagesOf<T>(pages: T[][]): AsyncGenerator<T[]> {
  for (const page of pages) yield await Promise.resolve(page);
}

const plans = new Map([[defaultPlan.name, defaultPlan]]);

describe('resetSweep', () => {
  it('resets every tenant namespace across pages and reports counts', async () => {
    const p = ports();
    const result = await resetSweep({}, p, { plans, deadline: Number.MAX_SAFE_INTEGER });
    expect(result).toMatchObject({
      users_processed: 10,
      namespaces_reset: 10,
      failed_resets: [],
      message: 'All provisioned namespaces have been reset successfully',
    });
    expect(result.details['tenant-03']).toEqual({ Deployment: 2 });
    expect(result).not.toHaveProperty('continue');
  });

  it('reports a failing namespace and completes the others', async () => {
    const result = await resetSweep({}, ports(['tenant-04']), { plans, deadline: Number.MAX_SAFE_INTEGER });
    expect(result.namespaces_reset).toBe(9);
    expect(result.failed_resets).toEqual(['tenant-04']);
    expect(result.failures[0]?.errors[0]).toMatch(/Deployment: denied/);
  });

  it('stops at the deadline with a cursor, and a follow-up finishes exactly the rest', async () => {
    let clock = 0;
    const now = () => (clock += 1); // every check advances the clock: the deadline falls mid-sweep
    const first = ports();
    const partial = await resetSweep({}, first, { plans, deadline: 8, concurrency: 1, now });
    expect(partial.continue).toBeDefined();
    expect(partial.namespaces_reset).toBeLessThan(10);
    const second = ports();
    const rest = await resetSweep({ after: partial.continue?.after }, second, {
      plans,
      deadline: Number.MAX_SAFE_INTEGER,
    });
    expect([...first.deleted, ...second.deleted].sort()).toEqual(names);
    expect(rest).not.toHaveProperty('continue');
  });

  it('takes at most maxNamespaces per invocation, and the cursors cover every namespace once', async () => {
    const done: string[] = [];
    let after: string | undefined;
    for (let invocation = 0; invocation < 10; invocation++) {
      const p = ports();
      const result = await resetSweep({ after }, p, {
        plans,
        deadline: Number.MAX_SAFE_INTEGER,
        maxNamespaces: 3,
      });
      expect(result.namespaces_reset).toBeLessThanOrEqual(3);
      done.push(...p.deleted);
      after = result.continue?.after;
      if (after === undefined) break;
    }
    expect(done).toEqual(names);
  });

  it('stops at the namespace after its signal is aborted; the cursor leaves exactly the rest', async () => {
    const first = ports();
    const stop = new AbortController();
    const deleteCollection = first.raw.deleteCollection.bind(first.raw);
    // The signal is aborted while the fourth namespace (the last of the first page) is being reset.
    const aborting: ResetSweepPorts = {
      ...first,
      raw: {
        deleteCollection: (collection, action, options) => {
          if (collection.namespace === 'tenant-03') stop.abort();
          return deleteCollection(collection, action, options);
        },
      },
    };
    const partial = await resetSweep({}, aborting, {
      plans,
      deadline: Number.MAX_SAFE_INTEGER,
      concurrency: 2,
      signal: stop.signal,
    });
    expect(partial.stopped).toEqual({ reason: 'signal', next: 'tenant-04' });
    expect(partial.continue).toEqual({ after: 'tenant-03' });
    // The namespaces started before the signal ran to their end: the done ones are a prefix.
    expect([...first.deleted].sort()).toEqual(names.slice(0, 4));
    expect(Object.keys(partial.details).sort()).toEqual(names.slice(0, 4));
    const second = ports();
    const rest = await resetSweep({ after: partial.continue?.after }, second, {
      plans,
      deadline: Number.MAX_SAFE_INTEGER,
    });
    expect([...second.deleted].sort()).toEqual(names.slice(4));
    expect(rest).not.toHaveProperty('continue');
    expect(rest).not.toHaveProperty('stopped');
  });

  it('stopped before any namespace, continues from where it was asked to start', async () => {
    const stop = new AbortController();
    stop.abort();
    const p = ports();
    const fromStart = await resetSweep({}, p, {
      plans,
      deadline: Number.MAX_SAFE_INTEGER,
      signal: stop.signal,
    });
    expect(fromStart).toMatchObject({
      namespaces_reset: 0,
      continue: {},
      stopped: { reason: 'signal', next: 'tenant-00' },
    });
    const fromCursor = await resetSweep({ after: 'tenant-06' }, p, {
      plans,
      deadline: Number.MAX_SAFE_INTEGER,
      signal: stop.signal,
    });
    expect(fromCursor).toMatchObject({ namespaces_reset: 0, continue: { after: 'tenant-06' } });
    expect(p.deleted).toEqual([]);
    // One tenant's reset stopped before it started is a retryable problem, not a 404.
    await expect(
      resetSweep({ username: 'tenant-01' }, p, {
        plans,
        deadline: Number.MAX_SAFE_INTEGER,
        signal: stop.signal,
      }),
    ).rejects.toMatchObject({ reason: 'unavailable', retryable: true });
    const control = await resetSweep({ username: 'tenant-01' }, p, {
      plans,
      deadline: Number.MAX_SAFE_INTEGER,
    });
    expect(control.namespaces_reset).toBe(1);
  });

  it('skips namespaces that are being deleted', async () => {
    const p = ports();
    const dying: ResetSweepPorts = {
      ...p,
      namespacePages: () => pagesOf([[{ ...owned('going'), terminating: true }, owned('staying')]]),
    };
    const result = await resetSweep({}, dying, { plans, deadline: Number.MAX_SAFE_INTEGER });
    expect(result.users_processed).toBe(1);
    expect(p.deleted).toEqual(['staying']);
  });

  it('skips and reports labelled namespaces that are not their tenant’s, and reserved names', async () => {
    const p = ports();
    const mixed: ResetSweepPorts = {
      ...p,
      namespacePages: () =>
        pagesOf([
          [
            owned('tenant-00'),
            { ...owned('no-owner'), annotations: {} },
            { ...owned('renamed'), labels: { ...owned('renamed').labels, [labels.tenant]: 'tenant-00' } },
            owned('kube-system'),
          ],
        ]),
    };
    const reserved = { exact: [], patterns: [/^kube-/] };
    const result = await resetSweep({}, mixed, { plans, reserved, deadline: Number.MAX_SAFE_INTEGER });
    expect(p.deleted).toEqual(['tenant-00']);
    expect(result.namespaces_reset).toBe(1);
    expect(result.skipped.map((s) => s.name)).toEqual(['kube-system', 'no-owner', 'renamed']);
    expect(result.skipped.find((s) => s.name === 'no-owner')?.reason).toMatch(/owner annotation/);
  });

  it('refuses a username whose namespace is not that tenant’s (409), and resets the tenant’s own', async () => {
    const p = ports();
    const foreign: ResetSweepPorts = {
      ...p,
      readNamespace: (name) =>
        Promise.resolve(
          name === 'tenant-01'
            ? owned('tenant-01')
            : { name, labels: { [labels.tenant]: name }, annotations: {} },
        ),
    };
    await expect(
      resetSweep({ username: 'acme-web' }, foreign, { plans, deadline: Number.MAX_SAFE_INTEGER }),
    ).rejects.toMatchObject({
      reason: 'not_owned',
      status: 409,
      extensions: { notOwned: [expect.objectContaining({ kind: 'Namespace', name: 'acme-web' })] },
    });
    expect(p.deleted).toEqual([]);
    const ok = await resetSweep({ username: 'tenant-01' }, foreign, {
      plans,
      deadline: Number.MAX_SAFE_INTEGER,
    });
    expect(ok.namespaces_reset).toBe(1);
    expect(p.deleted).toEqual(['tenant-01']);
  });

  it('answers 404 for an unknown username, in the predecessor words', async () => {
    const empty: ResetSweepPorts = {
      ...ports(),
      namespacePages: () => pagesOf([]),
      readNamespace: () => Promise.resolve(undefined),
    };
    await expect(
      resetSweep({ username: 'nobody' }, empty, { plans, deadline: Number.MAX_SAFE_INTEGER }),
    ).rejects.toMatchObject({
      status: 404,
      message: 'No provisioned user found with username: nobody',
    });
  });
});

describe('resetSweep: what is still terminating', () => {
  const core = (resource: string, kind: string) => ({
    group: '',
    version: 'v1',
    resource,
    kind,
    namespaced: true,
    verbs: ['list', 'deletecollection'],
  });
  const webide = (name: string) => ({
    ...owned(name),
    labels: { ...owned(name).labels, [labels.plan]: 'webide' },
  });

  /**
   * Two webide tenants: in "busy" a pod in its grace period, a ConfigMap waiting on its finalizer and the
   * starter PVC still mounted (pvc-protection); in "idle" nothing is left after the deletes. Secrets cannot
   * be listed, as with the function's own rights.
   */
  function terminatingPorts(): ResetSweepPorts & { created: string[] } {
    const created: string[] = [];
    const left: Record<string, Record<string, ListedObject[]>> = {
      busy: {
        pods: [{ namespace: 'busy', name: 'app-1', deletionTimestamp: 'now' }],
        configmaps: [
          { namespace: 'busy', name: 'drained', deletionTimestamp: 'now', finalizers: ['example.com/drain'] },
          // Made after the delete (by a controller): not the reset's to report.
          { namespace: 'busy', name: 'fresh' },
        ],
        persistentvolumeclaims: [
          {
            namespace: 'busy',
            name: 'webide-home',
            deletionTimestamp: 'now',
            finalizers: ['kubernetes.io/pvc-protection'],
          },
        ],
      },
      idle: {},
    };
    return {
      created,
      discover: () =>
        Promise.resolve([
          core('pods', 'Pod'),
          core('configmaps', 'ConfigMap'),
          core('persistentvolumeclaims', 'PersistentVolumeClaim'),
          core('secrets', 'Secret'),
        ]),
      namespacePages: () => pagesOf([[webide('busy'), webide('idle')]]),
      readNamespace: (name) => Promise.resolve(['busy', 'idle'].includes(name) ? webide(name) : undefined),
      raw: { deleteCollection: () => Promise.resolve(1) },
      lister: {
        listMetadata: (collection) => {
          const { namespace: ns = '', resource } = collection;
          // A sweep's occupancy list across namespaces: every type has objects in both.
          if (ns === '')
            return pagesOf([
              [
                { namespace: 'busy', name: 'x' },
                { namespace: 'idle', name: 'y' },
              ],
            ]);
          if (resource === 'secrets')
            return (async function* () {
              yield await Promise.reject(new PlatformError({ reason: 'forbidden', message: 'no list' }));
            })();
          return pagesOf([left[ns]?.[resource] ?? []]);
        },
      },
      create: (object) => {
        const name = `${object.metadata.namespace ?? ''}/${object.kind}/${object.metadata.name}`;
        // The PVC of "busy" is still there (terminating); in "idle" the starter is made again.
        if (name === 'busy/PersistentVolumeClaim/webide-home')
          return Promise.reject(new PlatformError({ reason: 'conflict', message: 'already exists' }));
        created.push(name);
        return Promise.resolve();
      },
    };
  }
  const webidePlans = new Map([[webIdePlan.name, webIdePlan]]);

  it('reports deleted objects not gone yet, with their finalizers, and not a clean success', async () => {
    const p = terminatingPorts();
    const busy = await resetSweep({ username: 'busy' }, p, {
      plans: webidePlans,
      deadline: Number.MAX_SAFE_INTEGER,
    });
    expect(busy.terminating).toEqual({
      busy: {
        ConfigMap: { count: 1, finalizers: ['example.com/drain'] },
        PersistentVolumeClaim: { count: 1, finalizers: ['kubernetes.io/pvc-protection'] },
        Pod: { count: 1, finalizers: [] },
      },
    });
    expect(busy.message).toContain('3 deleted objects are still terminating');
    expect(busy.message).toContain('finalizers: example.com/drain, kubernetes.io/pvc-protection');
    expect(busy.message).not.toContain('successfully');
    // Positive control: where nothing is left the reset is a plain success.
    const idle = await resetSweep({ username: 'idle' }, p, {
      plans: webidePlans,
      deadline: Number.MAX_SAFE_INTEGER,
    });
    expect(idle.terminating).toEqual({});
    expect(idle.message).toBe('Namespace for user idle has been reset successfully');
    expect(idle.failed_resets).toEqual([]);
  });

  it('fails a namespace whose starter could not be made again because the deleted one still terminates', async () => {
    const p = terminatingPorts();
    const result = await resetSweep({}, p, { plans: webidePlans, deadline: Number.MAX_SAFE_INTEGER });
    expect(result.failed_resets).toEqual(['busy']);
    expect(result.failures[0]?.errors).toEqual([
      'starter PersistentVolumeClaim/webide-home: the deleted one is still terminating, so it was not created again; reset again once it is gone',
    ]);
    // Positive control: the other starters of "busy", and every starter of "idle", were made again.
    expect(p.created).toContain('busy/Deployment/webide');
    expect(p.created).toContain('idle/PersistentVolumeClaim/webide-home');
    expect(result.namespaces_reset).toBe(1);
  });
});
