/**
 * Typed @kubernetes/client-node API clients whose every request has a bounded time. client-node sends with
 * undici's fetch and applies no timeout of its own (undici's defaults wait 300 s for headers and for body
 * data, so a frozen apiserver holds a call for five minutes); a request middleware gives each request an
 * AbortSignal that fires after `timeoutMs`, covering connect, headers and body. The abort surfaces as a
 * TimeoutError, which kubernetesError maps to a retryable 504 `timeout`.
 *
 * The abort reason is a plain Error, not the DOMException of AbortSignal.timeout: KubernetesObjectApi
 * rewrites the message of a failed discovery request (`Failed to fetch resource metadata for ...`), and
 * assigning a DOMException's read-only message throws a TypeError that would hide the timeout.
 */
import {
  ApiException,
  HttpMethod,
  KubernetesObjectApi,
  type ResponseContext,
  ServerConfiguration,
  createConfiguration,
  type Configuration,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { PlatformError } from '../../platform/errors.ts';

/** The response type that makes processResponse answer the API's JSON as parsed, without the model serializer. */
const API_JSON = 'api-json';

/** One page of a list, as the API's JSON, each item with its apiVersion and kind. */
export interface JsonListPage {
  readonly items: readonly Readonly<Record<string, unknown>>[];
  /** The token of the next page; absent on the last. */
  readonly continue?: string;
}

/** The time one apiserver call may take when the caller does not say; KUBERNETES_TIMEOUT_SECONDS' default. */
export const DEFAULT_KUBERNETES_TIMEOUT_MS = 30_000;

const USER_AGENT = 'tenant-lifecycle';

function abortAfter(timeoutMs: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => {
    controller.abort(
      Object.assign(new Error(`no complete answer within ${timeoutMs} ms`), {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      }),
    );
  }, timeoutMs).unref();
  return controller.signal;
}

/** A client-node Configuration for kc's current cluster and user, each request bounded by `timeoutMs`. */
export function boundedConfiguration(kc: KubeConfig, timeoutMs: number): Configuration {
  const cluster = kc.getCurrentCluster();
  if (cluster === null)
    throw new PlatformError({ reason: 'internal', message: 'kubeconfig has no current cluster' });
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: (context) => {
          context.setHeaderParam('User-Agent', USER_AGENT);
          context.setSignal(abortAfter(timeoutMs));
          return Promise.resolve(context);
        },
        post: (context) => Promise.resolve(context),
      },
    ],
  });
}

/** `kc.makeApiClient(Api)` with every request bounded by `timeoutMs`. */
export function boundedApiClient<T>(
  kc: KubeConfig,
  api: new (configuration: Configuration) => T,
  timeoutMs: number,
): T {
  return new api(boundedConfiguration(kc, timeoutMs));
}

/** KubernetesObjectApi.makeApiClient(kc) with every request bounded by `timeoutMs`. */
export function boundedObjectApi(kc: KubeConfig, timeoutMs: number): BoundedObjectApi {
  return BoundedObjectApi.from(kc, timeoutMs);
}

export class BoundedObjectApi extends KubernetesObjectApi {
  static from(kc: KubeConfig, timeoutMs: number): BoundedObjectApi {
    const client = new BoundedObjectApi(boundedConfiguration(kc, timeoutMs));
    // The kubeconfig context's namespace, as KubernetesObjectApi.makeApiClient sets it.
    client.setDefaultNamespace(kc);
    return client;
  }

  /**
   * Creates an object given as the API's JSON (field names as the apiserver spells them), sent unchanged.
   * KubernetesObjectApi.create expects client-node's model objects instead: it passes the object through
   * its model serializer, which silently drops every field whose model name differs from the JSON name
   * (a NetworkPolicy rule's `from`, the model's `_from`; a LimitRange's `default`, the model's `_default`)
   * and every field its models do not know.
   */
  async createJson(
    object: KubernetesObject,
    options: { readonly dryRun?: 'All'; readonly fieldManager?: string } = {},
  ): Promise<KubernetesObject> {
    return this.sendJson(object, 'create', HttpMethod.POST, 'application/json', options);
  }

  /**
   * Replaces an object (PUT) given as the API's JSON, sent unchanged (see createJson). Its
   * metadata.resourceVersion and uid, when set, are preconditions: a change meanwhile is a 409.
   */
  async replaceJson(object: KubernetesObject, fieldManager: string): Promise<KubernetesObject> {
    return this.sendJson(object, 'replace', HttpMethod.PUT, 'application/json', { fieldManager });
  }

  /**
   * One page of the objects of a kind matching `labelSelector`, in one namespace or in all, as the API's JSON
   * (KubernetesObjectApi.list answers model objects, whose field names differ from the API's, and loses the
   * continue token).
   */
  async listJson(
    apiVersion: string,
    kind: string,
    options: {
      readonly namespace?: string;
      readonly labelSelector?: string;
      readonly limit?: number;
      readonly continue?: string;
    },
  ): Promise<JsonListPage> {
    const path = await this.specUriPath(
      { apiVersion, kind, metadata: options.namespace === undefined ? {} : { namespace: options.namespace } },
      'list',
    );
    const request = this.configuration.baseServer.makeRequestContext(path, HttpMethod.GET);
    request.setHeaderParam('Accept', 'application/json');
    if (options.labelSelector !== undefined) request.setQueryParam('labelSelector', options.labelSelector);
    if (options.limit !== undefined) request.setQueryParam('limit', String(options.limit));
    if (options.continue !== undefined) request.setQueryParam('continue', options.continue);
    const list = (await this.requestPromise(request, API_JSON)) as unknown as {
      items?: Record<string, unknown>[];
      metadata?: { continue?: string };
    };
    // List items carry no apiVersion and kind of their own.
    const items = (list.items ?? []).map((item) => ({ ...item, apiVersion, kind }));
    const next = list.metadata?.continue;
    return { items, ...(next === undefined || next === '' ? {} : { continue: next }) };
  }

  /** One object as the API's JSON; reads by apiVersion, kind, namespace and name. */
  async readJson(object: KubernetesObject): Promise<Readonly<Record<string, unknown>>> {
    const path = await this.specUriPath(object, 'read');
    const request = this.configuration.baseServer.makeRequestContext(path, HttpMethod.GET);
    request.setHeaderParam('Accept', 'application/json');
    const read = (await this.requestPromise(request, API_JSON)) as unknown as Record<string, unknown>;
    return { ...read, apiVersion: object.apiVersion, kind: object.kind };
  }

  /** API_JSON answers the parsed JSON as the apiserver sent it; any other type goes through the models. */
  protected override async processResponse<T extends KubernetesObject>(
    response: ResponseContext,
    type?: string,
  ): Promise<T> {
    if (type !== API_JSON) return super.processResponse(response, type);
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299)
      return JSON.parse(await response.body.text()) as T;
    throw new ApiException(
      response.httpStatusCode,
      'Unsuccessful HTTP Request',
      await response.getBodyAsAny(),
      response.headers,
    );
  }

  /** Server-side apply of an object given as the API's JSON, sent unchanged (see createJson), forced. */
  async applyJson(object: KubernetesObject, fieldManager: string): Promise<KubernetesObject> {
    return this.sendJson(object, 'patch', HttpMethod.PATCH, 'application/apply-patch+yaml', {
      fieldManager,
      force: true,
    });
  }

  private async sendJson(
    object: KubernetesObject,
    action: 'create' | 'patch' | 'replace',
    method: HttpMethod,
    contentType: string,
    options: { readonly dryRun?: 'All'; readonly fieldManager?: string; readonly force?: boolean },
  ): Promise<KubernetesObject> {
    const path = await this.specUriPath(object, action);
    const request = this.configuration.baseServer.makeRequestContext(path, method);
    request.setHeaderParam('Accept', 'application/json');
    request.setHeaderParam('Content-Type', contentType);
    if (options.dryRun !== undefined) request.setQueryParam('dryRun', options.dryRun);
    if (options.fieldManager !== undefined) request.setQueryParam('fieldManager', options.fieldManager);
    if (options.force === true) request.setQueryParam('force', 'true');
    request.setBody(JSON.stringify(object));
    return this.requestPromise(request);
  }
}
