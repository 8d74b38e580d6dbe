/**
 * Everest database namespaces, planned as `everestctl namespaces add|update|remove` would, with Everest's
 * rules and messages, and rendered as what Everest's everest-db-namespace chart creates, without Helm: the
 * Namespace labelled app.kubernetes.io/managed-by=everest, the OLM OperatorGroup everest-databases
 * targeting it, and one OLM Subscription per chosen operator from everest-catalog (Manual approval, as the
 * chart). Operators can be added, never removed (Everest warns and goes on). Pure: state in, plan out.
 * Not rendered: the chart's RoleBinding for the everest-operator and its install-plan approver hook Job,
 * which belong to Everest's own installation.
 */
import { PlatformError } from '../platform/errors.ts';
import { RFC1035_LABEL } from '../platform/kubernetes-names.ts';
import { assertNotReserved, type ReservedNames } from '../platform/reserved-names.ts';
import type { KubernetesObject } from '../adapters/kubernetes/objects.ts';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_EVEREST = 'everest';
/**
 * Set by this product on every database namespace it makes or adopts, its value the namespace's own name
 * (the tenant: its role is role:tenant-<namespace>). Kept when the namespace is released (keep_namespace),
 * so it may be adopted again. Without it a namespace is someone else's: not updated, removed or adopted.
 */
export const EVEREST_TENANT_ANNOTATION = 'tenant-lifecycle.dev/everest-tenant';
export const OPERATOR_GROUP_NAME = 'everest-databases';
export const CATALOG_SOURCE = 'everest-catalog';
export const CATALOG_NAMESPACE = 'everest-olm';
export const RESERVED_NAMESPACES: ReadonlySet<string> = new Set([
  'everest-system',
  'everest-monitoring',
  'everest-olm',
]);

/** The operators the API offers and their OLM packages (chart everest-db-namespace). */
export const OPERATORS = {
  postgresql: { package: 'percona-postgresql-operator', channel: 'stable-v2' },
  mongodb: { package: 'percona-server-mongodb-operator', channel: 'stable-v1' },
  xtradb_cluster: { package: 'percona-xtradb-cluster-operator', channel: 'stable-v1' },
} as const;
export type OperatorKey = keyof typeof OPERATORS;
export const OPERATOR_KEYS = Object.keys(OPERATORS) as OperatorKey[];
export type OperatorChoice = Readonly<Partial<Record<OperatorKey, boolean>>>;

export function operatorOfPackage(name: string): OperatorKey | undefined {
  return OPERATOR_KEYS.find((k) => OPERATORS[k].package === name);
}

/**
 * Everest's name rules, then the product's reserved names (shared/platform/reserved-names.ts, from the
 * configuration): a 400 naming the field either way.
 */
export function checkNamespaceName(namespace: string, reserved?: ReservedNames): void {
  if (!RFC1035_LABEL.test(namespace))
    throw new PlatformError({
      reason: 'validation',
      message: `'${namespace}' is not a valid namespace name (RFC 1035 label: lower-case letters, digits and '-', starting with a letter, at most 63)`,
      issues: [{ path: 'namespace', message: 'an RFC 1035 label' }],
    });
  if (RESERVED_NAMESPACES.has(namespace))
    throw new PlatformError({
      reason: 'validation',
      message: `'${namespace}' namespace is reserved for Everest internals. Please specify another namespace`,
      issues: [{ path: 'namespace', message: 'reserved for Everest' }],
    });
  if (reserved !== undefined) assertNotReserved(namespace, reserved, 'database namespace', 'namespace');
}

/** What the cluster holds of a namespace. */
export interface NamespaceState {
  readonly exists: boolean;
  /** Labelled app.kubernetes.io/managed-by=everest. */
  readonly managed: boolean;
  /** Annotated by this product as its tenant's (EVEREST_TENANT_ANNOTATION names the namespace). */
  readonly owned: boolean;
  /** Whether it is being deleted. */
  readonly terminating: boolean;
  /** Operators whose Subscription exists in it. */
  readonly installed: ReadonlySet<OperatorKey>;
}

/**
 * add: a new namespace (or an existing one taken over with takeOwnership); update: a managed one gets more
 * operators; ensure: add when absent, update when managed (bootstrap, which must be repeatable).
 */
export type NamespaceMode = 'add' | 'update' | 'ensure';

export interface NamespacePlan {
  readonly namespace: string;
  readonly create: boolean;
  /** Operators whose Subscription will be created. */
  readonly install: readonly OperatorKey[];
  /** Operators already installed. */
  readonly kept: readonly OperatorKey[];
  /** Everest's warnings (e.g. an installed operator asked off: not removed). */
  readonly warnings: readonly string[];
  /** The objects to apply, in order. */
  readonly objects: readonly KubernetesObject[];
}

const conflict = (message: string) => new PlatformError({ reason: 'conflict', message });
const notOwned = (namespace: string, what: string) =>
  new PlatformError({
    reason: 'not_owned',
    message: `namespace ${namespace} ${what}; this product did not make it (no ${EVEREST_TENANT_ANNOTATION} annotation naming it): nothing was changed`,
  });

export function renderManagedNamespace(namespace: string): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_EVEREST },
      annotations: { [EVEREST_TENANT_ANNOTATION]: namespace },
    },
  };
}

export function renderOperatorGroup(namespace: string): KubernetesObject {
  return {
    apiVersion: 'operators.coreos.com/v1',
    kind: 'OperatorGroup',
    metadata: { name: OPERATOR_GROUP_NAME, namespace },
    spec: { targetNamespaces: [namespace] },
  };
}

export function renderSubscription(namespace: string, operator: OperatorKey): KubernetesObject {
  const { package: name, channel } = OPERATORS[operator];
  return {
    apiVersion: 'operators.coreos.com/v1alpha1',
    kind: 'Subscription',
    metadata: { name, namespace },
    spec: {
      name,
      channel,
      source: CATALOG_SOURCE,
      sourceNamespace: CATALOG_NAMESPACE,
      installPlanApproval: 'Manual',
      config: { env: [{ name: 'DISABLE_TELEMETRY', value: 'false' }] },
    },
  };
}

export function planNamespace(
  mode: NamespaceMode,
  namespace: string,
  state: NamespaceState,
  operators: OperatorChoice,
  takeOwnership = false,
  reserved?: ReservedNames,
): NamespacePlan {
  checkNamespaceName(namespace, reserved);
  if (state.terminating) throw conflict(`namespace ${namespace} is being deleted; try again once it is gone`);
  const effective: NamespaceMode =
    mode === 'ensure' ? (state.exists && state.managed ? 'update' : 'add') : mode;
  if (effective === 'add' && state.exists) {
    if (state.managed)
      throw conflict(
        "namespace already exists and is managed by Everest. HINT: use 'everestctl namespaces update' (POST /cli/namespaces/update) to update the namespace",
      );
    if (!takeOwnership)
      throw conflict(
        "namespace already exists. HINT: set '--take-ownership' flag (take_ownership: true) to use existing namespaces",
      );
    // Adoption only of what this product made (and released with keep_namespace), never a foreign one.
    if (!state.owned) throw notOwned(namespace, 'exists and cannot be taken over');
  }
  if (effective === 'update') {
    if (!state.exists) throw new PlatformError({ reason: 'not_found', message: 'namespace does not exist' });
    if (!state.managed)
      throw conflict(
        "namespace is not managed by Everest. HINT: use 'everestctl namespaces add --take-ownership <ns>' (POST /cli/namespaces/add with take_ownership: true) first",
      );
    if (!state.owned) throw notOwned(namespace, 'is managed by Everest but not a tenant of this product');
  }
  const wanted = OPERATOR_KEYS.filter((k) => operators[k] === true);
  if (effective === 'add' && wanted.length === 0)
    throw new PlatformError({
      reason: 'validation',
      message: 'no operators selected for installation. Minimum one operator must be selected',
      issues: [{ path: 'operators', message: 'select at least one operator' }],
    });
  const install = wanted.filter((k) => !state.installed.has(k));
  const kept = OPERATOR_KEYS.filter((k) => state.installed.has(k));
  const warnings = OPERATOR_KEYS.filter((k) => operators[k] === false && state.installed.has(k)).map(
    (k) => `Removal of an installed operator is not supported. Proceeding without removal (${k}).`,
  );
  const objects: KubernetesObject[] = [];
  if (!state.exists || !state.managed || !state.owned) objects.push(renderManagedNamespace(namespace));
  if (install.length > 0 || !state.managed) objects.push(renderOperatorGroup(namespace));
  objects.push(...install.map((k) => renderSubscription(namespace, k)));
  return { namespace, create: !state.exists, install, kept, warnings, objects };
}

export interface RemovalState extends NamespaceState {
  readonly databaseClusters: number;
}

/** `namespaces remove`: only a managed namespace, and with database clusters only when forced. */
export function checkRemoval(
  namespace: string,
  state: RemovalState,
  force: boolean,
  reserved?: ReservedNames,
): void {
  checkNamespaceName(namespace, reserved);
  if (!state.exists)
    throw new PlatformError({ reason: 'not_found', message: `'${namespace}': namespace does not exist` });
  if (!state.managed) throw conflict(`'${namespace}': namespace is not managed by Everest`);
  if (!state.owned) throw notOwned(namespace, 'is managed by Everest but not a tenant of this product');
  if (!force && state.databaseClusters > 0)
    throw conflict(
      'cannot remove namespace with running database clusters. HINT: use --force (force: true) to remove the namespace and all its resources',
    );
}
