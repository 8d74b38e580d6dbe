/**
 * Cleanup: deprovisions tenants older than the retention period. Tenants are the members of the marker
 * group (read in pages); their age is Keycloak's creation time, filtered server-side where Keycloak offers
 * it (26.6+). A tenant whose namespace carries tenant-lifecycle.dev/exempt=true is kept. A safety bound
 * refuses to delete more than a share of all tenants in one run unless forced. "Now" is an input, so tests
 * and operators can ask "who would go on that date" without waiting. Only a tenant whose every part is its
 * own (ownership.ts) is removed: one whose namespace or Grafana user the product did not make is reported
 * under `not_owned` and left entirely as it is.
 */
import pLimit from 'p-limit';
import { PlatformError } from '../platform/errors.ts';
import { removeTenant, type DeprovisionPorts, type TenantSystemsRemoval } from './deprovision.ts';
import type { ReservedNames } from '../platform/reserved-names.ts';
import { labels } from './labels.ts';
import type { NotOwned } from './ownership.ts';
import { partsNotOwned, readTenantParts, tenantOwnership, type TenantParts } from './tenant-parts.ts';

const DAY_MS = 86_400_000;

export interface CleanupPorts extends DeprovisionPorts {
  readonly members: (groupId: string) => AsyncIterable<{ id: string; username: string }[]>;
  readonly createdBefore: (
    cutoff: Date,
  ) => AsyncIterable<{ id: string; username: string; createdTimestamp?: number }[]>;
  readonly namespacePages: (selector: string) => AsyncIterable<{ name: string }[]>;
}

export interface CleanupRequest {
  readonly dryRun?: boolean | undefined;
  readonly force?: boolean | undefined;
  /** ISO date-time; defaults to the real time. */
  readonly now?: string | undefined;
}

export interface CleanupSettings {
  readonly markerGroup: string;
  /** Names never a tenant's namespace, whatever their labels say: such a tenant is reported, not removed. */
  readonly reserved?: ReservedNames;
  readonly retentionDays: number;
  /** Refuse to delete more than this share of all tenants in one run (0..1) unless forced. */
  readonly maxShare: number;
}

/**
 * `signal` stops the run at its next safe point: between tenants (one tenant's removal from every system
 * runs to its end once started). The answer then lists the tenants not started (`not_started`) and the
 * record is partial. Cleanup has no continuation of its own: the next run (the daily schedule, or the
 * caller's retry) finds the tenants still past the retention period, this run's leftovers among them.
 */
export async function cleanup(
  request: CleanupRequest,
  settings: CleanupSettings,
  ports: CleanupPorts,
  signal?: AbortSignal,
) {
  const now = request.now === undefined ? new Date() : new Date(request.now);
  const cutoff = new Date(now.getTime() - settings.retentionDays * DAY_MS);
  const marker = await ports.identity.findGroup(settings.markerGroup);
  const tenants = new Map<string, string>();
  if (marker !== undefined) {
    for await (const page of ports.members(marker)) for (const u of page) tenants.set(u.id, u.username);
  }
  const exempt = new Set<string>();
  for await (const page of ports.namespacePages(`${labels.exempt}=true`))
    for (const n of page) exempt.add(n.name);
  const old: { id: string; username: string }[] = [];
  const spared: string[] = [];
  for await (const page of ports.createdBefore(cutoff)) {
    for (const u of page) {
      if (!tenants.has(u.id)) continue;
      if (exempt.has(u.username)) spared.push(u.username);
      else old.push({ id: u.id, username: u.username });
    }
  }
  const limit = pLimit(4);
  // Every part of every candidate is read and checked before anything is deleted; the marker membership is
  // known from the members listing, so it is not asked again per candidate.
  const candidates = await Promise.all(
    old.map((u) =>
      limit(async () =>
        readTenantParts(
          u.username,
          settings.markerGroup,
          ports,
          marker === undefined ? undefined : { groupId: marker, userId: u.id },
        ),
      ),
    ),
  );
  const removable: TenantParts[] = [];
  const notOwned: { username: string; objects: NotOwned[] }[] = [];
  for (const parts of candidates) {
    const foreign = partsNotOwned(tenantOwnership(parts, settings.reserved));
    if (foreign.length === 0) removable.push(parts);
    else notOwned.push({ username: parts.username, objects: foreign });
  }
  const base = {
    cutoff: cutoff.toISOString(),
    total_tenants: tenants.size,
    exempt: spared.sort(),
    not_owned: notOwned.sort((a, b) => a.username.localeCompare(b.username)),
  };
  if (request.dryRun) {
    return {
      message: 'Dry run: nothing was deleted',
      dryRun: true,
      ...base,
      would_delete: removable.map((u) => u.username).sort(),
    };
  }
  if (removable.length > 0 && removable.length > settings.maxShare * tenants.size && request.force !== true) {
    throw new PlatformError({
      reason: 'conflict',
      message: `refusing to delete ${removable.length} of ${tenants.size} tenants in one run (more than ${Math.round(settings.maxShare * 100)}%); check the retention settings or send force: true`,
    });
  }
  const deleted: { username: string; user_id: string; systems: TenantSystemsRemoval }[] = [];
  const failed: { username: string; errors: Readonly<Record<string, string>> }[] = [];
  const notStarted: string[] = [];
  await Promise.all(
    removable.map((parts) =>
      limit(async () => {
        if (signal?.aborted === true) {
          notStarted.push(parts.username);
          return;
        }
        const removal = await removeTenant(parts, settings.markerGroup, ports);
        if (Object.keys(removal.errors).length === 0)
          deleted.push({
            username: parts.username,
            user_id: parts.keycloak?.id ?? '',
            systems: removal.systems,
          });
        else failed.push({ username: parts.username, errors: removal.errors });
      }),
    ),
  );
  return {
    message:
      notStarted.length === 0
        ? 'Cleanup completed'
        : `Cleanup stopped early: ${notStarted.length} tenants were not started; the next run removes them`,
    ...base,
    ...(notStarted.length === 0 ? {} : { not_started: notStarted.sort() }),
    deleted_users: deleted.map(({ username, user_id }) => ({ username, user_id })),
    failed_deletions: failed.map((f) => f.username),
    failures: failed,
    total_processed: removable.length - notStarted.length,
    successfully_deleted: deleted.length,
    failed: failed.length,
  };
}
