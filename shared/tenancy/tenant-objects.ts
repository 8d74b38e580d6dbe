/**
 * The Kubernetes objects of one tenant: its baseline (namespace, quota, limits, isolation, access) and its
 * plan's starter objects. Provision creates them; sync creates them again for a tenant whose namespace
 * went missing. Pure, so both show exactly the same objects in a dry run.
 */
import { renderBaseline, type TenantEgress, type TenantPlan } from './baseline.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import { generatePassword } from '../platform/passwords.ts';
import { renderStarter } from './starters.ts';

/** How the apiserver names a tenant's OIDC identities, and the ClusterRole tenants are bound to. */
export interface TenantAccessSettings {
  readonly tenantClusterRole: string;
  readonly oidc: { readonly usernamePrefix: string; readonly groupsPrefix: string };
  /** Where tenant pods may not send traffic; the built-in defaults when absent. */
  readonly egress?: TenantEgress;
}

export interface TenantObjectsInput {
  readonly username: string;
  /** The tenant's real email, when it has one (an annotation on the namespace). */
  readonly ownerEmail?: string;
  /** The email starter templates receive (a placeholder when the tenant has none). */
  readonly contactEmail: string;
  readonly plan: TenantPlan;
  readonly createdAt: Date;
  /** The password of the plan's starters (the webide's login); a fresh random one when absent. */
  readonly starterPassword?: string;
}

/** The Keycloak group below the marker group whose members may use the tenant's namespace. */
export const tenantGroupName = (username: string): string => `tenant-${username}`;

/** A unique placeholder email that says it is one; Grafana needs an email for every user. */
export const placeholderEmail = (username: string): string => `${username}@tenants.invalid`;

/** The tenant's baseline (namespace first, then the objects in it), without the plan's starters. */
export function renderTenantBaseline(
  input: Pick<TenantObjectsInput, 'username' | 'ownerEmail' | 'plan' | 'createdAt'>,
  access: TenantAccessSettings,
): KubernetesObject[] {
  const { username } = input;
  return renderBaseline({
    tenant: username,
    ...(input.ownerEmail === undefined ? {} : { ownerEmail: input.ownerEmail }),
    createdAt: input.createdAt,
    plan: input.plan,
    ...(access.egress === undefined ? {} : { egress: access.egress }),
    access: {
      user: `${access.oidc.usernamePrefix}${username}`,
      group: `${access.oidc.groupsPrefix}${tenantGroupName(username)}`,
      clusterRole: access.tenantClusterRole,
    },
  });
}

export function renderTenantObjects(
  input: TenantObjectsInput,
  access: TenantAccessSettings,
): KubernetesObject[] {
  const { username, plan } = input;
  // One password for all starters of one rendering, so that a Secret and what reads it agree.
  const password = input.starterPassword ?? generatePassword();
  return [
    ...renderTenantBaseline(input, access),
    ...(plan.manifests ?? []).map((template) =>
      renderStarter(template, { tenant: username, namespace: username, email: input.contactEmail, password }),
    ),
  ];
}
