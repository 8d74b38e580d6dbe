/**
 * ConfigMaps and Secrets of one namespace, read through the typed client: a ConfigMap's data, and one key of
 * every Secret among given names, listed in pages (one call per page, never one per Secret). Secret values
 * stay in memory: they are never logged or put in an error.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { isNotFound, PlatformError } from '../../platform/errors.ts';
import { boundedApiClient, DEFAULT_KUBERNETES_TIMEOUT_MS } from './api-client.ts';
import { kubernetesCall } from './errors.ts';

export interface SecretValue {
  /** uid/resourceVersion: changes whenever the Secret does. */
  readonly version: string;
  /** The key's value, decoded as UTF-8. */
  readonly value: string;
}

export class KubernetesConfigObjects {
  private readonly core: CoreV1Api;

  constructor(kc: KubeConfig, options: { readonly timeoutMs?: number } = {}) {
    this.core = boundedApiClient(kc, CoreV1Api, options.timeoutMs ?? DEFAULT_KUBERNETES_TIMEOUT_MS);
  }

  /** The ConfigMap's `data`; a missing ConfigMap is a `not_found` PlatformError naming it. */
  async readConfigMapData(namespace: string, name: string): Promise<Readonly<Record<string, string>>> {
    try {
      const cm = await kubernetesCall(`read ConfigMap ${namespace}/${name}`, () =>
        this.core.readNamespacedConfigMap({ name, namespace }),
      );
      return cm.data ?? {};
    } catch (error) {
      if (isNotFound(error))
        throw new PlatformError({
          reason: 'not_found',
          message: `ConfigMap ${namespace}/${name} not found; nothing was changed`,
          retryable: false,
          upstream: 'kubernetes',
          cause: error,
        });
      throw error;
    }
  }

  /** `key` of each Secret among `names` that exists and holds it non-empty, by Secret name. */
  async readSecretValues(
    namespace: string,
    names: ReadonlySet<string>,
    key: string,
    pageSize = 500,
  ): Promise<Map<string, SecretValue>> {
    const found = new Map<string, SecretValue>();
    let token: string | undefined;
    do {
      const page = await kubernetesCall(`list Secrets in ${namespace}`, () =>
        this.core.listNamespacedSecret({
          namespace,
          limit: pageSize,
          ...(token === undefined ? {} : { _continue: token }),
        }),
      );
      for (const secret of page.items) {
        const name = secret.metadata?.name;
        const data = secret.data?.[key];
        if (name === undefined || !names.has(name) || data === undefined) continue;
        const value = Buffer.from(data, 'base64').toString('utf8');
        if (value === '') continue;
        found.set(name, {
          version: `${secret.metadata?.uid ?? ''}/${secret.metadata?.resourceVersion ?? ''}`,
          value,
        });
      }
      token = page.metadata?._continue || undefined;
    } while (token !== undefined);
    return found;
  }
}
