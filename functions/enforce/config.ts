/** enforce's settings: Kubernetes credentials, the platform store (usage counters, audit), reserved names. */
import { nonEmpty, optional, zMini } from '../../shared/platform/env-schema.ts';
import { kubeconfigSource } from '../../shared/adapters/kubernetes/kubeconfig-source.ts';
import { defineConfig } from '../../shared/platform/config.ts';
import { reservedNamesFrom, reservedNamesShape } from '../../shared/platform/reserved-names.ts';

export const loadConfig = defineConfig(
  {
    DATABASE_URL: nonEmpty(),
    KUBE_CONFIG: optional(zMini.string()),
    KUBECONFIG: optional(zMini.string()),
    ...reservedNamesShape,
  },
  (v) => ({
    databaseUrl: v.DATABASE_URL,
    kubeconfig: kubeconfigSource({ KUBE_CONFIG: v.KUBE_CONFIG, KUBECONFIG: v.KUBECONFIG }),
    reserved: reservedNamesFrom(v),
  }),
);

export type EnforceConfig = ReturnType<typeof loadConfig>;
