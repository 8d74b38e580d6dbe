/**
 * What runs and is claimed in one namespace: its pods, its PersistentVolumeClaims and its ResourceQuotas,
 * each one list call (enforce's usage report), as the apiserver serves them. Read through RawKubernetes,
 * which enforce loads anyway: the typed CoreV1Api would add about 0.7 MiB to what its first readiness
 * check loads.
 */
import type { RawKubernetes } from './raw.ts';

export class KubernetesNamespaceUsage {
  private readonly api: Pick<RawKubernetes, 'list'>;

  constructor(api: Pick<RawKubernetes, 'list'>) {
    this.api = api;
  }

  pods<T>(namespace: string): Promise<T[]> {
    return this.core<T>(namespace, 'pods', `list pods in ${namespace}`);
  }

  persistentVolumeClaims<T>(namespace: string): Promise<T[]> {
    return this.core<T>(namespace, 'persistentvolumeclaims', `list PVCs in ${namespace}`);
  }

  resourceQuotas<T>(namespace: string): Promise<T[]> {
    return this.core<T>(namespace, 'resourcequotas', `list quotas in ${namespace}`);
  }

  private async core<T>(namespace: string, resource: string, action: string): Promise<T[]> {
    return (await this.api.list<T>({ group: '', version: 'v1', resource, namespace }, action)).items;
  }
}
