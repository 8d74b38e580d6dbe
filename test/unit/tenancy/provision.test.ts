/**
 * provision through its ports: the saga's order of steps, the undo of what was made when a later step
 * fails (with the failure's cause as the answer and nothing left behind), a second provision that changes
 * nothing, and the refusal of a name whose parts the product did not make. The systems are in-memory fakes
 * that hold state and record every call (test/support/fake-tenant-systems.ts).
 */
import { describe, expect, it } from 'vitest';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { deprovision } from '../../../shared/tenancy/deprovision.ts';
import { annotations, labels, MANAGER } from '../../../shared/tenancy/labels.ts';
import { applyProvision, planProvision } from '../../../shared/tenancy/provision.ts';
import {
  FakeTenantSystems,
  foreignParts,
  provisionSettings,
  type ForeignPart,
} from '../../support/fake-tenant-systems.ts';

const settings = provisionSettings;
const MARKER = settings.markerGroup;

const planFor = (request: { full_name?: string; email?: string }) =>
  planProvision(request, settings, new Date('2026-11-01T00:00:00Z'), 'starter-password');

/** Systems holding only the marker group, as after bootstrap. */
function systems() {
  const s = new FakeTenantSystems();
  s.addGroup(MARKER);
  return s;
}

const failure = async (work: Promise<unknown>): Promise<PlatformError> => {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof PlatformError)) throw new Error(`expected a PlatformError, got ${String(error)}`);
  return error;
};

const unavailable = (system: string) =>
  new PlatformError({ reason: 'unavailable', message: `${system} answered 503`, upstream: system });

describe('provision: the saga', () => {
  it('runs Keycloak then Grafana in one lane and the namespace then its objects in the other', async () => {
    const s = systems();
    const plan = planFor({ full_name: 'Ann', email: 'ann@example.org' });
    const result = await applyProvision(plan, settings, s.ports);

    const kubernetesSteps = plan.objects.map((o) =>
      o.kind === 'Namespace'
        ? 'kubernetes-namespace'
        : `kubernetes-${o.kind.toLowerCase()}-${o.metadata.name}`,
    );
    expect(result.steps).toEqual(
      [
        'keycloak-user',
        'keycloak-password',
        'keycloak-groups',
        'grafana-user',
        'grafana-role',
        ...kubernetesSteps,
      ].map((step) => ({ step, status: 'done' })),
    );
    // Lane one, in order: the Keycloak user, its password, its groups, then the Grafana user and its role.
    expect(
      s
        .writes()
        .filter((c) => c.method !== 'cluster.create')
        .map((c) => `${c.method} ${c.target}`),
    ).toEqual([
      'identity.createUser ann',
      `identity.setPassword ${result.user_id}`,
      `identity.ensureGroup ${MARKER}`,
      'identity.ensureGroup tenant-ann',
      `identity.addToGroup ${MARKER}`,
      'identity.addToGroup tenant-ann',
      'grafana.createUser ann',
      'grafana.setOrgRole ann',
    ]);
    // The Grafana user is made only once the Keycloak user is in the marker group (ownership.ts).
    expect(s.indexOf('grafana.createUser')).toBeGreaterThan(s.indexOf('identity.addToGroup', MARKER));
    // Lane two: the namespace first, then every object of the plan in the plan's order.
    const created = s.calls.filter((c) => c.method === 'cluster.create').map((c) => c.target);
    expect(created).toEqual(plan.objects.map((o) => `${o.kind}/${o.metadata.name}`));
    expect(created[0]).toBe('Namespace/ann');

    // What the systems hold afterwards is the tenant, whole.
    const state = s.state();
    expect(state.keycloakUsers).toEqual([
      { username: 'ann', email: 'ann@example.org', hasPassword: true, groups: ['tenant-ann', MARKER] },
    ]);
    expect(state.keycloakGroups).toEqual([MARKER, `${MARKER}/tenant-ann`]);
    expect(state.namespaces['ann']?.labels).toMatchObject({
      [labels.managedBy]: MANAGER,
      [labels.tenant]: 'ann',
    });
    expect(state.namespaces['ann']?.annotations).toMatchObject({
      [annotations.ownerTenant]: 'ann',
      [annotations.owner]: 'ann@example.org',
    });
    expect(s.objectsIn('ann')).toEqual(
      plan.objects
        .filter((o) => o.kind !== 'Namespace')
        .map((o) => `ann/${o.kind}/${o.metadata.name}`)
        .sort(),
    );
    expect(state.grafanaUsers).toEqual([
      { login: 'ann', email: 'ann@example.org', isAdmin: false, role: 'Viewer' },
    ]);
    expect(result).toMatchObject({
      username: 'ann',
      namespace: 'ann',
      plan: 'default',
      grafana: { login: 'ann' },
    });
    expect(result.password.length).toBeGreaterThanOrEqual(16);
    const kubeconfig = JSON.parse(result.kubeconfig) as { contexts: { context: { namespace: string } }[] };
    expect(kubeconfig.contexts.map((c) => c.context.namespace)).toEqual(['ann']);
  });

  it('undoes what it made, newest first and the Keycloak user last, when a later step fails', async () => {
    const s = systems();
    const before = s.state();
    const cause = unavailable('grafana');
    s.fail('grafana.setOrgRole', cause, { times: 1 });
    const error = await failure(applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports));

    // The answer is the failure's cause: its reason, status, system and message, and it may be retried.
    expect(error.cause).toBe(cause);
    expect(error).toMatchObject({ reason: 'unavailable', status: 503, retryable: true, upstream: 'grafana' });
    expect(error.message).toContain('grafana answered 503');
    expect(error.message).toContain('everything created was removed again');
    expect(error.extensions?.['rolledBack']).toBe(true);
    const steps = new Map(
      (error.extensions?.['steps'] as { step: string; status: string }[]).map((r) => [r.step, r.status]),
    );
    expect(steps.get('grafana-role')).toBe('failed');
    expect(steps.get('grafana-user')).toBe('rolled_back');
    expect(steps.get('keycloak-groups')).toBe('rolled_back');
    expect(steps.get('keycloak-user')).toBe('rolled_back');
    expect(steps.get('kubernetes-namespace')).toBe('rolled_back');

    // Undone in reverse: the Grafana user before the tenant group, the Keycloak user (the anchor) last.
    const undo = s.calls
      .slice(s.indexOf('grafana.setOrgRole') + 1)
      .filter((c) => c.method.includes('delete'));
    expect(undo.map((c) => c.method)).toEqual(
      expect.arrayContaining(['grafana.deleteUser', 'identity.deleteGroup', 'cluster.deleteNamespace']),
    );
    expect(s.indexOf('grafana.deleteUser')).toBeLessThan(s.indexOf('identity.deleteGroup', 'tenant-ann'));
    expect(s.calls.at(-1)).toEqual({ method: 'identity.deleteUser', target: 'ann' });
    // Nothing is left behind: the systems hold what they held before (the namespace took its objects along).
    expect(s.state()).toEqual(before);

    // Control: with the fault gone, the same provision succeeds; nothing of the first attempt is in its way.
    const again = await applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports);
    expect(again.steps.every((r) => r.status === 'done')).toBe(true);
    expect(s.holds('ann')).toEqual({ keycloak: true, namespace: true, grafana: true });
  });

  it('removes the namespace with the objects already made in it when a Kubernetes step fails', async () => {
    const s = systems();
    const before = s.state();
    const cause = new PlatformError({
      reason: 'forbidden',
      message: 'networkpolicies is forbidden',
      upstream: 'kubernetes',
    });
    s.fail('cluster.create', cause, { when: (target) => target.startsWith('NetworkPolicy/') });
    const error = await failure(applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports));
    expect(error).toMatchObject({
      reason: 'forbidden',
      status: 403,
      retryable: false,
      upstream: 'kubernetes',
    });
    expect(error.message).toContain('networkpolicies is forbidden');
    // Objects were made in the namespace before the failure; the undo took them with the namespace.
    const quota = s.calls.findIndex(
      (c) => c.method === 'cluster.create' && c.target.startsWith('ResourceQuota/'),
    );
    expect(quota).toBeGreaterThan(-1);
    expect(s.indexOf('cluster.deleteNamespace', 'ann')).toBeGreaterThan(quota);
    expect(s.state()).toEqual(before);
  });

  it("keeps the Keycloak user when another undo fails, so the leftovers stay the tenant's for deprovision", async () => {
    const s = systems();
    const before = s.state();
    s.fail('grafana.setOrgRole', unavailable('grafana'), { times: 1 });
    s.fail('grafana.deleteUser', unavailable('grafana'), { times: 1 });
    const error = await failure(applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports));
    expect(error.message).toContain('some parts could not be removed');
    expect(error.extensions?.['rolledBack']).toBe(false);
    const steps = new Map(
      (error.extensions?.['steps'] as { step: string; status: string }[]).map((r) => [r.step, r.status]),
    );
    expect(steps.get('grafana-user')).toBe('rollback_failed');
    expect(steps.get('keycloak-user')).toBe('kept');
    expect(steps.get('kubernetes-namespace')).toBe('rolled_back');
    // The Grafana user left behind is provably the tenant's: its Keycloak user stays in the marker group.
    expect(s.holds('ann')).toEqual({ keycloak: true, namespace: false, grafana: true });
    expect(s.groupsOf('ann')).toContain(MARKER);

    // Control: deprovision accepts these leftovers as the tenant's and removes them.
    const removed = await deprovision({ full_name: 'Ann' }, settings, s.ports);
    expect(removed.systems).toEqual({
      kubernetes: 'absent',
      keycloak: 'deleted',
      keycloakGroup: 'absent',
      grafana: 'deleted',
    });
    expect(s.state()).toEqual(before);
  });

  it('undoes the Keycloak user after everything else, even what was made before it, and keeps it when that fails', async () => {
    // The namespace is made before the Keycloak user: newest first alone would remove the user first.
    const s = systems();
    const before = s.state();
    s.holdUntil(
      'identity.createUser',
      (call) => call.method === 'cluster.create' && call.target !== 'Namespace/ann',
    );
    s.fail('grafana.setOrgRole', unavailable('grafana'), { times: 1 });
    s.fail('cluster.deleteNamespace', unavailable('kubernetes'), { times: 1 });
    const error = await failure(applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports));
    const steps = new Map(
      (error.extensions?.['steps'] as { step: string; status: string }[]).map((r) => [r.step, r.status]),
    );
    expect(steps.get('kubernetes-namespace')).toBe('rollback_failed');
    expect(steps.get('keycloak-user')).toBe('kept');
    expect(s.indexOf('identity.deleteUser')).toBe(-1);
    expect(s.holds('ann')).toEqual({ keycloak: true, namespace: true, grafana: false });
    expect(s.groupsOf('ann')).toContain(MARKER);

    // Control: deprovision removes what was left, and the systems are as before.
    await deprovision({ full_name: 'Ann' }, settings, s.ports);
    expect(s.state()).toEqual(before);
  });

  it('answers 409 conflict to a second provision of the same tenant and changes nothing', async () => {
    const s = systems();
    const first = await applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports);
    expect(first.username).toBe('ann');
    const after = s.state();
    const writesBefore = s.writes().length;

    const error = await failure(applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports));
    expect(error).toMatchObject({ reason: 'conflict', status: 409 });
    expect(error.message).toContain('already exists');
    expect(s.writes()).toHaveLength(writesBefore);
    expect(s.state()).toEqual(after);
  });
});

describe('provision: refusals', () => {
  const foreign: ForeignPart[] = [
    ...foreignParts,
    [
      "another tenant's namespace",
      (s) =>
        s.addNamespace('ann', {
          labels: { [labels.managedBy]: MANAGER, [labels.tenant]: 'bob' },
          annotations: { [annotations.ownerTenant]: 'bob' },
        }),
      'Namespace',
    ],
    [
      'a Grafana server admin',
      (s) => s.addGrafanaUser({ login: 'ann', email: 'ann@tenants.invalid', isAdmin: true }),
      'GrafanaUser',
    ],
  ];

  it.each(foreign)('refuses %s with 409 not_owned and changes nothing', async (_case, arrange, kind) => {
    const s = systems();
    arrange(s);
    const before = s.state();
    const error = await failure(applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports));
    expect(error).toMatchObject({ reason: 'not_owned', status: 409 });
    expect(error.extensions?.['notOwned']).toEqual([expect.objectContaining({ kind, name: 'ann' })]);
    expect(error.message).toContain('nothing was changed');
    expect(s.writes()).toEqual([]);
    expect(s.state()).toEqual(before);
    const annBefore = s.partsOf('ann');

    // Control: a new name beside it is provisioned, and the foreign part stays as it was.
    const bob = await applyProvision(planFor({ full_name: 'Bob' }), settings, s.ports);
    expect(bob.username).toBe('bob');
    expect(s.holds('bob')).toEqual({ keycloak: true, namespace: true, grafana: true });
    expect(s.partsOf('ann')).toEqual(annBefore);
  });

  it('uses only groups below the marker: a same-named group elsewhere is never joined or removed', async () => {
    const s = systems();
    s.addGroup('tenant-ann');
    s.fail('grafana.setOrgRole', unavailable('grafana'), { times: 1 });
    const before = s.state();
    await failure(applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports));
    // The undo removed the tenant group provision made below the marker, not the top-level one.
    expect(s.state()).toEqual(before);
    expect(before.keycloakGroups).toContain('tenant-ann');

    // Control: provisioned again, the tenant joins the group below the marker, never the top-level one.
    await applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports);
    expect(s.state().keycloakGroups).toEqual(['tenant-ann', MARKER, `${MARKER}/tenant-ann`]);
    const joined = s.calls.filter((c) => c.method === 'identity.addToGroup').map((c) => c.target);
    expect(joined.every((group) => group === MARKER || group === 'tenant-ann')).toBe(true);
    expect(s.groupsOf('ann')).toEqual(['tenant-ann', MARKER]);
  });

  it('joins a tenant group already below the marker and leaves it when the provision is undone', async () => {
    const s = systems();
    const marker = s.ports.identity.findGroup(MARKER);
    s.addGroup('tenant-ann', (await marker) ?? '');
    s.fail('grafana.setOrgRole', unavailable('grafana'), { times: 1 });
    const before = s.state();
    await failure(applyProvision(planFor({ full_name: 'Ann' }), settings, s.ports));
    // Provision did not make that group, so its undo does not remove it.
    expect(s.indexOf('identity.deleteGroup')).toBe(-1);
    expect(s.state()).toEqual(before);

    // Control: a group provision made itself (bob's) is removed by the same kind of undo.
    s.fail('grafana.setOrgRole', unavailable('grafana'), { times: 1 });
    await failure(applyProvision(planFor({ full_name: 'Bob' }), settings, s.ports));
    expect(s.indexOf('identity.deleteGroup', 'tenant-bob')).toBeGreaterThan(-1);
    expect(s.state()).toEqual(before);
  });
});
