/**
 * Everest database namespaces one at a time (shared/everest/namespace-operations.ts) over fake ports: add,
 * update, remove, and the refusals (reserved, foreign, running clusters), each beside the legitimate call.
 */
import { describe, expect, it } from 'vitest';
import { changeNamespace, removeNamespace } from '../../../shared/everest/namespace-operations.ts';
import { platformErrorOf } from '../../support/platform-error.ts';
import { bootstrapFakes, context, foreignNamespace, ownedNamespace } from './fakes.ts';

describe('namespaces add', () => {
  it('adds a namespace with its operators, audited under its lock; a dry run writes and records nothing', async () => {
    const f = bootstrapFakes();
    const dry = await changeNamespace(
      f.ports,
      'add',
      { namespace: 'ns-alice', operators: { postgresql: true }, dryRun: true },
      context(),
    );
    expect(dry).toMatchObject({ stdout: 'would install: postgresql', created: true, dryRun: true });
    expect('objects' in dry && dry.objects.map((o) => o.kind)).toEqual([
      'Namespace',
      'OperatorGroup',
      'Subscription',
    ]);
    expect(f.namespaces.namespaces.size).toBe(0);
    expect(f.store.records).toEqual([]);

    const added = await changeNamespace(
      f.ports,
      'add',
      { namespace: 'ns-alice', operators: { postgresql: true }, dryRun: false },
      context(),
    );
    expect(added).toMatchObject({
      stdout: 'installed: postgresql',
      created: true,
      operators_installed: ['postgresql'],
    });
    expect('objects' in added).toBe(false);
    expect(f.namespaces.namespaces.get('ns-alice')).toMatchObject({ managed: true, owned: true });
    expect(f.journal.filter((c) => c.startsWith('store.'))).toEqual([
      'store.lock tenant:everest/ns-alice',
      'store.recordAudit namespaces-add everest/ns-alice success',
      'store.unlock tenant:everest/ns-alice',
    ]);
    expect(f.store.records[0]?.details).toEqual({ created: true, operators_installed: ['postgresql'] });
  });

  it('refuses a reserved, an existing and a foreign namespace, applying nothing; a new one is added', async () => {
    const f = bootstrapFakes();
    f.namespaces.namespaces.set('ns-foreign', { ...foreignNamespace(), managed: false });
    f.namespaces.namespaces.set('ns-alice', ownedNamespace('postgresql'));
    const cases = [
      ['monitoring', false, 400],
      ['ns-alice', false, 409],
      ['ns-foreign', false, 409],
      ['ns-foreign', true, 409],
    ] as const;
    for (const [namespace, take_ownership, status] of cases) {
      const error = await platformErrorOf(
        changeNamespace(
          f.ports,
          'add',
          { namespace, operators: { postgresql: true }, take_ownership, dryRun: false },
          context(),
        ),
      );
      expect(error.status).toBe(status);
    }
    expect(f.journal.filter((c) => c.startsWith('namespaces.apply'))).toEqual([]);

    await changeNamespace(
      f.ports,
      'add',
      { namespace: 'ns-bob', operators: { mongodb: true }, dryRun: false },
      context(),
    );
    expect(f.namespaces.namespaces.get('ns-bob')?.installed).toEqual(new Set(['mongodb']));
  });
});

describe('namespaces update', () => {
  it('adds operators to its own namespace and warns for one asked off; a foreign one is 409', async () => {
    const f = bootstrapFakes();
    f.namespaces.namespaces.set('ns-alice', ownedNamespace('postgresql'));
    f.namespaces.namespaces.set('ns-foreign', foreignNamespace());

    const foreign = await platformErrorOf(
      changeNamespace(
        f.ports,
        'update',
        { namespace: 'ns-foreign', operators: { mongodb: true }, dryRun: false },
        context(),
      ),
    );
    expect(foreign.reason).toBe('not_owned');
    expect(f.namespaces.namespaces.get('ns-foreign')?.installed).toEqual(new Set(['postgresql']));

    const updated = await changeNamespace(
      f.ports,
      'update',
      { namespace: 'ns-alice', operators: { postgresql: false, mongodb: true }, dryRun: false },
      context(),
    );
    expect(updated.operators_installed).toEqual(['mongodb']);
    expect(updated.warnings).toEqual([
      'Removal of an installed operator is not supported. Proceeding without removal (postgresql).',
    ]);
    expect(f.namespaces.namespaces.get('ns-alice')?.installed).toEqual(new Set(['postgresql', 'mongodb']));
  });
});

describe('namespaces remove', () => {
  it('removes its own namespace, or keeps it released; refuses foreign, reserved and busy ones', async () => {
    const f = bootstrapFakes();
    f.namespaces.namespaces.set('ns-alice', ownedNamespace('postgresql'));
    f.namespaces.namespaces.set('ns-bob', ownedNamespace('postgresql'));
    f.namespaces.namespaces.set('ns-busy', { ...ownedNamespace('postgresql'), databaseClusters: 2 });
    f.namespaces.namespaces.set('ns-foreign', foreignNamespace());

    for (const [namespace, status] of [
      ['ns-foreign', 409],
      ['monitoring', 400],
      ['ns-busy', 409],
      ['ns-absent', 404],
    ] as const) {
      const error = await platformErrorOf(
        removeNamespace(f.ports, { namespace, keep_namespace: false, force: false }, context()),
      );
      expect(error.status).toBe(status);
    }
    expect([...f.namespaces.namespaces.keys()].sort()).toEqual([
      'ns-alice',
      'ns-bob',
      'ns-busy',
      'ns-foreign',
    ]);

    const deleted = await removeNamespace(
      f.ports,
      { namespace: 'ns-alice', keep_namespace: false, force: false },
      context(),
    );
    expect(deleted).toEqual({
      exit_code: 0,
      stdout: 'namespace ns-alice is being deleted',
      stderr: '',
      name: 'ns-alice',
      database_clusters: 0,
      namespace: 'deleting',
    });
    expect(f.namespaces.namespaces.has('ns-alice')).toBe(false);

    const kept = await removeNamespace(
      f.ports,
      { namespace: 'ns-bob', keep_namespace: true, force: false },
      context(),
    );
    expect(kept.stdout).toBe('namespace ns-bob is no longer managed by Everest (kept)');
    expect(f.namespaces.namespaces.get('ns-bob')).toMatchObject({ managed: false, owned: true });

    const forced = await removeNamespace(
      f.ports,
      { namespace: 'ns-busy', keep_namespace: false, force: true },
      context(),
    );
    expect(forced.database_clusters).toBe(2);
    expect(f.store.records.at(-1)).toMatchObject({
      operation: 'namespaces-remove',
      target: 'everest/ns-busy',
      outcome: 'success',
      details: { databaseClusters: 2, namespace: 'deleting', force: true },
    });
  });
});
