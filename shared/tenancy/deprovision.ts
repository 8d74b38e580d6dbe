/**
 * Deprovisioning: removes what provision made, idempotently. The name is derived as provision derives it
 * (the predecessor tried the email-derived name, then the full-name-derived one; so does this, moving on
 * only when nothing of the first exists). Each system answers deleted, absent or failed; missing parts
 * count as done. The namespace deletion is requested; the answer says whether it has finished.
 */
import { PlatformError, toPlatformError } from '../platform/errors.ts';
import { tenantName, type ReservedNames } from './naming.ts';

/** 'kept': not attempted because another part failed; the identity stays so that a retry finds the tenant. */
export type Removal = 'deleted' | 'absent' | 'failed' | 'kept';

export interface DeprovisionPorts {
  readonly identity: {
    findUserByUsername(username: string): Promise<{ id: string } | undefined>;
    deleteUser(id: string): Promise<boolean>;
    findGroup(name: string, parentId?: string): Promise<string | undefined>;
    deleteGroup(id: string): Promise<boolean>;
  };
  readonly cluster: {
    namespaceExists(name: string): Promise<boolean>;
    deleteNamespace(name: string): Promise<'deleted' | 'absent'>;
  };
  readonly grafana: {
    lookupUser(login: string): Promise<{ id: number } | undefined>;
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

async function exists(name: string, ports: DeprovisionPorts): Promise<boolean> {
  const [user, namespace, grafana] = await Promise.all([
    ports.identity.findUserByUsername(name),
    ports.cluster.namespaceExists(name),
    ports.grafana.lookupUser(name),
  ]);
  return user !== undefined || namespace || grafana !== undefined;
}

export async function deprovision(
  request: { email?: string | undefined; full_name?: string | undefined },
  settings: { readonly reserved: ReservedNames; readonly markerGroup: string },
  ports: DeprovisionPorts,
): Promise<DeprovisionResult> {
  const candidates = candidateNames(request, settings.reserved);
  let username = candidates[0] ?? '';
  for (const name of candidates) {
    if (await exists(name, ports)) {
      username = name;
      break;
    }
  }
  const removal = await removeTenant(username, settings.markerGroup, ports);
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
 * Removes one tenant: the namespace and the Grafana user first (at once), then, only when both went well,
 * the Keycloak user and tenant group. Keycloak is the list of tenants: keeping the identity after a
 * partial failure lets the next run (or sync) find the tenant and finish.
 */
export async function removeTenant(
  username: string,
  markerGroup: string,
  ports: DeprovisionPorts,
): Promise<TenantRemoval> {
  const errors: Record<string, string> = {};
  const attempt = async (system: string, work: () => Promise<Removal>): Promise<Removal> => {
    try {
      return await work();
    } catch (error) {
      errors[system] = toPlatformError(error).message;
      return 'failed';
    }
  };
  let userId: string | null = null;
  const [kubernetes, grafana] = await Promise.all([
    attempt('kubernetes', () => ports.cluster.deleteNamespace(username)),
    attempt('grafana', async () => {
      const user = await ports.grafana.lookupUser(username);
      if (user === undefined) return 'absent';
      return (await ports.grafana.deleteUser(user.id)) ? 'deleted' : 'absent';
    }),
  ]);
  const go = kubernetes !== 'failed' && grafana !== 'failed';
  const keycloak: Removal = go
    ? await attempt('keycloak', async () => {
        const user = await ports.identity.findUserByUsername(username);
        if (user === undefined) return 'absent';
        userId = user.id;
        return (await ports.identity.deleteUser(user.id)) ? 'deleted' : 'absent';
      })
    : 'kept';
  const keycloakGroup: Removal = go
    ? await attempt('keycloakGroup', async () => {
        const marker = await ports.identity.findGroup(markerGroup);
        const group =
          marker === undefined ? undefined : await ports.identity.findGroup(`tenant-${username}`, marker);
        if (group === undefined) return 'absent';
        return (await ports.identity.deleteGroup(group)) ? 'deleted' : 'absent';
      })
    : 'kept';
  const finished =
    kubernetes === 'failed' ? false : !(await ports.cluster.namespaceExists(username).catch(() => true));
  return { userId, kubernetes, finished, systems: { kubernetes, keycloak, keycloakGroup, grafana }, errors };
}
