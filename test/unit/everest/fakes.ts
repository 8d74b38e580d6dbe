/**
 * In-memory fakes of the ports of shared/everest/ports.ts. Each holds state (the accounts document, the
 * policy text, the namespaces, the limits, the audit log), changes it the way the real adapter would (the
 * pure Everest rules run on it: appendToPolicy, checkRemoval, createAccount...), records every call in one
 * shared journal so that tests can assert the order of steps, and can be told to fail a given call.
 */
import type { AccountsDocument } from '../../../shared/everest/accounts.ts';
import {
  checkRemoval,
  OPERATOR_KEYS,
  OPERATORS,
  type NamespacePlan,
  type NamespaceState,
  type OperatorKey,
} from '../../../shared/everest/db-namespace-plan.ts';
import type { DatabaseClusterLike } from '../../../shared/everest/cluster-usage.ts';
import type { EnforcementReport } from '../../../shared/everest/enforcement.ts';
import type {
  AccountsPort,
  AdmissionPort,
  BootstrapPorts,
  DatabaseClustersPort,
  DatabaseNamespacesPort,
  EnforcePorts,
  EverestStore,
  LimitsEventsPort,
  NamespaceRemoval,
  NamespaceUsagePort,
  RbacPolicyPort,
  TenantLimitsPort,
  UsageCountersPort,
} from '../../../shared/everest/ports.ts';
import type { StoredPolicy } from '../../../shared/everest/rbac-configmap.ts';
import { appendToPolicy, removeUserFromPolicy } from '../../../shared/everest/rbac-policy.ts';
import {
  specFromLimitsRow,
  type LimitsRow,
  type TenantLimitsSpec,
} from '../../../shared/everest/tenant-resource-policy.ts';
import type { UsageCounters } from '../../../shared/everest/usage-counters.ts';
import type { PodLike, PvcLike, QuotaLike } from '../../../shared/everest/usage-report.ts';
import { PlatformError } from '../../../shared/platform/errors.ts';
import { createLogger } from '../../../shared/platform/logger.ts';
import { builtinReservedNames } from '../../../shared/platform/reserved-names.ts';
import type { AuditEntry, AuditPage } from '../../../shared/store/audit.ts';
import type { AuditContext } from '../../../shared/store/audited-run.ts';

/** Every call to any fake, in order: `<port>.<method> <argument>`. */
export type Journal = string[];

/** Failures to inject: the call named `<port>.<method>` throws this error the next time it is made. */
export class Faults {
  private readonly pending = new Map<string, Error>();

  failNext(
    call: string,
    error: Error = new PlatformError({ reason: 'unavailable', message: `${call} failed` }),
  ) {
    this.pending.set(call, error);
  }

  /** The error to fail `call` with, once; undefined when it is not to fail. */
  take(call: string): Error | undefined {
    const error = this.pending.get(call);
    this.pending.delete(call);
    return error;
  }
}

/** What `check` throws, or undefined when it passes (a rule's refusal, as the adapter would answer it). */
function thrownBy(check: () => void): Error | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** `work`'s value as a promise, what it throws as the rejection: how an async adapter answers. */
function answer<T>(work: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(work());
  });
}

export const SALT = '0b7d3c1e-5f2a-4e8b-9c6d-1a2b3c4d5e6f';

export class FakeAccounts implements AccountsPort {
  doc: AccountsDocument = { accounts: new Map(), annotations: {} };
  private readonly journal: Journal;
  private readonly faults: Faults;

  constructor(journal: Journal, faults: Faults) {
    this.journal = journal;
    this.faults = faults;
  }

  passwordSalt(): Promise<string> {
    this.journal.push('accounts.passwordSalt');
    return Promise.resolve(SALT);
  }

  read(): Promise<AccountsDocument> {
    this.journal.push('accounts.read');
    return Promise.resolve(this.doc);
  }

  update<R>(
    action: string,
    change: (doc: AccountsDocument) => { doc?: AccountsDocument; result: R },
  ): Promise<R> {
    this.journal.push(`accounts.update ${action}`);
    const failure = this.faults.take('accounts.update');
    if (failure !== undefined) return Promise.reject(failure);
    // The change runs on the document as stored; what it throws (a refusal) rejects, nothing is written.
    return answer(() => {
      const { doc, result } = change(this.doc);
      if (doc !== undefined) this.doc = doc;
      return result;
    });
  }
}

export class FakeRbac implements RbacPolicyPort {
  text = 'g, admin, role:admin\n';
  enabled = false;
  private readonly journal: Journal;
  private readonly faults: Faults;

  constructor(journal: Journal, faults: Faults) {
    this.journal = journal;
    this.faults = faults;
  }

  read(): Promise<StoredPolicy> {
    this.journal.push('rbac.read');
    return Promise.resolve({ text: this.text, enabled: this.enabled });
  }

  append(lines: readonly string[], dryRun = false) {
    this.journal.push(`rbac.append${dryRun ? ' (dry run)' : ''}`);
    const failure = this.faults.take('rbac.append');
    if (failure !== undefined) return Promise.reject(failure);
    return answer(() => {
      const result = appendToPolicy(this.text, lines);
      if (!dryRun) this.text = result.text;
      return { ...result, enabled: this.enabled };
    });
  }

  removeUser(username: string): Promise<string[]> {
    this.journal.push(`rbac.removeUser ${username}`);
    const { text, removed } = removeUserFromPolicy(this.text, username);
    this.text = text;
    return Promise.resolve(removed);
  }
}

export interface FakeNamespace {
  managed: boolean;
  owned: boolean;
  terminating: boolean;
  installed: Set<OperatorKey>;
  databaseClusters: number;
}

export class FakeNamespaces implements DatabaseNamespacesPort {
  readonly namespaces = new Map<string, FakeNamespace>();
  private readonly journal: Journal;
  private readonly faults: Faults;

  constructor(journal: Journal, faults: Faults) {
    this.journal = journal;
    this.faults = faults;
  }

  state(namespace: string): Promise<NamespaceState> {
    this.journal.push(`namespaces.state ${namespace}`);
    const ns = this.namespaces.get(namespace);
    return Promise.resolve(
      ns === undefined
        ? { exists: false, managed: false, owned: false, terminating: false, installed: new Set() }
        : { exists: true, ...ns, installed: new Set(ns.installed) },
    );
  }

  apply(plan: NamespacePlan): Promise<void> {
    this.journal.push(`namespaces.apply ${plan.namespace}`);
    const failure = this.faults.take('namespaces.apply');
    if (failure !== undefined) return Promise.reject(failure);
    for (const object of plan.objects) {
      const current = this.namespaces.get(plan.namespace) ?? {
        managed: false,
        owned: false,
        terminating: false,
        installed: new Set<OperatorKey>(),
        databaseClusters: 0,
      };
      if (object.kind === 'Namespace')
        this.namespaces.set(plan.namespace, { ...current, managed: true, owned: true });
      if (object.kind === 'Subscription') {
        const key = OPERATOR_KEYS.find((k) => OPERATORS[k].package === object.metadata.name);
        if (key !== undefined) current.installed.add(key);
      }
    }
    return Promise.resolve();
  }

  remove(namespace: string, options: NamespaceRemoval) {
    this.journal.push(`namespaces.remove ${namespace}`);
    const ns = this.namespaces.get(namespace);
    const state =
      ns === undefined
        ? {
            exists: false,
            managed: false,
            owned: false,
            terminating: false,
            installed: new Set<OperatorKey>(),
            databaseClusters: 0,
          }
        : { exists: true, ...ns };
    const refused = thrownBy(() => {
      checkRemoval(namespace, state, options.force, options.reserved);
    });
    if (refused !== undefined) return Promise.reject(refused);
    if (options.keepNamespace && ns !== undefined) {
      this.namespaces.set(namespace, { ...ns, managed: false, installed: new Set(), databaseClusters: 0 });
      return Promise.resolve({ databaseClusters: state.databaseClusters, namespace: 'kept' as const });
    }
    this.namespaces.delete(namespace);
    return Promise.resolve({ databaseClusters: state.databaseClusters, namespace: 'deleting' as const });
  }

  listManaged() {
    this.journal.push('namespaces.listManaged');
    return Promise.resolve(
      [...this.namespaces.entries()]
        .filter(([, ns]) => ns.managed)
        .map(([namespace, ns]) => ({
          namespace,
          operators: OPERATOR_KEYS.filter((k) => ns.installed.has(k)),
        }))
        .sort((a, b) => a.namespace.localeCompare(b.namespace)),
    );
  }
}

export class FakeLimits implements TenantLimitsPort {
  readonly specs = new Map<string, TenantLimitsSpec>();
  private readonly journal: Journal;
  private readonly faults: Faults;

  constructor(journal: Journal, faults: Faults) {
    this.journal = journal;
    this.faults = faults;
  }

  read(namespace: string): Promise<TenantLimitsSpec | undefined> {
    this.journal.push(`limits.read ${namespace}`);
    return Promise.resolve(this.specs.get(namespace));
  }

  write(limits: LimitsRow): Promise<void> {
    this.journal.push(`limits.write ${limits.namespace}`);
    const failure = this.faults.take('limits.write');
    if (failure !== undefined) return Promise.reject(failure);
    this.specs.set(limits.namespace, specFromLimitsRow(limits));
    return Promise.resolve();
  }

  all() {
    this.journal.push('limits.all');
    return Promise.resolve([...this.specs.entries()].map(([namespace, spec]) => ({ namespace, spec })));
  }
}

/** The platform store's audit log and locks, in memory. */
export class FakeStore implements EverestStore {
  readonly records: AuditEntry[] = [];
  readonly held = new Set<string>();
  private readonly journal: Journal;

  constructor(journal: Journal) {
    this.journal = journal;
  }

  recordAudit(entry: AuditEntry): Promise<string> {
    this.journal.push(`store.recordAudit ${entry.operation} ${entry.target} ${entry.outcome}`);
    this.records.push(entry);
    return Promise.resolve(String(this.records.length));
  }

  async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.journal.push(`store.lock ${name}`);
    if (this.held.has(name)) throw new PlatformError({ reason: 'conflict', message: `${name} is held` });
    this.held.add(name);
    try {
      return await fn();
    } finally {
      this.held.delete(name);
      this.journal.push(`store.unlock ${name}`);
    }
  }

  listAudit(): Promise<AuditPage> {
    return Promise.resolve({
      items: this.records.map((r, i) => ({ ...r, id: String(i + 1), at: new Date(0) })).reverse(),
    });
  }
}

export class FakeEvents implements LimitsEventsPort {
  readonly sent: { type: string; data: unknown; subject?: string | undefined }[] = [];
  private readonly journal: Journal;
  private readonly faults: Faults;

  constructor(journal: Journal, faults: Faults) {
    this.journal = journal;
    this.faults = faults;
  }

  send(type: string, data: Readonly<Record<string, unknown>>, subject?: string): Promise<string> {
    this.journal.push(`events.send ${type}`);
    const failure = this.faults.take('events.send');
    if (failure !== undefined) return Promise.reject(failure);
    this.sent.push({ type, data, subject });
    return Promise.resolve(String(this.sent.length));
  }
}

/** The usage counters, with the database user check run "under the row lock" as the real store does. */
export class FakeCounters implements UsageCountersPort {
  readonly counters = new Map<string, UsageCounters>();
  private readonly journal: Journal;

  constructor(journal: Journal) {
    this.journal = journal;
  }

  private current(namespace: string): UsageCounters {
    return (
      this.counters.get(namespace) ?? { clusters_count: 0, cpu_used: 0, memory_used: 0, db_users_count: 0 }
    );
  }

  all(): Promise<Map<string, UsageCounters>> {
    return Promise.resolve(new Map(this.counters));
  }

  registerCluster(namespace: string, op: 'create' | 'delete', cpuCores: number, memoryBytes: number) {
    this.journal.push(`counters.registerCluster ${namespace} ${op}`);
    const sign = op === 'create' ? 1 : -1;
    const c = this.current(namespace);
    const next = {
      ...c,
      clusters_count: c.clusters_count + sign,
      cpu_used: c.cpu_used + sign * cpuCores,
      memory_used: c.memory_used + sign * memoryBytes,
    };
    if (next.clusters_count < 0)
      return Promise.reject(new PlatformError({ reason: 'validation', message: 'usage counters underflow' }));
    this.counters.set(namespace, next);
    return Promise.resolve(next);
  }

  registerDbUser(
    namespace: string,
    op: 'create' | 'delete',
    refusal: (dbUsers: number) => string | undefined,
  ) {
    this.journal.push(`counters.registerDbUser ${namespace} ${op}`);
    const c = this.current(namespace);
    if (op === 'create') {
      const reason = refusal(c.db_users_count);
      if (reason !== undefined)
        return Promise.reject(new PlatformError({ reason: 'forbidden', message: reason }));
    }
    const next = { ...c, db_users_count: c.db_users_count + (op === 'create' ? 1 : -1) };
    this.counters.set(namespace, next);
    return Promise.resolve(next);
  }
}

export class FakeClusters implements DatabaseClustersPort {
  readonly clusters = new Map<string, DatabaseClusterLike[]>();
  private readonly journal: Journal;

  constructor(journal: Journal) {
    this.journal = journal;
  }

  list(namespace: string): Promise<readonly DatabaseClusterLike[]> {
    this.journal.push(`clusters.list ${namespace}`);
    return Promise.resolve(this.clusters.get(namespace) ?? []);
  }
}

/** The in-apiserver enforcement: which namespaces' quotas were applied. */
export class FakeAdmission implements AdmissionPort {
  readonly applied: string[] = [];
  private readonly journal: Journal;
  private readonly limits: FakeLimits;

  constructor(journal: Journal, limits: FakeLimits) {
    this.journal = journal;
    this.limits = limits;
  }

  async apply(request: {
    namespace?: string | undefined;
    dryRun?: boolean | undefined;
  }): Promise<EnforcementReport> {
    this.journal.push(`admission.apply ${request.namespace ?? '*'}`);
    const policies =
      request.namespace === undefined
        ? await this.limits.all()
        : [{ namespace: request.namespace, spec: await this.limits.read(request.namespace) }];
    const namespaces = policies.flatMap(({ namespace, spec }) =>
      spec === undefined
        ? []
        : [{ namespace, quota: 'applied' as const, maxClusters: spec.limits.maxClusters }],
    );
    if (request.dryRun !== true) this.applied.push(...namespaces.map((n) => n.namespace));
    return { dryRun: request.dryRun === true, policy: 'applied', namespaces, failures: [] };
  }
}

export class FakeNamespaceUsage implements NamespaceUsagePort {
  readonly pods_ = new Map<string, PodLike[]>();
  private readonly journal: Journal;

  constructor(journal: Journal) {
    this.journal = journal;
  }

  pods(namespace: string): Promise<readonly PodLike[]> {
    this.journal.push(`usage.pods ${namespace}`);
    return Promise.resolve(this.pods_.get(namespace) ?? []);
  }

  persistentVolumeClaims(namespace: string): Promise<readonly PvcLike[]> {
    this.journal.push(`usage.persistentVolumeClaims ${namespace}`);
    return Promise.resolve([]);
  }

  resourceQuotas(namespace: string): Promise<readonly QuotaLike[]> {
    this.journal.push(`usage.resourceQuotas ${namespace}`);
    return Promise.resolve([]);
  }
}

export const NOW = new Date('2026-12-01T09:00:00Z');

/** Every bootstrap port as a fake, sharing one journal and one set of faults. */
export function bootstrapFakes() {
  const journal: Journal = [];
  const faults = new Faults();
  const accounts = new FakeAccounts(journal, faults);
  const rbac = new FakeRbac(journal, faults);
  const namespaces = new FakeNamespaces(journal, faults);
  const limits = new FakeLimits(journal, faults);
  const store = new FakeStore(journal);
  const events = new FakeEvents(journal, faults);
  const counters = new FakeCounters(journal);
  const ports: BootstrapPorts = {
    reserved: builtinReservedNames,
    accounts,
    rbac,
    namespaces,
    limits,
    store,
    counters,
    limitsEvents: events,
    now: () => NOW,
  };
  return { journal, faults, accounts, rbac, namespaces, limits, store, events, counters, ports };
}

/** Every enforce port as a fake. */
export function enforceFakes() {
  const journal: Journal = [];
  const faults = new Faults();
  const limits = new FakeLimits(journal, faults);
  const clusters = new FakeClusters(journal);
  const admission = new FakeAdmission(journal, limits);
  const usage = new FakeNamespaceUsage(journal);
  const counters = new FakeCounters(journal);
  const store = new FakeStore(journal);
  const ports: EnforcePorts = {
    reserved: builtinReservedNames,
    limits,
    clusters,
    admission,
    usage,
    counters,
    store,
  };
  return { journal, faults, limits, clusters, admission, usage, counters, store, ports };
}

/** An invocation context whose log lines are kept. */
export function context(): AuditContext & { readonly lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    functionName: 'everest-test',
    level: 'info',
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { actor: 'token#1', requestId: 'req-1', log, lines };
}

/** A tenant namespace this product made and manages, with the given operators. */
export function ownedNamespace(...installed: OperatorKey[]): FakeNamespace {
  return {
    managed: true,
    owned: true,
    terminating: false,
    installed: new Set(installed),
    databaseClusters: 0,
  };
}

/** A namespace Everest manages that this product did not make. */
export function foreignNamespace(): FakeNamespace {
  return {
    managed: true,
    owned: false,
    terminating: false,
    installed: new Set(['postgresql']),
    databaseClusters: 0,
  };
}
