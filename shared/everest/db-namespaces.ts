/**
 * Everest database namespaces on the apiserver: the state db-namespace-plan.ts plans from, and the plan
 * applied (server-side apply, so applying twice changes nothing) or a namespace removed as `everestctl
 * namespaces remove` does (database clusters, backup storages and monitoring configs first; then the OLM
 * objects; then the label or the whole namespace).
 */
import { isNotFound, PlatformError } from '../platform/errors.ts';
import type { ReservedNames } from '../platform/reserved-names.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
import type { RawKubernetes } from '../adapters/kubernetes/raw.ts';
import type { StoredObject } from '../adapters/kubernetes/read-modify-write.ts';
import type { ObjectRef, ResourceType } from '../adapters/kubernetes/resource-path.ts';
import {
  checkRemoval,
  EVEREST_TENANT_ANNOTATION,
  MANAGED_BY_EVEREST,
  MANAGED_BY_LABEL,
  OPERATOR_GROUP_NAME,
  OPERATOR_KEYS,
  OPERATORS,
  operatorOfPackage,
  type NamespacePlan,
  type NamespaceState,
  type OperatorKey,
} from './db-namespace-plan.ts';

/** What database namespaces need of the apiserver. */
export type EverestNamespacesApi = Pick<
  RawKubernetes,
  'get' | 'list' | 'apply' | 'delete' | 'deleteCollection' | 'mergePatch' | 'listMetadata'
>;

const NAMESPACES: ResourceType = { group: '', version: 'v1', resource: 'namespaces' };
const OPERATOR_GROUPS: ResourceType = {
  group: 'operators.coreos.com',
  version: 'v1',
  resource: 'operatorgroups',
};
const SUBSCRIPTIONS: ResourceType = {
  group: 'operators.coreos.com',
  version: 'v1alpha1',
  resource: 'subscriptions',
};
const everestResource = (resource: string): ResourceType => ({
  group: 'everest.percona.com',
  version: 'v1alpha1',
  resource,
});
const DATABASE_CLUSTERS = everestResource('databaseclusters');
/** Everest's own objects in a database namespace, deleted before the namespace is released. */
const EVEREST_KINDS = [
  DATABASE_CLUSTERS,
  everestResource('backupstorages'),
  everestResource('monitoringconfigs'),
];

const namespaceRef = (name: string): ObjectRef => ({ ...NAMESPACES, name });

/** Where a planned object lives. */
export function objectRef(object: KubernetesObject): ObjectRef {
  const { name, namespace } = object.metadata;
  switch (object.kind) {
    case 'Namespace':
      return namespaceRef(name);
    case 'OperatorGroup':
      return { ...OPERATOR_GROUPS, namespace: namespace ?? '', name };
    case 'Subscription':
      return { ...SUBSCRIPTIONS, namespace: namespace ?? '', name };
    default:
      throw new PlatformError({ reason: 'internal', message: `no path known for kind ${object.kind}` });
  }
}

interface NamespaceObject extends StoredObject {
  readonly status?: { readonly phase?: string };
  readonly metadata: StoredObject['metadata'] & { readonly deletionTimestamp?: string };
}

const olmMissing = (error: unknown) =>
  new PlatformError({
    reason: 'conflict',
    message: 'OLM is not installed: the apiserver does not serve operators.coreos.com Subscriptions',
    cause: error,
  });

export class EverestNamespaces {
  private readonly api: EverestNamespacesApi;

  constructor(api: EverestNamespacesApi) {
    this.api = api;
  }

  /** Installed operators; without OLM's API, an error unless `requireOlm` is false (then none). */
  private async installed(namespace: string, requireOlm: boolean): Promise<Set<OperatorKey>> {
    try {
      const list = await this.api.list<StoredObject>(
        { ...SUBSCRIPTIONS, namespace },
        `list subscriptions of ${namespace}`,
      );
      return new Set(
        list.items.flatMap((s) => {
          const key = operatorOfPackage(s.metadata.name);
          return key === undefined ? [] : [key];
        }),
      );
    } catch (error) {
      if (isNotFound(error)) {
        if (requireOlm) throw olmMissing(error);
        return new Set();
      }
      throw error;
    }
  }

  async state(namespace: string, requireOlm = true): Promise<NamespaceState> {
    const object = await this.api.get<NamespaceObject>(
      namespaceRef(namespace),
      `read namespace ${namespace}`,
    );
    if (object === undefined)
      return { exists: false, managed: false, owned: false, terminating: false, installed: new Set() };
    return {
      exists: true,
      managed: object.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_EVEREST,
      owned: object.metadata.annotations?.[EVEREST_TENANT_ANNOTATION] === namespace,
      terminating: object.status?.phase === 'Terminating' || object.metadata.deletionTimestamp !== undefined,
      installed: await this.installed(namespace, requireOlm),
    };
  }

  async apply(plan: NamespacePlan): Promise<void> {
    for (const object of plan.objects) {
      try {
        await this.api.apply(
          objectRef(object),
          object,
          `apply ${object.kind} ${plan.namespace}/${object.metadata.name}`,
        );
      } catch (error) {
        if (object.kind !== 'Namespace' && isNotFound(error)) throw olmMissing(error);
        throw error;
      }
    }
  }

  private async count(namespace: string, type: ResourceType): Promise<number> {
    try {
      const list = await this.api.list({ ...type, namespace }, `list ${type.resource} of ${namespace}`, {
        limit: 1,
      });
      return list.items.length + (list.remainingItemCount ?? 0);
    } catch (error) {
      if (isNotFound(error)) return 0; // Everest's CRDs are not installed: there are none
      throw error;
    }
  }

  /** Deletes every object of a type in `namespace`; nothing when the type is not served. */
  private async deleteAllIfServed(namespace: string, type: ResourceType): Promise<void> {
    try {
      await this.api.deleteCollection({ ...type, namespace }, `delete ${type.resource} of ${namespace}`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** What was done, step by step, for the answer. */
  async remove(
    namespace: string,
    options: {
      readonly force: boolean;
      readonly keepNamespace: boolean;
      readonly reserved?: ReservedNames | undefined;
    },
  ): Promise<{ databaseClusters: number; namespace: 'kept' | 'deleting' }> {
    // Without OLM there are no Subscriptions to remove; the namespace itself still decides.
    const state = await this.state(namespace, false);
    const databaseClusters = await this.count(namespace, DATABASE_CLUSTERS);
    checkRemoval(namespace, { ...state, databaseClusters }, options.force, options.reserved);
    for (const type of EVEREST_KINDS) await this.deleteAllIfServed(namespace, type);
    for (const key of OPERATOR_KEYS)
      await this.api.delete(
        { ...SUBSCRIPTIONS, namespace, name: OPERATORS[key].package },
        `delete subscription ${OPERATORS[key].package} of ${namespace}`,
      );
    await this.api.delete(
      { ...OPERATOR_GROUPS, namespace, name: OPERATOR_GROUP_NAME },
      `delete operator group of ${namespace}`,
    );
    if (options.keepNamespace) {
      await this.api.mergePatch(
        namespaceRef(namespace),
        { metadata: { labels: { [MANAGED_BY_LABEL]: null } } },
        `release namespace ${namespace}`,
      );
      return { databaseClusters, namespace: 'kept' };
    }
    await this.api.delete(namespaceRef(namespace), `delete namespace ${namespace}`);
    return { databaseClusters, namespace: 'deleting' };
  }

  /** Every Everest-managed namespace with its installed operators, sorted (one paged metadata list of each). */
  async listManaged(): Promise<{ namespace: string; operators: OperatorKey[] }[]> {
    const names: string[] = [];
    for await (const page of this.api.listMetadata(NAMESPACES, 'list Everest namespaces', {
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_EVEREST}`,
    }))
      names.push(...page.map((n) => n.name));
    const operators = new Map<string, Set<OperatorKey>>();
    try {
      for await (const page of this.api.listMetadata(SUBSCRIPTIONS, 'list subscriptions'))
        for (const { namespace, name } of page) {
          const key = operatorOfPackage(name);
          if (key !== undefined) operators.set(namespace, (operators.get(namespace) ?? new Set()).add(key));
        }
    } catch (error) {
      if (!isNotFound(error)) throw error; // OLM not installed: no operators anywhere
    }
    return names.sort().map((namespace) => ({
      namespace,
      operators: OPERATOR_KEYS.filter((k) => operators.get(namespace)?.has(k)),
    }));
  }
}
