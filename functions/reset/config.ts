/** reset's settings: Kubernetes credentials, the platform store for audit, plans for starter objects. */
import { z } from 'zod';
import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig-source.ts';
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
    /** Namespaces one invocation resets at most; the rest continues in a follow-up. Default: no limit. */
    RESET_MAX_NAMESPACES_PER_RUN: z.coerce.number().int().min(1).optional(),
    /**
     * Where a scheduled or event-triggered reset that stopped early sends the event that continues it: a
     * Broker's ingress URL (a Trigger routes it back here). K_SINK (a SinkBinding's) when unset.
     */
    CONTINUATION_SINK: z.url().optional(),
    K_SINK: z.url().optional(),
    /** Sent as Bearer token with the continuation event, when the sink needs one. */
    CONTINUATION_TOKEN: z.string().min(1).optional(),
  },
  (v) => ({
    databaseUrl: v.DATABASE_URL,
    kubeconfig: kubeconfigSource({ KUBE_CONFIG: v.KUBE_CONFIG, KUBECONFIG: v.KUBECONFIG }),
    plans: plansFrom(v.PLANS),
    concurrency: v.RESET_CONCURRENCY,
    maxNamespaces: v.RESET_MAX_NAMESPACES_PER_RUN,
    continuation: {
      sink: v.CONTINUATION_SINK ?? v.K_SINK,
      token: v.CONTINUATION_TOKEN,
    },
  }),
);

export type ResetConfig = ReturnType<typeof loadConfig>;
