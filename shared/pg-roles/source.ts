/**
 * Where the desired state comes from: the ConfigMap (key users.yaml) and the users' Secrets (key password)
 * in one namespace. The Secrets are read in pages by the Kubernetes adapter, not one by one. Passwords stay
 * in memory: they are never logged, returned or stored.
 */

export const USERS_KEY = 'users.yaml';
export const PASSWORD_KEY = 'password';

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

/** What the source needs of Kubernetes (KubernetesConfigObjects, shared/adapters/kubernetes/config-objects.ts). */
export interface ConfigObjectReader {
  readConfigMapData(namespace: string, name: string): Promise<Readonly<Record<string, string>>>;
  readSecretValues(
    namespace: string,
    names: ReadonlySet<string>,
    key: string,
    pageSize?: number,
  ): Promise<Map<string, { readonly version: string; readonly value: string }>>;
}

/** The desired state in the ConfigMap `configMap` and the Secrets beside it in `namespace`. */
export class ConfigMapDesiredSource implements DesiredSource {
  private readonly reader: ConfigObjectReader;
  private readonly namespace: string;
  private readonly configMap: string;
  private readonly pageSize: number;

  constructor(
    reader: ConfigObjectReader,
    options: { readonly namespace: string; readonly configMap: string; readonly pageSize?: number },
  ) {
    this.reader = reader;
    this.namespace = options.namespace;
    this.configMap = options.configMap;
    this.pageSize = options.pageSize ?? 500;
  }

  async readUsersYaml(): Promise<string | undefined> {
    return (await this.reader.readConfigMapData(this.namespace, this.configMap))[USERS_KEY];
  }

  async readSecrets(names: ReadonlySet<string>): Promise<Map<string, UserSecret>> {
    const values = await this.reader.readSecretValues(this.namespace, names, PASSWORD_KEY, this.pageSize);
    return new Map([...values].map(([name, { version, value }]) => [name, { version, password: value }]));
  }
}
