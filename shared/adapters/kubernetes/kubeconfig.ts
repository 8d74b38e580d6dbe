/**
 * Where a function's Kubernetes credentials come from: an explicit kubeconfig file (KUBECONFIG, local runs
 * and tests), a kubeconfig given inline as YAML or JSON (the predecessor's KUBE_CONFIG), or the pod's
 * ServiceAccount (in cluster, the default on Knative). @kubernetes/client-node is imported only here and in
 * the modules that call the API, so functions that do not talk to Kubernetes never load it.
 */
import { KubeConfig } from '@kubernetes/client-node';

export type KubeconfigSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'inline'; readonly content: string }
  | { readonly kind: 'in-cluster' };

/** Chooses the source from the environment: KUBE_CONFIG (inline), then KUBECONFIG (file), else in-cluster. */
export function kubeconfigSource(env: Readonly<Record<string, string | undefined>>): KubeconfigSource {
  const inline = env.KUBE_CONFIG?.trim();
  if (inline) return { kind: 'inline', content: inline };
  const path = env.KUBECONFIG?.trim();
  if (path) return { kind: 'file', path };
  return { kind: 'in-cluster' };
}

export function loadKubeConfig(source: KubeconfigSource): KubeConfig {
  const kc = new KubeConfig();
  switch (source.kind) {
    case 'file':
      kc.loadFromFile(source.path);
      break;
    case 'inline':
      // A JSON document is valid YAML, so the predecessor's JSON string loads unchanged.
      kc.loadFromString(source.content);
      break;
    case 'in-cluster':
      kc.loadFromCluster();
      break;
  }
  return kc;
}
