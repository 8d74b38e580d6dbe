/**
 * Apiserver requests by resource reference (resource-path.ts), for any resource, core or custom, handled as
 * the API's JSON: what the typed clients cannot express in one call (API discovery across every group,
 * DELETE of a whole collection with label and field selectors, server-side apply and metadata-only lists of
 * any type) and the plain object calls on custom resources and on objects read and written back unchanged
 * (the typed clients' models would reshape them). Each call is bounded in time; errors become
 * PlatformErrors like every other Kubernetes call.
 */
import { request, type RequestOptions } from 'node:https';
import { request as plainRequest } from 'node:http';
import { ApiException, type KubeConfig } from '@kubernetes/client-node';
import { isNotFound, PlatformError } from '../../platform/errors.ts';
import { DEFAULT_KUBERNETES_TIMEOUT_MS } from './api-client.ts';
import { FIELD_MANAGER } from './cluster.ts';
import { kubernetesError } from './errors.ts';
import { readModifyWrite, type ReadModifyWrite, type StoredObject } from './read-modify-write.ts';
import {
  API_GROUPS_PATH,
  groupVersionPath,
  resourcePath,
  type ListQuery,
  type ObjectRef,
  type QueryParameters,
  type ResourceRef,
  type ResourceType,
} from './resource-path.ts';

/** One object of a metadata list, with its deletion facts once deletion was requested. */
export interface ListedMetadata {
  readonly namespace: string;
  readonly name: string;
  readonly deletionTimestamp?: string;
  readonly finalizers?: readonly string[];
}

/** One page of a list, as the API's JSON. */
export interface ListPage<T> {
  readonly items: T[];
  /** The token of the next page; absent on the last. */
  readonly continue?: string;
  /** How many objects follow this page, when the apiserver says (a list with a limit). */
  readonly remainingItemCount?: number;
}

type Method = 'GET' | 'DELETE' | 'PATCH' | 'POST' | 'PUT';

const json = (value: unknown) => ({ contentType: 'application/json', json: value });

export class RawKubernetes {
  private readonly kc: KubeConfig;
  private readonly server: URL;
  private readonly timeoutMs: number;

  /** `timeoutMs`: the bound of each request, from sending to the last byte (KUBERNETES_TIMEOUT_SECONDS). */
  constructor(kc: KubeConfig, options: { readonly timeoutMs?: number } = {}) {
    this.kc = kc;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_KUBERNETES_TIMEOUT_MS;
    const cluster = kc.getCurrentCluster();
    if (cluster === null)
      throw new PlatformError({ reason: 'internal', message: 'kubeconfig has no current cluster' });
    this.server = new URL(cluster.server);
  }

  private async send(
    method: Method,
    path: string,
    action: string,
    extra: {
      readonly body?: { readonly contentType: string; readonly json: unknown };
      readonly accept?: string;
    } = {},
  ): Promise<unknown> {
    const { body } = extra;
    const options: RequestOptions = {
      method,
      headers: {
        accept: extra.accept ?? 'application/json',
        ...(body === undefined ? {} : { 'content-type': body.contentType }),
      },
    };
    await this.kc.applyToHTTPSOptions(options);
    const url = new URL(path, this.server);
    const send = url.protocol === 'http:' ? plainRequest : request;
    try {
      return await new Promise((resolve, reject) => {
        const req = send(url, options, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('error', reject);
          res.on('end', () => {
            clearTimeout(deadline);
            const status = res.statusCode ?? 0;
            if (status >= 400) reject(new ApiException(status, `HTTP ${status}`, text, {}));
            else resolve(text === '' ? undefined : (JSON.parse(text) as unknown));
          });
        });
        // One bound for the whole exchange (connect, TLS, headers, body): a socket idle timeout alone
        // would let a slowly trickling answer run on.
        const deadline = setTimeout(() => {
          const timedOut = Object.assign(new Error(`no complete answer within ${this.timeoutMs} ms`), {
            code: 'ETIMEDOUT',
          });
          reject(timedOut);
          req.destroy(timedOut);
        }, this.timeoutMs);
        req.on('error', (error) => {
          clearTimeout(deadline);
          reject(error);
        });
        req.end(body === undefined ? undefined : JSON.stringify(body.json));
      });
    } catch (error) {
      throw kubernetesError(error, action);
    }
  }

  /** One object, or undefined when there is none. */
  async get<T = StoredObject>(object: ObjectRef, action: string): Promise<T | undefined> {
    try {
      return (await this.send('GET', resourcePath(object), action)) as T;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** One page of a collection (a missing resource type is a `not_found` error). */
  async list<T>(collection: ResourceRef, action: string, query: ListQuery = {}): Promise<ListPage<T>> {
    const page = (await this.send('GET', resourcePath(collection, { ...query }), action)) as
      { items?: T[]; metadata?: { continue?: string; remainingItemCount?: number } } | undefined;
    const next = page?.metadata?.continue;
    const remaining = page?.metadata?.remainingItemCount;
    return {
      items: page?.items ?? [],
      ...(next === undefined || next === '' ? {} : { continue: next }),
      ...(remaining === undefined ? {} : { remainingItemCount: remaining }),
    };
  }

  /** Creates `object` (the API's JSON) in `collection`. */
  async create(collection: ResourceRef, object: unknown, action: string): Promise<unknown> {
    return this.send('POST', resourcePath(collection), action, { body: json(object) });
  }

  /** Replaces (PUT) `object`; the resourceVersion in `body`, when set, is a precondition (else a 409). */
  async replace(object: ObjectRef, body: unknown, action: string): Promise<unknown> {
    return this.send('PUT', resourcePath(object), action, { body: json(body) });
  }

  /** Deletes one object; 'absent' when there was none. */
  async delete(object: ObjectRef, action: string): Promise<'deleted' | 'absent'> {
    try {
      await this.send('DELETE', resourcePath(object), action);
      return 'deleted';
    } catch (error) {
      if (isNotFound(error)) return 'absent';
      throw error;
    }
  }

  /**
   * Deletes every object of a collection that matches the selectors, in one request; answers how many the
   * apiserver deleted (in a dry run, would delete, after admission). A missing resource type is a
   * `not_found` error.
   */
  async deleteCollection(
    collection: ResourceRef,
    action: string,
    options: Pick<ListQuery, 'labelSelector' | 'fieldSelector'> & {
      readonly propagationPolicy?: 'Background';
      readonly dryRun?: boolean;
    } = {},
  ): Promise<number> {
    const query: QueryParameters = {
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      propagationPolicy: options.propagationPolicy,
      dryRun: options.dryRun === true ? 'All' : undefined,
    };
    const answer = (await this.send('DELETE', resourcePath(collection, query), action)) as
      { items?: unknown } | undefined;
    return Array.isArray(answer?.items) ? answer.items.length : 0;
  }

  /** A JSON merge patch of one object: the keys given change (null removes one), the others stay. */
  async mergePatch(object: ObjectRef, patch: unknown, action: string): Promise<unknown> {
    return this.send('PATCH', resourcePath(object), action, {
      body: { contentType: 'application/merge-patch+json', json: patch },
    });
  }

  /**
   * Server-side apply of `body` at `object`: creates it or brings the fields this product manages to the
   * given values, taking them over from other managers (force), in one call.
   */
  async apply(object: ObjectRef, body: unknown, action: string): Promise<unknown> {
    return this.send('PATCH', resourcePath(object, { fieldManager: FIELD_MANAGER, force: true }), action, {
      body: { contentType: 'application/apply-patch+yaml', json: body },
    });
  }

  /** Reads, changes and writes back one object, again on every concurrent write (read-modify-write.ts). */
  async readModifyWrite<R>(step: ReadModifyWrite<R>): Promise<R> {
    return readModifyWrite(this, step);
  }

  /**
   * The namespace and name of every object of a collection (all namespaces, or one) matching the
   * selectors, in pages of `pageSize` (limit/continue), as metadata only (PartialObjectMetadataList): a
   * fraction of the full objects' bytes.
   */
  async *listMetadata(
    collection: ResourceRef,
    action: string,
    selectors: Pick<ListQuery, 'labelSelector' | 'fieldSelector'> = {},
    pageSize = 500,
  ): AsyncGenerator<ListedMetadata[]> {
    let token: string | undefined;
    do {
      const path = resourcePath(collection, {
        labelSelector: selectors.labelSelector,
        fieldSelector: selectors.fieldSelector,
        limit: pageSize,
        continue: token,
      });
      const page = (await this.send('GET', path, action, {
        accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json',
      })) as {
        items?: {
          metadata?: { namespace?: string; name?: string; deletionTimestamp?: string; finalizers?: string[] };
        }[];
        metadata?: { continue?: string };
      };
      yield (page.items ?? []).map((i) => ({
        namespace: i.metadata?.namespace ?? '',
        name: i.metadata?.name ?? '',
        ...(i.metadata?.deletionTimestamp === undefined
          ? {}
          : { deletionTimestamp: i.metadata.deletionTimestamp, finalizers: i.metadata.finalizers ?? [] }),
      }));
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);
  }

  /** API discovery: the group list (APIGroupList). */
  async apiGroups(action: string): Promise<unknown> {
    return this.send('GET', API_GROUPS_PATH, action);
  }

  /** API discovery: the resources one group version serves (APIResourceList). */
  async apiResources(
    groupVersion: Pick<ResourceType, 'group' | 'version'>,
    action: string,
  ): Promise<unknown> {
    return this.send('GET', groupVersionPath(groupVersion), action);
  }
}
