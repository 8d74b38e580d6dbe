/**
 * Where a function's Kubernetes credentials come from: an explicit kubeconfig file (KUBECONFIG, local runs
 * and tests), a kubeconfig given inline as YAML or JSON (KUBE_CONFIG, kept for compatibility:
 * docs/compatibility.md), or the pod's ServiceAccount (in cluster, the default on Knative).
 * @kubernetes/client-node is imported only here and in the modules that call the API, so functions that do
 * not talk to Kubernetes never load it.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeconfigSource } from './kubeconfig-source.ts';

export { kubeconfigSource, type KubeconfigSource } from './kubeconfig-source.ts';

export function loadKubeConfig(source: KubeconfigSource): KubeConfig {
  const kc = new KubeConfig();
  switch (source.kind) {
    case 'file':
      kc.loadFromFile(source.path);
      break;
    case 'inline':
      // A JSON document is valid YAML, so a kubeconfig given as a JSON string loads unchanged.
      kc.loadFromString(source.content);
      break;
    case 'in-cluster':
      kc.loadFromCluster();
      break;
  }
  return kc;
}
