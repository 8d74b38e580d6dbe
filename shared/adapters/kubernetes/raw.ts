/**
 * Raw apiserver requests with the function's credentials, for what the typed clients cannot express in one
 * call: API discovery across every group, DELETE of a whole collection of any resource (core or custom)
 * with label and field selectors, and server-side apply of any object. Errors become PlatformErrors like
 * every other Kubernetes call.
 */
import { request, type RequestOptions } from 'node:https';
import { request as plainRequest } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { PlatformError } from '../../platform/errors.ts';
import { DEFAULT_KUBERNETES_TIMEOUT_MS } from './api-client.ts';
import { FIELD_MANAGER } from './cluster.ts';
import { kubernetesError } from './errors.ts';
import { ApiException } from '@kubernetes/client-node';

/** One object of a metadata list, with its deletion facts once deletion was requested. */
export interface ListedMetadata {
  readonly namespace: string;
  readonly name: string;
  readonly deletionTimestamp?: string;
  readonly finalizers?: readonly string[];
}

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

  async send(
    method: 'GET' | 'DELETE' | 'PATCH' | 'POST' | 'PUT',
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

  /**
   * Server-side apply of `object` at `path` (the object's own URL): creates it or brings the fields this
   * product manages to the given values, taking them over from other managers (force), in one call.
   */
  async apply(path: string, object: unknown, action: string): Promise<unknown> {
    const query = `fieldManager=${FIELD_MANAGER}&force=true`;
    return this.send('PATCH', `${path}${path.includes('?') ? '&' : '?'}${query}`, action, {
      body: { contentType: 'application/apply-patch+yaml', json: object },
    });
  }

  /**
   * The namespace and name of every object of a list path (all namespaces, or one), in pages of `pageSize`
   * (limit/continue), as metadata only (PartialObjectMetadataList): a fraction of the full objects' bytes.
   */
  async *listMetadata(path: string, action: string, pageSize = 500): AsyncGenerator<ListedMetadata[]> {
    let token: string | undefined;
    do {
      const separator = path.includes('?') ? '&' : '?';
      const query = `limit=${pageSize}${token === undefined ? '' : `&continue=${encodeURIComponent(token)}`}`;
      const page = (await this.send('GET', `${path}${separator}${query}`, action, {
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
}
