/** enforce's settings: Kubernetes credentials and the platform store (usage counters, audit). */
import { z } from 'zod';
import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig-source.ts';
import { defineConfig } from '../../shared/platform/config.ts';

export const loadConfig = defineConfig(
  {
    DATABASE_URL: z.string().min(1),
    KUBE_CONFIG: z.string().optional(),
    KUBECONFIG: z.string().optional(),
  },
  (v) => ({
    databaseUrl: v.DATABASE_URL,
    kubeconfig: kubeconfigSource({ KUBE_CONFIG: v.KUBE_CONFIG, KUBECONFIG: v.KUBECONFIG }),
  }),
);

export type EnforceConfig = ReturnType<typeof loadConfig>;
