/**
 * Names never handed to a tenant, nor accepted as the target of a tenant operation: the namespaces of
 * Kubernetes, Knative, Everest, the usual platform add-ons, the functions' own and pg-reconcile's. This is
 * the one definition every function that takes a tenant, namespace or account name checks against. Apart
 * from the tenancy naming rules because configuration needs it before the function listens.
 */
import { PlatformError } from './errors.ts';
import { commaList, optional, withDefault, nonEmpty, zMini, type EnvShape } from './env-schema.ts';

export interface ReservedNames {
  /** Exact names (the functions' own namespace, ...). */
  readonly exact: readonly string[];
  /** Patterns, e.g. /^kube-/. */
  readonly patterns: readonly RegExp[];
}

/** Kubernetes', Knative's, Everest's and the common platform add-ons' namespaces. */
export const builtinReservedNames: ReservedNames = {
  exact: [
    'default',
    'admin',
    'root',
    'olm',
    'operators',
    'monitoring',
    'logging',
    'observability',
    'prometheus',
    'grafana',
    'keycloak',
    'ingress',
    'ingress-nginx',
    'traefik',
    'cert-manager',
    'service-mesh',
    'istio-system',
    'linkerd',
    'cilium',
    'calico-system',
    'tigera-operator',
    'metallb-system',
    'gatekeeper-system',
    'kyverno',
    'argocd',
    'flux-system',
    'velero',
    'local-path-storage',
  ],
  patterns: [
    /^kube-/,
    /^knative-/,
    /^everest/,
    /^openshift(-|$)/,
    /^istio-/,
    /^linkerd-/,
    /^ingress-/,
    /^cert-manager-/,
    /^monitoring-/,
    /^service-mesh-/,
    /^tenant-lifecycle(-|$)/,
  ],
};

const regex = zMini.pipe(
  zMini.string(),
  zMini.transform((v, ctx) => {
    try {
      return new RegExp(v);
    } catch {
      ctx.issues.push({ code: 'custom', message: 'not a valid regular expression', input: v });
      return zMini.NEVER;
    }
  }),
);

/** The settings that extend the built-in list; every function that takes a name reads them. */
export const reservedNamesShape = {
  /** The functions' own namespace: never a tenant. */
  FUNCTIONS_NAMESPACE: withDefault(nonEmpty(), 'tenant-functions'),
  /** The namespace of pg-reconcile's ConfigMap and Secrets: never a tenant. */
  PG_RECONCILE_NAMESPACE: withDefault(nonEmpty(), 'postgres'),
  /** More exact names, comma-separated. */
  RESERVED_NAMES: optional(commaList()),
  /** One more pattern (a JavaScript regular expression). */
  RESERVED_NAME_PATTERN: optional(regex),
} satisfies EnvShape;

export function reservedNamesFrom(
  v: zMini.infer<zMini.ZodMiniObject<typeof reservedNamesShape>>,
): ReservedNames {
  return {
    exact: [
      ...builtinReservedNames.exact,
      v.FUNCTIONS_NAMESPACE,
      v.PG_RECONCILE_NAMESPACE,
      ...(v.RESERVED_NAMES ?? []),
    ],
    patterns: [
      ...builtinReservedNames.patterns,
      ...(v.RESERVED_NAME_PATTERN === undefined ? [] : [v.RESERVED_NAME_PATTERN]),
    ],
  };
}

export function isReserved(name: string, reserved: ReservedNames): boolean {
  return reserved.exact.includes(name) || reserved.patterns.some((p) => p.test(name));
}

/** 400 naming the field when `name` is reserved; `what` is how the caller calls it ("tenant", "namespace"). */
export function assertNotReserved(name: string, reserved: ReservedNames, what: string, field?: string): void {
  if (!isReserved(name, reserved)) return;
  throw new PlatformError({
    reason: 'validation',
    message: `"${name}" is a reserved name and cannot be a ${what}`,
    ...(field === undefined ? {} : { issues: [{ path: field, message: 'reserved name' }] }),
  });
}
