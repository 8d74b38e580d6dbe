/**
 * Names never handed to a tenant. Apart from naming.ts because the configuration (systems-config.ts) needs
 * them before the function listens, and naming.ts loads any-ascii, which is large.
 */
export interface ReservedNames {
  /** Exact names never handed to a tenant (the functions' own namespace, ...). */
  readonly exact: readonly string[];
  /** Patterns never handed to a tenant, e.g. /^kube-/. */
  readonly patterns: readonly RegExp[];
}

/** Kubernetes', Knative's and Everest's own namespaces. */
export const builtinReservedNames: ReservedNames = {
  exact: ['default', 'everest-system', 'everest-olm', 'everest-monitoring', 'cert-manager', 'olm'],
  patterns: [/^kube-/, /^knative-/, /^openshift(-|$)/],
};

export function isReserved(name: string, reserved: ReservedNames): boolean {
  return reserved.exact.includes(name) || reserved.patterns.some((p) => p.test(name));
}
