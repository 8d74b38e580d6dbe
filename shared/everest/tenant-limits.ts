/**
 * A namespace's limits on the apiserver, as TenantLimitsPort: its TenantResourcePolicy read (undefined when
 * it has none), written (server-side apply: the same limits twice change nothing), and every namespace's
 * listed in pages (enforcement.ts reads and lists).
 */
import { allPolicies, readLimits, type EverestApi } from './enforcement.ts';
import type { TenantLimitsPort } from './ports.ts';
import {
  renderTenantResourcePolicy,
  specFromLimitsRow,
  tenantResourcePolicyRef,
  type LimitsRow,
  type TenantLimitsSpec,
} from './tenant-resource-policy.ts';

export class EverestLimits implements TenantLimitsPort {
  private readonly api: EverestApi;

  constructor(api: EverestApi) {
    this.api = api;
  }

  read(namespace: string): Promise<TenantLimitsSpec | undefined> {
    return readLimits(this.api, namespace);
  }

  async write(limits: LimitsRow): Promise<void> {
    await this.api.apply(
      tenantResourcePolicyRef(limits.namespace),
      renderTenantResourcePolicy(limits.namespace, specFromLimitsRow(limits)),
      `write limits of ${limits.namespace}`,
    );
  }

  all(): Promise<{ namespace: string; spec: TenantLimitsSpec }[]> {
    return allPolicies(this.api);
  }
}
