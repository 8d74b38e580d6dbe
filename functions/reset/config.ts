/** reset's settings: Kubernetes credentials, the platform store for audit, plans for starter objects. */
import { z } from 'zod';
import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig.ts';
import { defineConfig } from '../../shared/platform/config.ts';
import { plansFrom, plansSchema } from '../../shared/tenancy/plans.ts';

export const loadConfig = defineConfig(
  {
    DATABASE_URL: z.string().min(1),
    KUBE_CONFIG: z.string().optional(),
    KUBECONFIG: z.string().optional(),
    PLANS: plansSchema.optional(),
    /** Namespaces reset at the same time. */
    RESET_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  },
  (v) => ({
    databaseUrl: v.DATABASE_URL,
    kubeconfig: kubeconfigSource({ KUBE_CONFIG: v.KUBE_CONFIG, KUBECONFIG: v.KUBECONFIG }),
    plans: plansFrom(v.PLANS),
    concurrency: v.RESET_CONCURRENCY,
  }),
);

export type ResetConfig = ReturnType<typeof loadConfig>;
