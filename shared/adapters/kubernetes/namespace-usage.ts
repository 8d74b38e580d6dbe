/**
 * What runs and is claimed in one namespace, read through the typed client: its pods, its
 * PersistentVolumeClaims and its ResourceQuotas, each one list call (enforce's usage report).
 */
import {
  CoreV1Api,
  type KubeConfig,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1ResourceQuota,
} from '@kubernetes/client-node';
import { boundedApiClient, DEFAULT_KUBERNETES_TIMEOUT_MS } from './api-client.ts';
import { kubernetesCall } from './errors.ts';

export class KubernetesNamespaceUsage {
  private readonly core: CoreV1Api;

  /** `timeoutMs`: the bound of each call (KUBERNETES_TIMEOUT_SECONDS). */
  constructor(kc: KubeConfig, options: { readonly timeoutMs?: number } = {}) {
    this.core = boundedApiClient(kc, CoreV1Api, options.timeoutMs ?? DEFAULT_KUBERNETES_TIMEOUT_MS);
  }

  async pods(namespace: string): Promise<V1Pod[]> {
    const list = await kubernetesCall(`list pods in ${namespace}`, () =>
      this.core.listNamespacedPod({ namespace }),
    );
    return list.items;
  }

  async persistentVolumeClaims(namespace: string): Promise<V1PersistentVolumeClaim[]> {
    const list = await kubernetesCall(`list PVCs in ${namespace}`, () =>
      this.core.listNamespacedPersistentVolumeClaim({ namespace }),
    );
    return list.items;
  }

  async resourceQuotas(namespace: string): Promise<V1ResourceQuota[]> {
    const list = await kubernetesCall(`list quotas in ${namespace}`, () =>
      this.core.listNamespacedResourceQuota({ namespace }),
    );
    return list.items;
  }
}
