/**
 * The few Kubernetes operations tenant provisioning needs: create rendered objects (create, never
 * overwrite: an existing object is a 409 the caller decides about), read and delete a namespace; and for
 * sync's baseline repair, list objects by label across namespaces and replace one read before.
 */
import { CoreV1Api, PatchStrategy, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import { isNotFound } from '../../platform/errors.ts';
import type { KubernetesObject } from './objects.ts';
import {
  boundedApiClient,
  boundedObjectApi,
  DEFAULT_KUBERNETES_TIMEOUT_MS,
  type BoundedObjectApi,
} from './api-client.ts';
import { kubernetesCall } from './errors.ts';

export const FIELD_MANAGER = 'tenant-lifecycle';

export interface NamespaceSummary {
  readonly name: string;
  /** Identifies this namespace, not a later one of the same name (a precondition of deletes and patches). */
  readonly uid: string;
  readonly resourceVersion: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  /** Deletion requested: nothing can be created in it any more. */
  readonly terminating: boolean;
  /** While terminating: what the namespace controller last said the deletion waits for (may be empty). */
  readonly deletionBlockers: readonly string[];
}

/**
 * The namespace controller's own account of what a terminating namespace still waits for: the messages of
 * its deletion conditions that are True (content remaining, finalizers remaining, content it failed to
 * delete or discover), e.g. "Some content in the namespace has finalizers remaining: example.com/drain in
 * 1 resource instances". The controller writes them on each pass, so right after the deletion they may
 * still be absent even though content remains.
 */
export function deletionBlockers(
  conditions: readonly { readonly type: string; readonly status: string; readonly message?: string }[],
): string[] {
  const blocking = new Set([
    'NamespaceFinalizersRemaining',
    'NamespaceContentRemaining',
    'NamespaceDeletionContentFailure',
    'NamespaceDeletionDiscoveryFailure',
    'NamespaceDeletionGroupVersionParsingFailure',
  ]);
  return conditions
    .filter((c) => blocking.has(c.type) && c.status === 'True')
    .map((c) => c.message ?? c.type);
}

function summary(n: V1Namespace): NamespaceSummary {
  const terminating = n.status?.phase === 'Terminating' || n.metadata?.deletionTimestamp !== undefined;
  return {
    name: n.metadata?.name ?? '',
    uid: n.metadata?.uid ?? '',
    resourceVersion: n.metadata?.resourceVersion ?? '',
    labels: n.metadata?.labels ?? {},
    annotations: n.metadata?.annotations ?? {},
    terminating,
    deletionBlockers: terminating ? deletionBlockers(n.status?.conditions ?? []) : [],
  };
}

const where = (object: KubernetesObject): string =>
  object.metadata.namespace === undefined ? '' : ` in ${object.metadata.namespace}`;

export class KubernetesCluster {
  private readonly objects: BoundedObjectApi;
  private readonly core: CoreV1Api;

  /** `timeoutMs`: the bound of each apiserver call (KUBERNETES_TIMEOUT_SECONDS). */
  constructor(kc: KubeConfig, options: { readonly timeoutMs?: number } = {}) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_KUBERNETES_TIMEOUT_MS;
    this.objects = boundedObjectApi(kc, timeoutMs);
    this.core = boundedApiClient(kc, CoreV1Api, timeoutMs);
  }

  async create(object: KubernetesObject, dryRun = false): Promise<void> {
    await kubernetesCall(`create ${object.kind} ${object.metadata.name}${where(object)}`, () =>
      this.objects.createJson(object, { fieldManager: FIELD_MANAGER, ...(dryRun ? { dryRun: 'All' } : {}) }),
    );
  }

  /**
   * Replaces an object (PUT) with `object`, sent as the API's JSON. Its metadata.uid and resourceVersion,
   * when set, are preconditions: an object changed or recreated since it was read is a 409 `conflict`.
   */
  async replace(object: KubernetesObject): Promise<void> {
    await kubernetesCall(`replace ${object.kind} ${object.metadata.name}${where(object)}`, () =>
      this.objects.replaceJson(object, FIELD_MANAGER),
    );
  }

  /** One object as the API's JSON, or undefined when there is none. */
  async read(object: KubernetesObject): Promise<Readonly<Record<string, unknown>> | undefined> {
    try {
      return await kubernetesCall(`read ${object.kind} ${object.metadata.name}${where(object)}`, () =>
        this.objects.readJson(object),
      );
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Deletes the object with this uid (one recreated meanwhile under the same name is a 409); 'absent' when gone. */
  async deleteObject(object: KubernetesObject, uid: string): Promise<'deleted' | 'absent'> {
    try {
      await kubernetesCall(`delete ${object.kind} ${object.metadata.name}${where(object)}`, () =>
        this.objects.delete(object, undefined, undefined, undefined, undefined, undefined, {
          preconditions: { uid },
        }),
      );
      return 'deleted';
    } catch (error) {
      if (isNotFound(error)) return 'absent';
      throw error;
    }
  }

  /**
   * The objects of a kind matching a label selector, in every namespace (or in `namespace`), as the API's
   * JSON, in pages (limit/continue): one call per page, whatever the number of namespaces.
   */
  async *objectPages(
    kind: { readonly apiVersion: string; readonly kind: string },
    labelSelector: string,
    options: { readonly namespace?: string; readonly pageSize?: number } = {},
  ): AsyncGenerator<Readonly<Record<string, unknown>>[]> {
    let token: string | undefined;
    do {
      const page = await kubernetesCall(
        `list ${kind.kind} objects${options.namespace === undefined ? '' : ` in ${options.namespace}`}`,
        () =>
          this.objects.listJson(kind.apiVersion, kind.kind, {
            labelSelector,
            limit: options.pageSize ?? 500,
            ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
            ...(token === undefined ? {} : { continue: token }),
          }),
      );
      yield [...page.items];
      token = page.continue;
    } while (token !== undefined);
  }

  async namespaceExists(name: string): Promise<boolean> {
    try {
      await kubernetesCall(`read namespace ${name}`, () => this.core.readNamespace({ name }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** One namespace's summary, or undefined when there is none. */
  async readNamespace(name: string): Promise<NamespaceSummary | undefined> {
    try {
      const n = await kubernetesCall(`read namespace ${name}`, () => this.core.readNamespace({ name }));
      return summary(n);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Requests deletion; 'absent' when there was nothing to delete. The namespace controller finishes it. With
   * `uid`, only the namespace that was read is deleted: one recreated meanwhile under the same name is a 409.
   */
  async deleteNamespace(name: string, uid?: string): Promise<'deleted' | 'absent'> {
    try {
      await kubernetesCall(`delete namespace ${name}`, () =>
        this.core.deleteNamespace({
          name,
          propagationPolicy: 'Background',
          ...(uid === undefined || uid === '' ? {} : { body: { preconditions: { uid } } }),
        }),
      );
      return 'deleted';
    } catch (error) {
      if (isNotFound(error)) return 'absent';
      throw error;
    }
  }

  /**
   * Adds labels and annotations to an existing namespace (a JSON merge patch: other keys stay). The
   * resourceVersion read before makes it a 409 when the namespace changed since.
   */
  async labelNamespace(
    namespace: Pick<NamespaceSummary, 'name' | 'resourceVersion'>,
    add: { labels: Record<string, string>; annotations: Record<string, string> },
  ): Promise<void> {
    await kubernetesCall(`label namespace ${namespace.name}`, () =>
      this.objects.patch(
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: {
            name: namespace.name,
            resourceVersion: namespace.resourceVersion,
            labels: add.labels,
            annotations: add.annotations,
          },
        },
        undefined,
        undefined,
        FIELD_MANAGER,
        undefined,
        PatchStrategy.MergePatch,
      ),
    );
  }

  /** Namespaces matching a label selector, read in pages (limit/continue): API calls grow with N/page. */
  async *namespacePages(labelSelector: string, pageSize = 500): AsyncGenerator<NamespaceSummary[]> {
    let token: string | undefined;
    do {
      const page = await kubernetesCall('list tenant namespaces', () =>
        this.core.listNamespace({
          labelSelector,
          limit: pageSize,
          ...(token === undefined ? {} : { _continue: token }),
        }),
      );
      yield page.items.map(summary);
      token = page.metadata?._continue || undefined;
    } while (token !== undefined);
  }
}
