/**
 * Provisioning one tenant: plan (pure: the name, the objects, the steps), then apply as a saga over
 * Keycloak then Grafana in one lane and Kubernetes in another, concurrently. On failure everything this call
 * created is removed again; the error lists each step's fate. The password exists only in the success answer.
 *
 * Before anything is created every part under the name is read: parts the product did not make (a foreign
 * namespace, a Keycloak user outside the marker group, someone's Grafana user) answer 409 not_owned; parts
 * that are this tenant's answer 409 conflict (it exists: deprovision or sync). The Grafana user is created
 * only once the Keycloak user is in the marker group, and that Keycloak user is undone last and kept when
 * another undo failed: a Grafana user left behind stays provably the tenant's (ownership.ts).
 */
import { PlatformError } from '../platform/errors.ts';
import type { TenantEgress, TenantPlan } from './baseline.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import { renderTenantObjects, tenantGroupName } from './tenant-objects.ts';
import { renderTenantKubeconfig } from './kubeconfig.ts';
import { tenantName, type ReservedNames } from './naming.ts';
import { generatePassword } from '../platform/passwords.ts';
import { notOwnedError } from './ownership.ts';
import { runSaga, type Step, type StepReport } from './saga.ts';
import { usesStarterPassword } from './starters.ts';
import type { GrafanaOrgRole } from './tenant-config.ts';
import { tenantProfile, usernameRefusal } from './tenant-profile.ts';
import {
  hasAnyPart,
  partsNotOwned,
  readTenantParts,
  tenantOwnership,
  type TenantPartsPorts,
} from './tenant-parts.ts';

export interface ProvisionRequest {
  readonly full_name?: string | undefined;
  readonly email?: string | undefined;
  readonly plan?: string | undefined;
  readonly dryRun?: boolean | undefined;
}

export interface ProvisionSettings {
  readonly reserved: ReservedNames;
  readonly plans: ReadonlyMap<string, TenantPlan>;
  readonly defaultPlan: string;
  /** Keycloak group whose membership marks a tenant; each tenant's own group is created below it. */
  readonly markerGroup: string;
  readonly tenantClusterRole: string;
  /** Where tenant pods may not send traffic; the built-in defaults when absent. */
  readonly egress?: TenantEgress;
  readonly oidc: {
    readonly issuerUrl: string;
    readonly clientId: string;
    readonly usernamePrefix: string;
    readonly groupsPrefix: string;
  };
  readonly cluster: {
    readonly name: string;
    readonly server: string;
    readonly certificateAuthorityData?: string;
  };
  readonly grafana: { readonly url: string; readonly role: GrafanaOrgRole };
}

/** What provisioning needs from each system (the adapters satisfy these). */
export interface ProvisionPorts extends TenantPartsPorts {
  readonly identity: TenantPartsPorts['identity'] & {
    createUser(user: {
      username: string;
      email: string;
      firstName: string;
      lastName: string;
    }): Promise<string>;
    setPassword(id: string, password: string): Promise<void>;
    ensureGroup(name: string, parentId?: string): Promise<string>;
    addToGroup(userId: string, groupId: string): Promise<void>;
    deleteUser(id: string): Promise<boolean>;
    deleteGroup(id: string): Promise<boolean>;
  };
  readonly cluster: TenantPartsPorts['cluster'] & {
    create(object: KubernetesObject): Promise<void>;
    deleteNamespace(name: string): Promise<'deleted' | 'absent'>;
  };
  readonly grafana: TenantPartsPorts['grafana'] & {
    createUser(user: { login: string; email: string; name?: string; password: string }): Promise<number>;
    setOrgRole(userId: number, login: string, role: GrafanaOrgRole): Promise<void>;
    deleteUser(id: number): Promise<boolean>;
  };
}

export interface ProvisionPlan {
  readonly username: string;
  readonly namespace: string;
  /** The tenant's email, or its placeholder (tenant-profile.ts). */
  readonly email: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly plan: string;
  readonly tenantGroup: string;
  readonly objects: readonly KubernetesObject[];
  /** The password the plan's starters were rendered with, when one of them uses it (see starters.ts). */
  readonly starterPassword?: string;
}

/**
 * Pure: everything provisioning will create, from the request, the settings, the time and the starters'
 * password (random for a real provision, a placeholder that says so for a dry run).
 */
export function planProvision(
  request: ProvisionRequest,
  settings: ProvisionSettings,
  now: Date,
  starterPassword: string,
): ProvisionPlan {
  const username = tenantName({ email: request.email, fullName: request.full_name }, settings.reserved);
  const refusal = usernameRefusal(username);
  if (refusal !== undefined) throw new PlatformError({ reason: 'validation', message: refusal });
  const planName = request.plan ?? settings.defaultPlan;
  const plan = settings.plans.get(planName);
  if (plan === undefined) {
    throw new PlatformError({
      reason: 'validation',
      message: `unknown plan "${planName}"; known: ${[...settings.plans.keys()].join(', ')}`,
    });
  }
  const tenantGroup = tenantGroupName(username);
  const email = request.email?.trim() ?? '';
  // Everything the realm's user profile requires, so that every accepted request shape can sign in; Grafana
  // needs an email too: a tenant without one gets a unique placeholder that says so.
  const profile = tenantProfile({ username, fullName: request.full_name, email });
  const contactEmail = profile.email;
  return {
    username,
    namespace: username,
    email: contactEmail,
    firstName: profile.firstName,
    lastName: profile.lastName,
    plan: plan.name,
    tenantGroup,
    objects: renderTenantObjects(
      {
        username,
        ...(email === '' ? {} : { ownerEmail: email }),
        contactEmail,
        plan,
        createdAt: now,
        starterPassword,
      },
      settings,
    ),
    ...((plan.manifests ?? []).some(usesStarterPassword) ? { starterPassword } : {}),
  };
}

export interface ProvisionResult {
  readonly message: string;
  readonly user_id: string;
  readonly username: string;
  readonly password: string;
  /** The starters' password (the webide's login), when the plan has a starter that uses one. */
  readonly starter_password?: string;
  readonly namespace: string;
  readonly plan: string;
  readonly kubeconfig: string;
  readonly grafana: { readonly url: string; readonly login: string };
  readonly steps: readonly StepReport[];
}

/**
 * Refuses (before anything is created) a name with parts the product did not make (409 not_owned), and an
 * existing tenant (409 conflict: no second password for the same person).
 */
async function refuseExisting(plan: ProvisionPlan, settings: ProvisionSettings, ports: ProvisionPorts) {
  const parts = await readTenantParts(plan.username, settings.markerGroup, {
    ...ports,
    // Grafana unreachable here fails the create below, which undoes everything; a Grafana user that exists
    // makes that create a 409 and is never touched.
    grafana: {
      lookupUser: (login) =>
        ports.grafana.lookupUser(login).catch((error: unknown) => {
          if (error instanceof PlatformError && error.retryable) return undefined;
          throw error;
        }),
    },
  });
  const foreign = partsNotOwned(tenantOwnership(parts));
  if (foreign.length > 0) throw notOwnedError('provision', plan.username, foreign);
  if (hasAnyPart(parts)) {
    const found =
      parts.keycloak !== undefined
        ? 'Keycloak user'
        : parts.namespace !== undefined
          ? 'namespace'
          : 'Grafana user';
    throw new PlatformError({
      reason: 'conflict',
      message: `tenant "${plan.username}" already exists (${found}); deprovision it first or use sync to repair it`,
    });
  }
}

export async function applyProvision(
  plan: ProvisionPlan,
  settings: ProvisionSettings,
  ports: ProvisionPorts,
): Promise<ProvisionResult> {
  await refuseExisting(plan, settings, ports);
  const password = generatePassword();
  let userId = '';
  let grafanaId = 0;
  const { identity, cluster, grafana } = ports;

  const keycloak: Step[] = [
    {
      name: 'keycloak-user',
      run: async () => {
        userId = await identity.createUser({
          username: plan.username,
          email: plan.email,
          firstName: plan.firstName,
          lastName: plan.lastName,
        });
        const id = userId;
        return () => identity.deleteUser(id);
      },
      anchor: true,
    },
    {
      name: 'keycloak-password',
      run: async () => {
        await identity.setPassword(userId, password);
        return undefined;
      },
    },
    {
      name: 'keycloak-groups',
      run: async () => {
        const marker = await identity.ensureGroup(settings.markerGroup);
        const existing = await identity.findGroup(plan.tenantGroup, marker);
        const group = existing ?? (await identity.ensureGroup(plan.tenantGroup, marker));
        await identity.addToGroup(userId, marker);
        await identity.addToGroup(userId, group);
        return existing === undefined ? () => identity.deleteGroup(group) : undefined;
      },
    },
  ];
  const kubernetes: Step[] = plan.objects.map((object) => ({
    name: `kubernetes-${object.kind.toLowerCase()}${object.kind === 'Namespace' ? '' : `-${object.metadata.name}`}`,
    run: async () => {
      await cluster.create(object);
      // Deleting the namespace removes everything in it.
      return object.kind === 'Namespace' ? () => cluster.deleteNamespace(plan.namespace) : undefined;
    },
  }));
  const grafanaSteps: Step[] = [
    {
      name: 'grafana-user',
      run: async () => {
        grafanaId = await grafana.createUser({
          login: plan.username,
          email: plan.email,
          name: plan.username,
          password,
        });
        const id = grafanaId;
        return () => grafana.deleteUser(id);
      },
    },
    {
      name: 'grafana-role',
      run: async () => {
        await grafana.setOrgRole(grafanaId, plan.username, settings.grafana.role);
        return undefined;
      },
    },
  ];

  // Grafana after the Keycloak marker membership: see the module comment.
  const result = await runSaga([[...keycloak, ...grafanaSteps], kubernetes]);
  if (!result.ok) {
    const cause = result.failure instanceof PlatformError ? result.failure : undefined;
    // A system that did not answer (503/504) makes the request worth sending again later, even when the
    // adapter did not retry the call itself (a create that may have been processed): the retry then
    // provisions, or answers 409 for what the lost answer had made.
    const retryable =
      cause !== undefined && (cause.retryable || cause.status === 503 || cause.status === 504);
    throw new PlatformError({
      reason: cause?.reason ?? 'internal',
      ...(cause === undefined ? {} : { status: cause.status, retryable }),
      ...(cause?.upstream === undefined ? {} : { upstream: cause.upstream }),
      message: `provisioning "${plan.username}" failed: ${cause?.message ?? 'unexpected error'}; ${
        result.rolledBack
          ? 'everything created was removed again'
          : 'some parts could not be removed (see steps); sync repairs them'
      }`,
      extensions: { username: plan.username, steps: result.steps, rolledBack: result.rolledBack },
      cause: result.failure,
    });
  }
  return {
    message: 'User has been successfully created',
    user_id: userId,
    username: plan.username,
    password,
    ...(plan.starterPassword === undefined ? {} : { starter_password: plan.starterPassword }),
    namespace: plan.namespace,
    plan: plan.plan,
    kubeconfig: renderTenantKubeconfig({
      clusterName: settings.cluster.name,
      server: settings.cluster.server,
      ...(settings.cluster.certificateAuthorityData === undefined
        ? {}
        : { certificateAuthorityData: settings.cluster.certificateAuthorityData }),
      issuerUrl: settings.oidc.issuerUrl,
      clientId: settings.oidc.clientId,
      namespace: plan.namespace,
      username: plan.username,
    }),
    grafana: { url: settings.grafana.url, login: plan.username },
    steps: result.steps,
  };
}
