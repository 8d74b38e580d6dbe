/** enforce's settings: Kubernetes credentials and the platform store (usage counters, audit). */
import { nonEmpty, optional, z } from '../../shared/platform/env-schema.ts';
import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig-source.ts';
import { defineConfig } from '../../shared/platform/config.ts';

export const loadConfig = defineConfig(
  {
    DATABASE_URL: nonEmpty(),
    KUBE_CONFIG: optional(z.string()),
    KUBECONFIG: optional(z.string()),
  },
  (v) => ({
    databaseUrl: v.DATABASE_URL,
    kubeconfig: kubeconfigSource({ KUBE_CONFIG: v.KUBE_CONFIG, KUBECONFIG: v.KUBECONFIG }),
  }),
);

export type EnforceConfig = ReturnType<typeof loadConfig>;
