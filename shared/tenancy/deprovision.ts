/**
 * Deprovisioning: removes what provision made, idempotently. The name is derived as provision derives it
 * (the predecessor tried the email-derived name, then the full-name-derived one; so does this, moving on
 * only when nothing of the first exists). Each system answers deleted, absent or failed; missing parts
 * count as done. The namespace deletion is requested; the answer says whether it has finished.
 */
import { PlatformError, toPlatformError } from '../platform/errors.ts';
import { tenantName, type ReservedNames } from './naming.ts';
import { notOwnedError } from './ownership.ts';
import { tenantGroupName } from './tenant-objects.ts';
import {
  hasAnyPart,
  partsNotOwned,
  readTenantParts,
  tenantOwnership,
  type TenantParts,
  type TenantPartsPorts,
} from './tenant-parts.ts';

/** 'kept': not attempted because another part failed; the identity stays so that a retry finds the tenant. */
export type Removal = 'deleted' | 'absent' | 'failed' | 'kept';

export interface DeprovisionPorts extends TenantPartsPorts {
  readonly identity: TenantPartsPorts['identity'] & {
    deleteUser(id: string): Promise<boolean>;
    deleteGroup(id: string): Promise<boolean>;
  };
  readonly cluster: TenantPartsPorts['cluster'] & {
    deleteNamespace(name: string, uid?: string): Promise<'deleted' | 'absent'>;
  };
  readonly grafana: TenantPartsPorts['grafana'] & {
    deleteUser(id: number): Promise<boolean>;
  };
}

export interface DeprovisionResult {
  readonly message: string;
  readonly username: string;
  readonly user_id: string | null;
  readonly namespace: { readonly status: Removal; readonly finished: boolean };
  readonly systems: {
    readonly kubernetes: Removal;
    readonly keycloak: Removal;
    readonly keycloakGroup: Removal;
    readonly grafana: Removal;
  };
  readonly errors?: Readonly<Record<string, string>>;
}

/** The names a request may mean, most specific first, each validated as provision validates it. */
export function candidateNames(
  request: { email?: string | undefined; full_name?: string | undefined },
  reserved: ReservedNames,
): string[] {
  const byEmail = request.email?.trim() ? tenantName({ email: request.email }, reserved) : undefined;
  const byName = request.full_name?.trim()
    ? tenantName({ fullName: request.full_name }, reserved)
    : undefined;
  if (byEmail === undefined && byName === undefined) tenantName({}, reserved); // the predecessor's 400
  return [...new Set([byEmail, byName].filter((n): n is string => n !== undefined))];
}

export async function deprovision(
  request: { email?: string | undefined; full_name?: string | undefined },
  settings: { readonly reserved: ReservedNames; readonly markerGroup: string },
  ports: DeprovisionPorts,
): Promise<DeprovisionResult> {
  const candidates = candidateNames(request, settings.reserved);
  let parts: TenantParts | undefined;
  for (const name of candidates) {
    parts = await readTenantParts(name, settings.markerGroup, ports);
    if (hasAnyPart(parts)) break;
  }
  const username = parts?.username ?? candidates[0] ?? '';
  // Every part is checked before any is deleted: one foreign part stops the whole deprovision.
  const foreign = parts === undefined ? [] : partsNotOwned(tenantOwnership(parts));
  if (foreign.length > 0) throw notOwnedError('deprovision', username, foreign);
  const removal = await removeTenant(parts ?? { username }, settings.markerGroup, ports);
  const { errors, userId, kubernetes, finished, systems } = removal;
  const result: DeprovisionResult = {
    message: 'User has been deleted successfully',
    username,
    user_id: userId,
    namespace: { status: kubernetes, finished },
    systems,
    ...(Object.keys(errors).length === 0 ? {} : { errors }),
  };
  if (Object.keys(errors).length > 0) {
    throw new PlatformError({
      reason: 'upstream',
      message: `deprovisioning "${username}" is incomplete: ${Object.entries(errors)
        .map(([system, error]) => `${system}: ${error}`)
        .join('; ')}; retrying is safe`,
      retryable: true,
      extensions: { username, systems: result.systems, namespace: result.namespace },
    });
  }
  return result;
}

export interface TenantSystemsRemoval {
  readonly kubernetes: Removal;
  readonly keycloak: Removal;
  readonly keycloakGroup: Removal;
  readonly grafana: Removal;
}

export interface TenantRemoval {
  readonly userId: string | null;
  readonly kubernetes: Removal;
  readonly finished: boolean;
  readonly systems: TenantSystemsRemoval;
  readonly errors: Readonly<Record<string, string>>;
}

/**
 * Removes the parts of one tenant that were read (and found to be the tenant's) by `readTenantParts`: the
 * namespace (only the one read: its uid is a precondition) and the Grafana user (by its id) first, at once;
 * then, only when both went well, the Keycloak user and tenant group. Keycloak is the list of tenants:
 * keeping the identity after a partial failure lets the next run (or sync) find the tenant and finish.
 * The caller checks ownership first; this removes nothing it was not given.
 */
export async function removeTenant(
  parts: TenantParts,
  markerGroup: string,
  ports: DeprovisionPorts,
): Promise<TenantRemoval> {
  const { username } = parts;
  const errors: Record<string, string> = {};
  const attempt = async (system: string, work: () => Promise<Removal>): Promise<Removal> => {
    try {
      return await work();
    } catch (error) {
      errors[system] = toPlatformError(error).message;
      return 'failed';
    }
  };
  const [kubernetes, grafana] = await Promise.all([
    attempt('kubernetes', async () => {
      const namespace = parts.namespace;
      if (namespace === undefined) return 'absent';
      return ports.cluster.deleteNamespace(namespace.name, namespace.uid);
    }),
    attempt('grafana', async () => {
      const user = parts.grafana;
      if (user === undefined) return 'absent';
      return (await ports.grafana.deleteUser(user.id)) ? 'deleted' : 'absent';
    }),
  ]);
  const go = kubernetes !== 'failed' && grafana !== 'failed';
  const user = parts.keycloak;
  const keycloak: Removal = !go
    ? 'kept'
    : user === undefined
      ? 'absent'
      : await attempt('keycloak', async () =>
          (await ports.identity.deleteUser(user.id)) ? 'deleted' : 'absent',
        );
  const keycloakGroup: Removal = go
    ? await attempt('keycloakGroup', async () => {
        const marker = await ports.identity.findGroup(markerGroup);
        const group =
          marker === undefined
            ? undefined
            : await ports.identity.findGroup(tenantGroupName(username), marker);
        if (group === undefined) return 'absent';
        return (await ports.identity.deleteGroup(group)) ? 'deleted' : 'absent';
      })
    : 'kept';
  const finished = kubernetes === 'failed' ? false : await namespaceGone(parts.namespace, ports);
  return {
    userId: keycloak === 'kept' ? null : (user?.id ?? null),
    kubernetes,
    finished,
    systems: { kubernetes, keycloak, keycloakGroup, grafana },
    errors,
  };
}

/** Whether the namespace that was deleted is gone (a namespace of the same name made since is another one). */
async function namespaceGone(
  deleted: { readonly name: string; readonly uid: string } | undefined,
  ports: DeprovisionPorts,
): Promise<boolean> {
  if (deleted === undefined) return true;
  try {
    return (await ports.cluster.readNamespace(deleted.name))?.uid !== deleted.uid;
  } catch {
    return false;
  }
}
