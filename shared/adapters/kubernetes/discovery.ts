/**
 * API discovery: every resource type the apiserver serves, in each group's preferred version (custom
 * resources included), read with one request for the core group, one for the group list and one per group.
 */
import pLimit from 'p-limit';
import type { RawKubernetes } from './raw.ts';

/** A namespaced or cluster resource type as API discovery lists it. */
export interface DiscoveredResource {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** Plural name, e.g. deployments. */
  readonly resource: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly verbs: readonly string[];
}

interface ResourceList {
  resources?: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[];
}
interface GroupList {
  groups?: { name: string; preferredVersion?: { version: string } }[];
}

function resourcesOf(list: unknown, group: string, version: string): DiscoveredResource[] {
  return ((list as ResourceList | undefined)?.resources ?? []).map((r) => ({
    group,
    version,
    resource: r.name,
    kind: r.kind,
    namespaced: r.namespaced,
    verbs: r.verbs ?? [],
  }));
}

export async function discoverResources(
  raw: Pick<RawKubernetes, 'apiGroups' | 'apiResources'>,
  concurrency = 8,
): Promise<DiscoveredResource[]> {
  const [core, groups] = await Promise.all([
    raw.apiResources({ group: '', version: 'v1' }, 'discover core resources'),
    raw.apiGroups('discover API groups'),
  ]);
  const limit = pLimit(concurrency);
  const perGroup = await Promise.all(
    ((groups as GroupList | undefined)?.groups ?? []).flatMap((g) => {
      const version = g.preferredVersion?.version;
      if (version === undefined) return [];
      return [
        limit(async () =>
          resourcesOf(
            await raw.apiResources({ group: g.name, version }, `discover ${g.name}/${version}`),
            g.name,
            version,
          ),
        ),
      ];
    }),
  );
  return [...resourcesOf(core, '', 'v1'), ...perGroup.flat()];
}
