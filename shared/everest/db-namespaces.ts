/**
 * Everest database namespaces on the apiserver: the state db-namespace-plan.ts plans from, and the plan
 * applied (server-side apply, so applying twice changes nothing) or a namespace removed as `everestctl
 * namespaces remove` does (database clusters, backup storages and monitoring configs first; then the OLM
 * objects; then the label or the whole namespace).
 */
import { PlatformError } from '../platform/errors.ts';
import type { ReservedNames } from '../platform/reserved-names.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';
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
import { isNotFound, readObject, type KubernetesApi, type StoredObject } from './read-modify-write.ts';

const OLM = '/apis/operators.coreos.com';
const EVEREST = '/apis/everest.percona.com/v1alpha1';
/** Everest's own objects in a database namespace, deleted before the namespace is released. */
const EVEREST_KINDS = ['databaseclusters', 'backupstorages', 'monitoringconfigs'] as const;

const ns = (namespace: string) => encodeURIComponent(namespace);

export function objectPath(object: KubernetesObject): string {
  const { name, namespace } = object.metadata;
  switch (object.kind) {
    case 'Namespace':
      return `/api/v1/namespaces/${ns(name)}`;
    case 'OperatorGroup':
      return `${OLM}/v1/namespaces/${ns(namespace ?? '')}/operatorgroups/${encodeURIComponent(name)}`;
    case 'Subscription':
      return `${OLM}/v1alpha1/namespaces/${ns(namespace ?? '')}/subscriptions/${encodeURIComponent(name)}`;
    default:
      throw new PlatformError({ reason: 'internal', message: `no path known for kind ${object.kind}` });
  }
}

interface NamespaceObject extends StoredObject {
  readonly status?: { readonly phase?: string };
  readonly metadata: StoredObject['metadata'] & { readonly deletionTimestamp?: string };
}

interface ListOf<T> {
  readonly items?: readonly T[];
  readonly metadata?: { readonly continue?: string };
}

const olmMissing = (error: unknown) =>
  new PlatformError({
    reason: 'conflict',
    message: 'OLM is not installed: the apiserver does not serve operators.coreos.com Subscriptions',
    cause: error,
  });

export class EverestNamespaces {
  private readonly api: KubernetesApi;

  constructor(api: KubernetesApi) {
    this.api = api;
  }

  /** Installed operators; without OLM's API, an error unless `requireOlm` is false (then none). */
  private async installed(namespace: string, requireOlm: boolean): Promise<Set<OperatorKey>> {
    try {
      const list = (await this.api.send(
        'GET',
        `${OLM}/v1alpha1/namespaces/${ns(namespace)}/subscriptions`,
        `list subscriptions of ${namespace}`,
      )) as ListOf<StoredObject>;
      return new Set(
        (list.items ?? []).flatMap((s) => {
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
    const object = await readObject<NamespaceObject>(
      this.api,
      `/api/v1/namespaces/${ns(namespace)}`,
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
          objectPath(object),
          object,
          `apply ${object.kind} ${plan.namespace}/${object.metadata.name}`,
        );
      } catch (error) {
        if (object.kind !== 'Namespace' && isNotFound(error)) throw olmMissing(error);
        throw error;
      }
    }
  }

  private async count(namespace: string, plural: string): Promise<number> {
    try {
      const list = (await this.api.send(
        'GET',
        `${EVEREST}/namespaces/${ns(namespace)}/${plural}?limit=1`,
        `list ${plural} of ${namespace}`,
      )) as ListOf<unknown> & { metadata?: { remainingItemCount?: number } };
      return (list.items?.length ?? 0) + (list.metadata?.remainingItemCount ?? 0);
    } catch (error) {
      if (isNotFound(error)) return 0; // Everest's CRDs are not installed: there are none
      throw error;
    }
  }

  private async deleteIfPresent(path: string, action: string): Promise<void> {
    try {
      await this.api.send('DELETE', path, action);
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
    const databaseClusters = await this.count(namespace, 'databaseclusters');
    checkRemoval(namespace, { ...state, databaseClusters }, options.force, options.reserved);
    for (const plural of EVEREST_KINDS)
      await this.deleteIfPresent(
        `${EVEREST}/namespaces/${ns(namespace)}/${plural}`,
        `delete ${plural} of ${namespace}`,
      );
    for (const key of OPERATOR_KEYS)
      await this.deleteIfPresent(
        `${OLM}/v1alpha1/namespaces/${ns(namespace)}/subscriptions/${OPERATORS[key].package}`,
        `delete subscription ${OPERATORS[key].package} of ${namespace}`,
      );
    await this.deleteIfPresent(
      `${OLM}/v1/namespaces/${ns(namespace)}/operatorgroups/${OPERATOR_GROUP_NAME}`,
      `delete operator group of ${namespace}`,
    );
    if (options.keepNamespace) {
      await this.api.send('PATCH', `/api/v1/namespaces/${ns(namespace)}`, `release namespace ${namespace}`, {
        body: {
          contentType: 'application/merge-patch+json',
          json: { metadata: { labels: { [MANAGED_BY_LABEL]: null } } },
        },
      });
      return { databaseClusters, namespace: 'kept' };
    }
    await this.deleteIfPresent(`/api/v1/namespaces/${ns(namespace)}`, `delete namespace ${namespace}`);
    return { databaseClusters, namespace: 'deleting' };
  }

  /** Every Everest-managed namespace with its installed operators, sorted (one paged metadata list of each). */
  async listManaged(): Promise<{ namespace: string; operators: OperatorKey[] }[]> {
    const names: string[] = [];
    const selector = encodeURIComponent(`${MANAGED_BY_LABEL}=${MANAGED_BY_EVEREST}`);
    for await (const page of this.api.listMetadata(
      `/api/v1/namespaces?labelSelector=${selector}`,
      'list Everest namespaces',
    ))
      names.push(...page.map((n) => n.name));
    const operators = new Map<string, Set<OperatorKey>>();
    try {
      for await (const page of this.api.listMetadata(`${OLM}/v1alpha1/subscriptions`, 'list subscriptions'))
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
