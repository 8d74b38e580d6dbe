/**
 * What exists under one tenant name in each system, read at once (Keycloak user and its marker membership,
 * namespace, Grafana user), and whose it is (ownership.ts). Deprovision, cleanup and provision read the
 * parts first and decide on all of them before changing anything.
 */
import type { ReservedNames } from '../platform/reserved-names.ts';
import { annotations } from './labels.ts';
import {
  grafanaUserOwnership,
  keycloakUserOwnership,
  namespaceOwnership,
  provisionedEmails,
  refusals,
  type NamespaceFacts,
  type NotOwned,
  type Ownership,
} from './ownership.ts';

export interface TenantPartsPorts {
  readonly identity: {
    findGroup(name: string, parentId?: string): Promise<string | undefined>;
    findUserByUsername(
      username: string,
    ): Promise<{ id: string; username: string; email?: string } | undefined>;
    userGroups(userId: string): Promise<{ id: string; name: string }[]>;
  };
  readonly cluster: {
    readNamespace(name: string): Promise<(NamespaceFacts & { readonly uid: string }) | undefined>;
  };
  readonly grafana: {
    lookupUser(
      login: string,
    ): Promise<{ id: number; login: string; email: string; isAdmin: boolean } | undefined>;
  };
}

export interface TenantParts {
  readonly username: string;
  readonly keycloak?: {
    readonly id: string;
    readonly username: string;
    readonly email?: string;
    readonly inMarkerGroup: boolean;
  };
  readonly namespace?: NamespaceFacts & { readonly uid: string };
  readonly grafana?: {
    readonly id: number;
    readonly login: string;
    readonly email: string;
    readonly isAdmin: boolean;
  };
}

export interface TenantOwnership {
  readonly keycloak: Ownership;
  readonly namespace: Ownership;
  readonly grafana: Ownership;
}

/** What a caller that listed the marker group's members already knows: this user is one of them. */
export interface KnownMarkerMember {
  readonly groupId: string;
  readonly userId: string;
}

export async function readTenantParts(
  username: string,
  markerGroup: string,
  ports: TenantPartsPorts,
  known?: KnownMarkerMember,
): Promise<TenantParts> {
  const [marker, user, namespace, grafana] = await Promise.all([
    known === undefined ? ports.identity.findGroup(markerGroup) : known.groupId,
    ports.identity.findUserByUsername(username),
    ports.cluster.readNamespace(username),
    ports.grafana.lookupUser(username),
  ]);
  const groups =
    user === undefined || marker === undefined
      ? []
      : known?.userId === user.id
        ? [{ id: known.groupId }]
        : await ports.identity.userGroups(user.id);
  return {
    username,
    ...(user === undefined
      ? {}
      : {
          keycloak: {
            id: user.id,
            username: user.username,
            ...(user.email === undefined ? {} : { email: user.email }),
            inMarkerGroup: groups.some((g) => g.id === marker),
          },
        }),
    ...(namespace === undefined ? {} : { namespace }),
    ...(grafana === undefined ? {} : { grafana }),
  };
}

export const hasAnyPart = (parts: TenantParts): boolean =>
  parts.keycloak !== undefined || parts.namespace !== undefined || parts.grafana !== undefined;

/** Pure: whose each part is. The Grafana user's email is checked against owned evidence only. */
export function tenantOwnership(parts: TenantParts, reserved?: ReservedNames): TenantOwnership {
  const { username } = parts;
  const keycloak = keycloakUserOwnership(username, parts.keycloak);
  const namespace = namespaceOwnership(username, parts.namespace, reserved);
  const emails = provisionedEmails(username, {
    keycloakEmail: keycloak.status === 'owned' ? parts.keycloak?.email : undefined,
    namespaceOwnerEmail:
      namespace.status === 'owned' ? parts.namespace?.annotations[annotations.owner] : undefined,
  });
  return { keycloak, namespace, grafana: grafanaUserOwnership(username, parts.grafana, emails) };
}

/** The parts that are not the tenant's, Namespace first. */
export function partsNotOwned(ownership: TenantOwnership): NotOwned[] {
  return refusals(ownership.namespace, ownership.keycloak, ownership.grafana);
}
