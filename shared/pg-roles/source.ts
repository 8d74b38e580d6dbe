/**
 * Where the desired state comes from: the ConfigMap (key users.yaml) and the users' Secrets (key password)
 * in one namespace, read through the Kubernetes API. The Secrets are listed in pages (one call per 500),
 * not read one by one. Passwords stay in memory: they are never logged, returned or stored.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { boundedApiClient, DEFAULT_KUBERNETES_TIMEOUT_MS } from '../adapters/kubernetes/api-client.ts';
import { kubernetesCall } from '../adapters/kubernetes/errors.ts';
import { PlatformError } from '../platform/errors.ts';

export const USERS_KEY = 'users.yaml';

export interface UserSecret {
  /** uid/resourceVersion: changes whenever the Secret does. */
  readonly version: string;
  readonly password: string;
}

export interface DesiredSource {
  /** The ConfigMap's users.yaml; undefined when the ConfigMap exists without the key. Throws not_found. */
  readUsersYaml(): Promise<string | undefined>;
  /** The Secrets among `names` that exist and hold a non-empty `password`. */
  readSecrets(names: ReadonlySet<string>): Promise<Map<string, UserSecret>>;
}

export class KubernetesDesiredSource implements DesiredSource {
  private readonly core: CoreV1Api;
  private readonly namespace: string;
  private readonly configMap: string;
  private readonly pageSize: number;

  constructor(
    kc: KubeConfig,
    options: { namespace: string; configMap: string; pageSize?: number; timeoutMs?: number },
  ) {
    this.core = boundedApiClient(kc, CoreV1Api, options.timeoutMs ?? DEFAULT_KUBERNETES_TIMEOUT_MS);
    this.namespace = options.namespace;
    this.configMap = options.configMap;
    this.pageSize = options.pageSize ?? 500;
  }

  async readUsersYaml(): Promise<string | undefined> {
    try {
      const cm = await kubernetesCall(`read ConfigMap ${this.namespace}/${this.configMap}`, () =>
        this.core.readNamespacedConfigMap({ name: this.configMap, namespace: this.namespace }),
      );
      return cm.data?.[USERS_KEY];
    } catch (error) {
      if (error instanceof PlatformError && error.reason === 'not_found')
        throw new PlatformError({
          reason: 'not_found',
          message: `ConfigMap ${this.namespace}/${this.configMap} not found; nothing was changed`,
          retryable: false,
          upstream: 'kubernetes',
          cause: error,
        });
      throw error;
    }
  }

  async readSecrets(names: ReadonlySet<string>): Promise<Map<string, UserSecret>> {
    const found = new Map<string, UserSecret>();
    let token: string | undefined;
    do {
      const page = await kubernetesCall(`list Secrets in ${this.namespace}`, () =>
        this.core.listNamespacedSecret({
          namespace: this.namespace,
          limit: this.pageSize,
          ...(token === undefined ? {} : { _continue: token }),
        }),
      );
      for (const s of page.items) {
        const name = s.metadata?.name;
        const data = s.data?.password;
        if (name === undefined || !names.has(name) || data === undefined) continue;
        const password = Buffer.from(data, 'base64').toString('utf8');
        if (password === '') continue;
        found.set(name, {
          version: `${s.metadata?.uid ?? ''}/${s.metadata?.resourceVersion ?? ''}`,
          password,
        });
      }
      token = page.metadata?._continue || undefined;
    } while (token !== undefined);
    return found;
  }
}
