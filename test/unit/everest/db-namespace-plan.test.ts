import { describe, expect, it } from 'vitest';
import {
  checkRemoval,
  planNamespace,
  type NamespaceState,
  type OperatorKey,
} from '../../../shared/everest/db-namespace-plan.ts';
import { refusal } from '../../support/platform-error.ts';

const absent: NamespaceState = {
  exists: false,
  managed: false,
  owned: false,
  terminating: false,
  installed: new Set(),
};
/** Managed by Everest and made by this product (its tenant annotation). */
const managed = (...installed: OperatorKey[]): NamespaceState => ({
  exists: true,
  managed: true,
  owned: true,
  terminating: false,
  installed: new Set(installed),
});
/** Released by this product (keep_namespace): the annotation stays, the label went. */
const unmanaged: NamespaceState = {
  exists: true,
  managed: false,
  owned: true,
  terminating: false,
  installed: new Set(),
};
const foreign: NamespaceState = { ...unmanaged, owned: false };
const foreignManaged: NamespaceState = { ...managed('postgresql'), owned: false };

describe('namespaces add', () => {
  it('renders what Everest’s namespace chart creates: the label, the OperatorGroup, a Subscription per operator', () => {
    const plan = planNamespace('add', 'ns-alice', absent, {
      postgresql: true,
      mongodb: false,
      xtradb_cluster: true,
    });
    expect(plan.create).toBe(true);
    expect(plan.install).toEqual(['postgresql', 'xtradb_cluster']);
    expect(plan.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/ns-alice',
      'OperatorGroup/everest-databases',
      'Subscription/percona-postgresql-operator',
      'Subscription/percona-xtradb-cluster-operator',
    ]);
    expect(plan.objects[0]?.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'everest' });
    expect(plan.objects[0]?.metadata.annotations).toEqual({
      'tenant-lifecycle.dev/everest-tenant': 'ns-alice',
    });
    expect(plan.objects[1]).toMatchObject({ spec: { targetNamespaces: ['ns-alice'] } });
    expect(plan.objects[2]).toMatchObject({
      apiVersion: 'operators.coreos.com/v1alpha1',
      metadata: { namespace: 'ns-alice' },
      spec: {
        name: 'percona-postgresql-operator',
        channel: 'stable-v2',
        source: 'everest-catalog',
        sourceNamespace: 'everest-olm',
        installPlanApproval: 'Manual',
      },
    });
  });

  it('refuses as Everest does', () => {
    expect(refusal(() => planNamespace('add', 'ns-alice', managed('postgresql'), { mongodb: true }))).toMatch(
      /^409 namespace already exists and is managed by Everest/,
    );
    expect(refusal(() => planNamespace('add', 'ns-alice', unmanaged, { mongodb: true }))).toMatch(
      /^409 namespace already exists. HINT: set '--take-ownership'/,
    );
    expect(planNamespace('add', 'ns-alice', unmanaged, { mongodb: true }, true).objects[0]?.kind).toBe(
      'Namespace',
    );
    expect(refusal(() => planNamespace('add', 'ns-alice', absent, { postgresql: false }))).toBe(
      '400 no operators selected for installation. Minimum one operator must be selected',
    );
    expect(refusal(() => planNamespace('add', 'everest-system', absent, { postgresql: true }))).toMatch(
      /^400 'everest-system' namespace is reserved for Everest internals/,
    );
    expect(refusal(() => planNamespace('add', 'Ns_Alice', absent, { postgresql: true }))).toMatch(
      /^400 'Ns_Alice' is not a valid/,
    );
    expect(
      refusal(() =>
        planNamespace(
          'add',
          'ns-alice',
          { ...absent, exists: true, terminating: true },
          { postgresql: true },
        ),
      ),
    ).toMatch(/^409 namespace ns-alice is being deleted/);
  });
});

describe('namespaces update', () => {
  it('adds operators, never removes one (Everest warns and goes on)', () => {
    const plan = planNamespace('update', 'ns-alice', managed('postgresql'), {
      mongodb: true,
      postgresql: false,
    });
    expect(plan.install).toEqual(['mongodb']);
    expect(plan.kept).toEqual(['postgresql']);
    expect(plan.warnings).toEqual([
      'Removal of an installed operator is not supported. Proceeding without removal (postgresql).',
    ]);
    expect(plan.objects.map((o) => o.kind)).toEqual(['OperatorGroup', 'Subscription']);
    expect(planNamespace('update', 'ns-alice', managed('postgresql'), { postgresql: true }).objects).toEqual(
      [],
    );
  });

  it('needs an existing managed namespace', () => {
    expect(refusal(() => planNamespace('update', 'ns-x', absent, { mongodb: true }))).toBe(
      '404 namespace does not exist',
    );
    expect(refusal(() => planNamespace('update', 'ns-x', unmanaged, { mongodb: true }))).toMatch(
      /^409 namespace is not managed by Everest/,
    );
  });

  it('ensure (bootstrap) adds when absent and updates when managed, so it can run again', () => {
    expect(planNamespace('ensure', 'ns-bob', absent, { postgresql: true }).create).toBe(true);
    const again = planNamespace('ensure', 'ns-bob', managed('postgresql'), { postgresql: true });
    expect(again.objects).toEqual([]);
    expect(refusal(() => planNamespace('ensure', 'ns-bob', unmanaged, { postgresql: true }))).toMatch(/^409/);
  });
});

describe('namespaces remove', () => {
  it('keeps database clusters unless forced, and needs a managed namespace', () => {
    const withClusters = { ...managed('postgresql'), databaseClusters: 2 };
    expect(
      refusal(() => {
        checkRemoval('ns-bob', withClusters, false);
      }),
    ).toMatch(/^409 cannot remove namespace with running database clusters/);
    expect(
      refusal(() => {
        checkRemoval('ns-bob', withClusters, true);
      }),
    ).toBeUndefined();
    expect(
      refusal(() => {
        checkRemoval('ns-bob', { ...absent, databaseClusters: 0 }, true);
      }),
    ).toBe("404 'ns-bob': namespace does not exist");
    expect(
      refusal(() => {
        checkRemoval('ns-bob', { ...unmanaged, databaseClusters: 0 }, true);
      }),
    ).toMatch(/^409/);
  });
});

describe('ownership: only namespaces this product made are adopted, updated or removed', () => {
  const pg = { postgresql: true };
  it('take_ownership of a foreign namespace is 409 not_owned naming it; of a released one of ours it adopts', () => {
    expect(refusal(() => planNamespace('add', 'team-x', foreign, pg, true))).toMatch(
      /^409 namespace team-x exists and cannot be taken over; this product did not make it/,
    );
    expect(refusal(() => planNamespace('ensure', 'team-x', foreign, pg, true))).toMatch(
      /^409 namespace team-x/,
    );
    const adopted = planNamespace('add', 'team-x', unmanaged, pg, true);
    expect(adopted.objects[0]?.metadata.annotations).toEqual({
      'tenant-lifecycle.dev/everest-tenant': 'team-x',
    });
  });

  it('update or ensure of an Everest namespace the product did not make is 409 not_owned; of ours it plans', () => {
    for (const mode of ['update', 'ensure'] as const) {
      expect(refusal(() => planNamespace(mode, 'team-x', foreignManaged, { mongodb: true }))).toMatch(
        /^409 namespace team-x is managed by Everest but not a tenant of this product/,
      );
      expect(planNamespace(mode, 'team-x', managed('postgresql'), { mongodb: true }).install).toEqual([
        'mongodb',
      ]);
    }
  });

  it('removal of an Everest namespace the product did not make is 409 not_owned; of ours it is allowed', () => {
    expect(
      refusal(() => {
        checkRemoval('team-x', { ...foreignManaged, databaseClusters: 0 }, false);
      }),
    ).toMatch(/^409 namespace team-x is managed by Everest but not a tenant of this product/);
    expect(
      refusal(() => {
        checkRemoval('team-x', { ...managed(), databaseClusters: 0 }, false);
      }),
    ).toBeUndefined();
  });

  it('reserved names (the configured list, beside Everest’s own) are 400', () => {
    const reserved = { exact: ['monitoring'], patterns: [/^kube-/] };
    expect(refusal(() => planNamespace('add', 'kube-foo', absent, pg, false, reserved))).toBe(
      '400 "kube-foo" is a reserved name and cannot be a database namespace',
    );
    expect(
      refusal(() => {
        checkRemoval('monitoring', { ...managed(), databaseClusters: 0 }, false, reserved);
      }),
    ).toBe('400 "monitoring" is a reserved name and cannot be a database namespace');
    expect(refusal(() => planNamespace('add', 'everest-system', absent, pg, false, reserved))).toMatch(
      /^400 'everest-system' namespace is reserved for Everest internals/,
    );
    expect(planNamespace('add', 'team-y', absent, pg, false, reserved).create).toBe(true);
  });
});
