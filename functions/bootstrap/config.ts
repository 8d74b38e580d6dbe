/**
 * bootstrap's settings: Kubernetes credentials, the platform store (idempotency, audit, usage counters), the
 * key of the stored request fingerprints and the reserved names.
 */
import { nonEmpty, optional, zMini } from '../../shared/platform/env-schema.ts';
import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig-source.ts';
import { defineConfig } from '../../shared/platform/config.ts';
import { reservedNamesFrom, reservedNamesShape } from '../../shared/platform/reserved-names.ts';
import { idempotencySecretShape } from '../../shared/platform/request-hash.ts';

export const loadConfig = defineConfig(
  {
    DATABASE_URL: nonEmpty(),
    KUBE_CONFIG: optional(zMini.string()),
    KUBECONFIG: optional(zMini.string()),
    /**
     * Where the limits-changed CloudEvent goes after limits are written (the Broker's ingress; a Trigger
     * routes it to enforce). K_SINK (a SinkBinding's) when unset; with neither, enforce's schedule applies
     * new limits.
     */
    LIMITS_EVENT_SINK: optional(zMini.url()),
    K_SINK: optional(zMini.url()),
    /** Sent as Bearer token with the event, when the sink needs one. */
    LIMITS_EVENT_TOKEN: optional(nonEmpty()),
    ...idempotencySecretShape,
    ...reservedNamesShape,
  },
  (v) => ({
    databaseUrl: v.DATABASE_URL,
    kubeconfig: kubeconfigSource({ KUBE_CONFIG: v.KUBE_CONFIG, KUBECONFIG: v.KUBECONFIG }),
    limitsEvents: { sink: v.LIMITS_EVENT_SINK ?? v.K_SINK, token: v.LIMITS_EVENT_TOKEN },
    idempotencySecret: v.IDEMPOTENCY_KEY_SECRET,
    reserved: reservedNamesFrom(v),
  }),
);

export type BootstrapConfig = ReturnType<typeof loadConfig>;
