/**
 * Everest's RBAC ConfigMap (everest-system/everest-rbac): policy.csv read, and changed atomically against
 * concurrent writers (read-modify-write.ts). A missing ConfigMap is created as Everest's chart installs it
 * (`enabled: "false"`, policy `g, admin, role:admin`) before the lines are added; `enabled` is never changed
 * here: switching enforcement on is the platform owner's decision.
 */
import { EVEREST_NAMESPACE } from './accounts.ts';
import { readModifyWrite, readObject, type KubernetesApi, type StoredObject } from './read-modify-write.ts';
import {
  appendToPolicy,
  POLICY_KEY,
  RBAC_CONFIGMAP,
  removeUserFromPolicy,
  type PolicyAppend,
} from './rbac-policy.ts';

const PATH = `/api/v1/namespaces/${EVEREST_NAMESPACE}/configmaps/${RBAC_CONFIGMAP}`;
const COLLECTION = `/api/v1/namespaces/${EVEREST_NAMESPACE}/configmaps`;
const CHART_DEFAULT_POLICY = 'g, admin, role:admin\n';

export const RBAC_LOCATION = `configmap ${EVEREST_NAMESPACE}/${RBAC_CONFIGMAP} key ${POLICY_KEY}`;

interface ConfigMapObject extends StoredObject {
  readonly data?: Readonly<Record<string, string>>;
}

export interface StoredPolicy {
  readonly text: string;
  /** Whether the Everest server enforces the policy (`data.enabled` is exactly "true"). */
  readonly enabled: boolean;
}

const policyOf = (cm: ConfigMapObject | undefined): StoredPolicy => ({
  text: cm?.data?.[POLICY_KEY] ?? CHART_DEFAULT_POLICY,
  enabled: cm?.data?.enabled === 'true',
});

function withPolicy(cm: ConfigMapObject | undefined, text: string): ConfigMapObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    ...cm,
    metadata: { ...cm?.metadata, name: RBAC_CONFIGMAP, namespace: EVEREST_NAMESPACE },
    data: { enabled: 'false', ...cm?.data, [POLICY_KEY]: text },
  };
}

export class EverestRbac {
  private readonly api: KubernetesApi;

  constructor(api: KubernetesApi) {
    this.api = api;
  }

  async read(): Promise<StoredPolicy> {
    return policyOf(await readObject<ConfigMapObject>(this.api, PATH, 'read Everest RBAC policy'));
  }

  /** Appends the lines not yet present; refuses (400, nothing written) what Everest would refuse. */
  async append(lines: readonly string[], dryRun = false): Promise<PolicyAppend & { enabled: boolean }> {
    return readModifyWrite(this.api, {
      path: PATH,
      collectionPath: COLLECTION,
      action: 'update Everest RBAC policy',
      change: (current) => {
        const cm: ConfigMapObject | undefined = current;
        const stored = policyOf(cm);
        const result = { ...appendToPolicy(stored.text, lines), enabled: stored.enabled };
        const unchanged = result.added.length === 0 && cm !== undefined;
        return unchanged || dryRun ? { result } : { write: withPolicy(cm, result.text), result };
      },
    });
  }

  /** Removes a user's role bindings and the rules of roles left without members (removeUserFromPolicy). */
  async removeUser(username: string): Promise<string[]> {
    return readModifyWrite(this.api, {
      path: PATH,
      collectionPath: COLLECTION,
      action: 'update Everest RBAC policy',
      change: (current) => {
        const cm: ConfigMapObject | undefined = current;
        if (cm === undefined) return { result: [] };
        const { text, removed } = removeUserFromPolicy(policyOf(cm).text, username);
        return removed.length === 0 ? { result: removed } : { write: withPolicy(cm, text), result: removed };
      },
    });
  }
}
