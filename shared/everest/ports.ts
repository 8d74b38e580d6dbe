/**
 * What the Everest operations (bootstrap's and enforce's) need of the systems around them, each port as
 * narrow as its operations use it. shared/wiring/everest-systems.ts satisfies them with the apiserver and
 * the platform store; unit tests (test/unit/everest) with in-memory fakes.
 */
import type { ReservedNames } from '../platform/reserved-names.ts';
import type { AuditStore } from '../store/audited-run.ts';
import type { PlatformStore } from '../store/store.ts';
import type { AccountsDocument } from './accounts.ts';
import type { DatabaseClusterLike } from './cluster-usage.ts';
import type { NamespacePlan, NamespaceState, OperatorKey } from './db-namespace-plan.ts';
import type { EnforcementReport } from './enforcement.ts';
import type { StoredPolicy } from './rbac-configmap.ts';
import type { PolicyAppend } from './rbac-policy.ts';
import type { LimitsRow, TenantLimitsSpec } from './tenant-resource-policy.ts';
import type { UsageCounters } from './usage-counters.ts';
import type { PodLike, PvcLike, QuotaLike } from './usage-report.ts';

/** The accounts Secret (accounts-secret.ts): read, and changed by a pure function of what was read. */
export interface AccountsPort {
  /** The salt of every password hash (the everest-system Namespace's UID). */
  passwordSalt(): Promise<string>;
  read(): Promise<AccountsDocument>;
  /** Applies `change` to the stored document (retried against concurrent writers) and answers its result. */
  update<R>(
    action: string,
    change: (doc: AccountsDocument) => { doc?: AccountsDocument; result: R },
  ): Promise<R>;
}

/** The RBAC policy ConfigMap (rbac-configmap.ts). */
export interface RbacPolicyPort {
  read(): Promise<StoredPolicy>;
  /** Appends the lines not yet present (a dry run writes nothing); refuses what Everest would refuse. */
  append(lines: readonly string[], dryRun?: boolean): Promise<PolicyAppend & { enabled: boolean }>;
  /** Removes a user's role bindings and the rules of roles left without members; answers the lines removed. */
  removeUser(username: string): Promise<string[]>;
}

export interface NamespaceRemoval {
  readonly force: boolean;
  readonly keepNamespace: boolean;
  readonly reserved?: ReservedNames | undefined;
}

/** Everest database namespaces (db-namespaces.ts). */
export interface DatabaseNamespacesPort {
  state(namespace: string): Promise<NamespaceState>;
  apply(plan: NamespacePlan): Promise<void>;
  /** Checks the removal (checkRemoval) against the namespace as it is, then removes. */
  remove(
    namespace: string,
    options: NamespaceRemoval,
  ): Promise<{ databaseClusters: number; namespace: 'kept' | 'deleting' }>;
  listManaged(): Promise<{ namespace: string; operators: OperatorKey[] }[]>;
}

/** The TenantResourcePolicy of each namespace (tenant-limits.ts). */
export interface TenantLimitsPort {
  /** The namespace's limits; undefined when it has none. */
  read(namespace: string): Promise<TenantLimitsSpec | undefined>;
  write(limits: LimitsRow): Promise<void>;
  all(): Promise<{ namespace: string; spec: TenantLimitsSpec }[]>;
}

/** Where the limits-changed CloudEvent goes (the platform's EventSink). */
export interface LimitsEventsPort {
  send(type: string, data: Readonly<Record<string, unknown>>, subject?: string): Promise<unknown>;
}

/** The store the Everest operations audit to, lock on and list the audit log from. */
export type EverestStore = AuditStore & Pick<PlatformStore, 'withLock' | 'listAudit'>;

/** The registered usage counters (usage-counters.ts), kept for compatibility (docs/compatibility.md). */
export interface UsageCountersPort {
  all(): Promise<Map<string, UsageCounters>>;
  registerCluster(
    namespace: string,
    op: 'create' | 'delete',
    cpuCores: number,
    memoryBytes: number,
  ): Promise<UsageCounters>;
  /** `refusal(current count)` runs under the counter's lock; its answer refuses (403) and changes nothing. */
  registerDbUser(
    namespace: string,
    op: 'create' | 'delete',
    refusal: (dbUsers: number) => string | undefined,
  ): Promise<UsageCounters>;
}

/** A namespace's live DatabaseClusters (none when Everest's CRD is not installed). */
export interface DatabaseClustersPort {
  list(namespace: string): Promise<readonly DatabaseClusterLike[]>;
}

/** The in-apiserver enforcement (enforcement.ts, admission.ts) applied for one namespace or all. */
export interface AdmissionPort {
  apply(request: {
    readonly namespace?: string | undefined;
    readonly dryRun?: boolean | undefined;
  }): Promise<EnforcementReport>;
}

/** What a namespace's pods, PVCs and ResourceQuotas are (the usage report's inputs). */
export interface NamespaceUsagePort {
  pods(namespace: string): Promise<readonly PodLike[]>;
  persistentVolumeClaims(namespace: string): Promise<readonly PvcLike[]>;
  resourceQuotas(namespace: string): Promise<readonly QuotaLike[]>;
}

/** Everything bootstrap's operations use; each operation takes the part it needs. */
export interface BootstrapPorts {
  /** Names never used for a namespace or an account (the configuration's, shared/platform/reserved-names.ts). */
  readonly reserved: ReservedNames;
  readonly accounts: AccountsPort;
  readonly rbac: RbacPolicyPort;
  readonly namespaces: DatabaseNamespacesPort;
  readonly limits: TenantLimitsPort;
  readonly store: EverestStore;
  readonly counters: Pick<UsageCountersPort, 'all'>;
  /** Where the limits-changed event goes; without one, enforce's schedule picks new limits up. */
  readonly limitsEvents?: LimitsEventsPort | undefined;
  readonly now: () => Date;
}

/** Everything enforce's operations use. */
export interface EnforcePorts {
  /** Namespaces never taken as a target (the configuration's reserved names). */
  readonly reserved: ReservedNames;
  readonly limits: Pick<TenantLimitsPort, 'read'>;
  readonly clusters: DatabaseClustersPort;
  readonly admission: AdmissionPort;
  readonly usage: NamespaceUsagePort;
  readonly counters: Pick<UsageCountersPort, 'registerCluster' | 'registerDbUser'>;
  readonly store: AuditStore;
}
