/**
 * Everest's RBAC ConfigMap (everest-system/everest-rbac): policy.csv read, and changed atomically against
 * concurrent writers (the adapter's read-modify-write). A missing ConfigMap is created as Everest's chart installs it
 * (`enabled: "false"`, policy `g, admin, role:admin`) before the lines are added; `enabled` is never changed
 * here: switching enforcement on is the platform owner's decision.
 */
import type { RawKubernetes } from '../adapters/kubernetes/raw.ts';
import type { StoredObject } from '../adapters/kubernetes/read-modify-write.ts';
import { EVEREST_NAMESPACE, everestSystemObject } from './accounts.ts';
import {
  appendToPolicy,
  POLICY_KEY,
  RBAC_CONFIGMAP,
  removeUserFromPolicy,
  type PolicyAppend,
} from './rbac-policy.ts';

/** What the RBAC policy needs of the apiserver: one object read, and read-modify-write. */
export type RbacConfigMapApi = Pick<RawKubernetes, 'get' | 'readModifyWrite'>;

const RBAC_CONFIGMAP_REF = everestSystemObject('configmaps', RBAC_CONFIGMAP);
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
  private readonly api: RbacConfigMapApi;

  constructor(api: RbacConfigMapApi) {
    this.api = api;
  }

  async read(): Promise<StoredPolicy> {
    return policyOf(await this.api.get<ConfigMapObject>(RBAC_CONFIGMAP_REF, 'read Everest RBAC policy'));
  }

  /** Appends the lines not yet present; refuses (400, nothing written) what Everest would refuse. */
  async append(lines: readonly string[], dryRun = false): Promise<PolicyAppend & { enabled: boolean }> {
    return this.api.readModifyWrite({
      object: RBAC_CONFIGMAP_REF,
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
    return this.api.readModifyWrite({
      object: RBAC_CONFIGMAP_REF,
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
