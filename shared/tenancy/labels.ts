/** Labels and annotations that mark what the provisioner made; reset, sync and cleanup select by them. */
export const LABEL_PREFIX = 'tenant-lifecycle.dev';

export const labels = {
  managedBy: 'app.kubernetes.io/managed-by',
  tenant: `${LABEL_PREFIX}/tenant`,
  plan: `${LABEL_PREFIX}/plan`,
  /** Marks an object of the tenant baseline: reset keeps it. */
  baseline: `${LABEL_PREFIX}/baseline`,
  /** Set on a tenant namespace (value "true") to keep the tenant out of cleanup. */
  exempt: `${LABEL_PREFIX}/exempt`,
  /** Marks a plan's starter object: reset removes it and applies it again. */
  starter: `${LABEL_PREFIX}/starter`,
  /** On a tenant namespace, "true" when its plan allows NodePort Services (read by the shipped admission policy). */
  allowNodePorts: `${LABEL_PREFIX}/allow-node-ports`,
  /** On a tenant namespace, "true" when its plan allows LoadBalancer Services (same policy). */
  allowLoadBalancers: `${LABEL_PREFIX}/allow-load-balancers`,
  /**
   * `managed-by=k8s-provisioner` and `provisioned=true` on tenant namespaces, so that existing selectors
   * still find them (docs/compatibility.md).
   */
  legacyManagedBy: 'managed-by',
  legacyProvisioned: 'provisioned',
} as const;

export const annotations = {
  /** The tenant the namespace belongs to (its name): with the labels, what proves the product made it. */
  ownerTenant: `${LABEL_PREFIX}/owner`,
  /** The tenant's email when it has one. */
  owner: `${LABEL_PREFIX}/owner-email`,
  createdAt: `${LABEL_PREFIX}/created-at`,
  keycloakUserId: `${LABEL_PREFIX}/keycloak-user-id`,
} as const;

export const MANAGER = 'tenant-lifecycle';

/** The label selector of every tenant namespace. */
export const tenantNamespaceSelector = `${labels.managedBy}=${MANAGER},${labels.tenant}`;
