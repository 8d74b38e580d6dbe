/**
 * Which Kubernetes credentials a function uses, chosen from the environment by its loadConfig. Kept apart
 * from kubeconfig.ts so that reading the configuration, which happens before the function listens, does
 * not load @kubernetes/client-node (see shared/platform/server.ts).
 */
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
