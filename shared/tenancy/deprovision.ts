/**
 * Deprovisioning: removes what provision made, idempotently. The name is derived as provision derives it
 * (the email-derived name first, then the full-name-derived one, moving on only when nothing of the first
 * exists). Each system answers deleted, absent or failed; missing parts
 * count as done. The namespace deletion is requested and then awaited for a bounded time: the namespace
 * controller deletes its content first (pods get their grace period, objects with finalizers wait for
 * whoever owns the finalizer), so the answer says `deleted` only once the namespace is gone, and otherwise
 * `terminating`, with what the controller says the deletion still waits for.
 */
import { PlatformError, toPlatformError } from '../platform/errors.ts';
import { tenantName, type ReservedNames } from './naming.ts';
import { notOwnedError, type NamespaceFacts } from './ownership.ts';
import { tenantGroupName } from './tenant-objects.ts';
import {
  hasAnyPart,
  partsNotOwned,
  readTenantParts,
  tenantOwnership,
  type TenantParts,
  type TenantPartsPorts,
} from './tenant-parts.ts';

/**
 * 'kept': not attempted because another part failed; the identity stays so that a retry finds the tenant.
 * 'terminating' (the namespace only): its deletion was requested and has not finished yet.
 */
export type Removal = 'deleted' | 'absent' | 'failed' | 'kept' | 'terminating';

/** What a deprovision waits for its namespace to be gone at most, within the request's deadline. */
export const NAMESPACE_WAIT_MS = 30_000;
/** Left of the request's deadline after the wait: the audit record and the answer. */
export const NAMESPACE_WAIT_MARGIN_MS = 5_000;
const NAMESPACE_POLL_MS = 1_000;

/** Until when a deprovision with this deadline waits for its namespace to be gone. */
export function namespaceWaitUntil(now: number, deadline: number): number {
  return Math.min(now + NAMESPACE_WAIT_MS, deadline - NAMESPACE_WAIT_MARGIN_MS);
}

export interface DeprovisionPorts extends TenantPartsPorts {
  readonly identity: TenantPartsPorts['identity'] & {
    deleteUser(id: string): Promise<boolean>;
    deleteGroup(id: string): Promise<boolean>;
  };
  readonly cluster: {
    readNamespace(
      name: string,
    ): Promise<
      (NamespaceFacts & { readonly uid: string; readonly deletionBlockers?: readonly string[] }) | undefined
    >;
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
  readonly namespace: {
    readonly status: Removal;
    /** The namespace is gone (or never was). */
    readonly finished: boolean;
    /** While terminating: what the namespace controller says its deletion waits for (finalizers, content). */
    readonly waitingFor?: readonly string[];
  };
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
  if (byEmail === undefined && byName === undefined) tenantName({}, reserved); // both missing: its 400
  return [...new Set([byEmail, byName].filter((n): n is string => n !== undefined))];
}

export interface NamespaceWait {
  /** Wait for the namespace to be gone until then (epoch ms); not at all when absent. */
  readonly until?: number;
  /** Stops the wait (caller gone, shutdown). */
  readonly signal?: AbortSignal;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export async function deprovision(
  request: { email?: string | undefined; full_name?: string | undefined },
  settings: { readonly reserved: ReservedNames; readonly markerGroup: string },
  ports: DeprovisionPorts,
  wait: NamespaceWait = {},
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
  const { errors, userId } = removal;
  const namespace =
    removal.kubernetes === 'terminating' && parts?.namespace !== undefined
      ? await awaitNamespace(parts.namespace, ports, wait)
      : { status: removal.kubernetes, finished: removal.finished };
  const systems = { ...removal.systems, kubernetes: namespace.status };
  const result: DeprovisionResult = {
    message:
      namespace.status === 'terminating'
        ? `User has been deleted; namespace ${username} is still being deleted (${
            namespace.waitingFor === undefined || namespace.waitingFor.length === 0
              ? 'the namespace controller has not said what remains yet'
              : namespace.waitingFor.join('; ')
          }): it goes once that is done; deprovisioning again reports it`
        : 'User has been deleted successfully',
    username,
    user_id: userId,
    namespace,
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
  // Deletion requested but the namespace still there: it is terminating, not deleted.
  const namespace: Removal = kubernetes === 'deleted' && !finished ? 'terminating' : kubernetes;
  return {
    userId: keycloak === 'kept' ? null : (user?.id ?? null),
    kubernetes: namespace,
    finished,
    systems: { kubernetes: namespace, keycloak, keycloakGroup, grafana },
    errors,
  };
}

/**
 * Whether the namespace that was deleted is gone (a namespace of the same name made since is another one),
 * with what its deletion waits for while it is not.
 */
async function namespaceState(
  deleted: { readonly name: string; readonly uid: string },
  ports: DeprovisionPorts,
): Promise<{ gone: boolean; waitingFor: readonly string[] }> {
  try {
    const current = await ports.cluster.readNamespace(deleted.name);
    if (current?.uid !== deleted.uid) return { gone: true, waitingFor: [] };
    return { gone: false, waitingFor: current.deletionBlockers ?? [] };
  } catch {
    return { gone: false, waitingFor: [] };
  }
}

async function namespaceGone(
  deleted: { readonly name: string; readonly uid: string } | undefined,
  ports: DeprovisionPorts,
): Promise<boolean> {
  return deleted === undefined ? true : (await namespaceState(deleted, ports)).gone;
}

/**
 * Waits, until `wait.until` at most, for a terminating namespace to be gone; answers `deleted` once it is,
 * else `terminating` with what the namespace controller says remains. Never past the bound: a finalizer
 * nobody removes leaves the namespace terminating, and the answer says so.
 */
export async function awaitNamespace(
  deleted: { readonly name: string; readonly uid: string },
  ports: DeprovisionPorts,
  wait: NamespaceWait,
): Promise<DeprovisionResult['namespace']> {
  const now = wait.now ?? Date.now;
  const sleep = wait.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (;;) {
    const state = await namespaceState(deleted, ports);
    if (state.gone) return { status: 'deleted', finished: true };
    const left = (wait.until ?? 0) - now();
    if (left <= 0 || wait.signal?.aborted === true)
      return { status: 'terminating', finished: false, waitingFor: state.waitingFor };
    await sleep(Math.min(NAMESPACE_POLL_MS, left));
  }
}
