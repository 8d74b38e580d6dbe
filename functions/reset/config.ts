/** reset's settings: Kubernetes credentials, the platform store for audit, plans for starter objects. */
import { nonEmpty, integer, optional, withDefault, zMini } from '../../shared/platform/env-schema.ts';
import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig-source.ts';
import { defineConfig } from '../../shared/platform/config.ts';
import { plansFrom, plansShape } from '../../shared/tenancy/plans.ts';
import { reservedNamesFrom, reservedNamesShape } from '../../shared/platform/reserved-names.ts';

export const loadConfig = defineConfig(
  {
    DATABASE_URL: nonEmpty(),
    KUBE_CONFIG: optional(zMini.string()),
    KUBECONFIG: optional(zMini.string()),
    ...plansShape,
    /** Namespaces reset at the same time. */
    RESET_CONCURRENCY: withDefault(integer(1, 64), 4),
    /** Namespaces one invocation resets at most; the rest continues in a follow-up. Default: no limit. */
    RESET_MAX_NAMESPACES_PER_RUN: optional(integer(1, Number.MAX_SAFE_INTEGER)),
    /**
     * Where a scheduled or event-triggered reset that stopped early sends the event that continues it: a
     * Broker's ingress URL (a Trigger routes it back here). K_SINK (a SinkBinding's) when unset.
     */
    CONTINUATION_SINK: optional(zMini.url()),
    K_SINK: optional(zMini.url()),
    /** Sent as Bearer token with the continuation event, when the sink needs one. */
    CONTINUATION_TOKEN: optional(nonEmpty()),
    ...reservedNamesShape,
  },
  (v) => ({
    databaseUrl: v.DATABASE_URL,
    kubeconfig: kubeconfigSource({ KUBE_CONFIG: v.KUBE_CONFIG, KUBECONFIG: v.KUBECONFIG }),
    plans: plansFrom(v.PLANS, v.WEBIDE_IMAGE),
    reserved: reservedNamesFrom(v),
    concurrency: v.RESET_CONCURRENCY,
    maxNamespaces: v.RESET_MAX_NAMESPACES_PER_RUN,
    continuation: {
      sink: v.CONTINUATION_SINK ?? v.K_SINK,
      token: v.CONTINUATION_TOKEN,
    },
  }),
);

export type ResetConfig = ReturnType<typeof loadConfig>;
