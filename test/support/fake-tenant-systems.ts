/**
 * In-memory stand-ins for the tenant systems behind the tenancy ports (provision, deprovision, cleanup):
 * a Keycloak directory of users and groups, a Kubernetes cluster of namespaces and the objects in them, and
 * a Grafana of users. They hold state and answer as the adapters do (409 conflict for a name taken, false
 * or 'absent' for a delete of something missing), record every call in order, and throw an injected error
 * where a test asks for one. `state()` is a plain copy of everything, to compare before and after.
 */
import type { KubernetesObject } from '../../shared/adapters/kubernetes/objects.ts';
import { PlatformError } from '../../shared/platform/errors.ts';
import type { AuditEntry } from '../../shared/store/audit.ts';
import type { CleanupPorts } from '../../shared/tenancy/cleanup.ts';
import { plansFrom } from '../../shared/tenancy/plans.ts';
import type { ProvisionPorts, ProvisionSettings } from '../../shared/tenancy/provision.ts';

/** Provision's settings for the fakes: the built-in plans, marker group "tenants". */
export const provisionSettings: ProvisionSettings = {
  reserved: { exact: [], patterns: [] },
  plans: plansFrom(undefined),
  defaultPlan: 'default',
  markerGroup: 'tenants',
  tenantClusterRole: 'tenant',
  oidc: {
    issuerUrl: 'https://id.example.org/realms/tenants',
    clientId: 'kubernetes',
    usernamePrefix: 'oidc:',
    groupsPrefix: 'oidc:',
  },
  cluster: { name: 'kubernetes', server: 'https://kubernetes.example.org:6443' },
  grafana: { url: 'https://grafana.example.org', role: 'Viewer' },
};

export interface Call {
  /** `system.method`, e.g. `grafana.createUser`. */
  readonly method: string;
  /** The call's main argument (a name or id), for reading the order of calls. */
  readonly target: string;
}

/** The methods that change something; a dry run calls none of them. */
export const writingMethods = new Set([
  'identity.createUser',
  'identity.setPassword',
  'identity.ensureGroup',
  'identity.addToGroup',
  'identity.deleteUser',
  'identity.deleteGroup',
  'cluster.create',
  'cluster.deleteNamespace',
  'grafana.createUser',
  'grafana.setOrgRole',
  'grafana.deleteUser',
]);

interface Fault {
  readonly method: string;
  readonly error: Error;
  readonly when: (target: string) => boolean;
  remaining: number;
}

interface Gate {
  readonly method: string;
  readonly until: (call: Call) => boolean;
  readonly opened: Promise<void>;
  open: () => void;
  isOpen: boolean;
}

interface DirectoryUser {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly createdTimestamp: number;
  password?: string;
  readonly groups: Set<string>;
}

interface DirectoryGroup {
  readonly id: string;
  readonly name: string;
  readonly parentId?: string;
}

interface ClusterNamespace {
  readonly uid: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

interface GrafanaUser {
  readonly id: number;
  readonly login: string;
  readonly email: string;
  readonly name: string;
  readonly isAdmin: boolean;
  role?: string;
}

const conflict = (system: string, message: string) =>
  new PlatformError({ reason: 'conflict', message, upstream: system });
const notFound = (system: string, message: string) =>
  new PlatformError({ reason: 'not_found', message, upstream: system });

export class FakeTenantSystems {
  readonly calls: Call[] = [];
  /** Epoch ms Keycloak stamps on the users it creates. */
  now = Date.UTC(2026, 0, 1);
  private readonly faults: Fault[] = [];
  private readonly gates: Gate[] = [];
  private sequence = 0;
  private readonly users = new Map<string, DirectoryUser>();
  private readonly groups = new Map<string, DirectoryGroup>();
  private readonly namespaces = new Map<string, ClusterNamespace>();
  private readonly objects = new Map<string, KubernetesObject>();
  private readonly grafanaUsers = new Map<number, GrafanaUser>();

  /** The ports as provision, deprovision and cleanup take them. */
  readonly ports: ProvisionPorts & CleanupPorts = {
    identity: {
      findGroup: (name, parentId) => this.findGroup(name, parentId),
      findUserByUsername: (username) => this.findUserByUsername(username),
      userGroups: (userId) => this.userGroups(userId),
      createUser: (user) => this.createUser(user),
      setPassword: (id, password) => this.setPassword(id, password),
      ensureGroup: (name, parentId) => this.ensureGroup(name, parentId),
      addToGroup: (userId, groupId) => this.addToGroup(userId, groupId),
      deleteUser: (id) => this.deleteUser(id),
      deleteGroup: (id) => this.deleteGroup(id),
    },
    cluster: {
      readNamespace: (name) => this.readNamespace(name),
      create: (object) => this.create(object),
      deleteNamespace: (name, uid?: string) => this.deleteNamespace(name, uid),
    },
    grafana: {
      lookupUser: (login) => this.lookupUser(login),
      createUser: (user) => this.createGrafanaUser(user),
      setOrgRole: (userId, login, role) => this.setOrgRole(userId, login, role),
      deleteUser: (id) => this.deleteGrafanaUser(id),
    },
    members: (groupId) => this.members(groupId),
    createdBefore: (cutoff) => this.createdBefore(cutoff),
    namespacePages: (selector) => this.namespacePages(selector),
  };

  /** Makes `method` throw `error` (for the calls whose target `when` accepts), `times` times. */
  fail(method: string, error: Error, options: { when?: (target: string) => boolean; times?: number } = {}) {
    this.faults.push({
      method,
      error,
      when: options.when ?? (() => true),
      remaining: options.times ?? Number.POSITIVE_INFINITY,
    });
  }

  /**
   * Holds the calls of `method` until a call `until` accepts has started, to set the order in which
   * concurrent lanes get their answers (no clock involved).
   */
  holdUntil(method: string, until: (call: Call) => boolean) {
    let open: () => void = () => undefined;
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.gates.push({ method, until, opened, open, isOpen: false });
  }

  /** The calls that change something, in order. */
  writes(): Call[] {
    return this.calls.filter((c) => writingMethods.has(c.method));
  }

  /** The index of the first call of `method` on `target` (-1 when there is none). */
  indexOf(method: string, target?: string): number {
    return this.calls.findIndex((c) => c.method === method && (target === undefined || c.target === target));
  }

  // Setup helpers: state made as if by someone (the product or not), without recording calls.

  addGroup(name: string, parentId?: string): string {
    const id = `group-${String(++this.sequence)}`;
    this.groups.set(id, { id, name, ...(parentId === undefined ? {} : { parentId }) });
    return id;
  }

  addUser(user: { username: string; email?: string; createdTimestamp?: number; groups?: string[] }): string {
    const id = `kc-${String(++this.sequence)}`;
    this.users.set(id, {
      id,
      username: user.username,
      email: user.email ?? '',
      firstName: user.username,
      lastName: user.username,
      createdTimestamp: user.createdTimestamp ?? this.now,
      groups: new Set(user.groups ?? []),
    });
    return id;
  }

  addNamespace(
    name: string,
    metadata: { labels?: Record<string, string>; annotations?: Record<string, string> },
  ): string {
    const uid = `uid-${String(++this.sequence)}`;
    this.namespaces.set(name, {
      uid,
      labels: { ...metadata.labels },
      annotations: { ...metadata.annotations },
    });
    return uid;
  }

  addGrafanaUser(user: { login: string; email: string; isAdmin?: boolean }): number {
    const id = ++this.sequence;
    this.grafanaUsers.set(id, {
      id,
      login: user.login,
      email: user.email,
      name: user.login,
      isAdmin: user.isAdmin ?? false,
    });
    return id;
  }

  /** Adds labels to a namespace, as an operator would. */
  labelNamespace(name: string, added: Record<string, string>) {
    const namespace = this.namespaces.get(name);
    if (namespace === undefined) throw new Error(`no namespace ${name}`);
    Object.assign(namespace.labels, added);
  }

  /** Removes a part behind the product's back (someone deleted it by hand). */
  drop(part: 'namespace' | 'grafana' | 'keycloak', name: string) {
    if (part === 'namespace') {
      this.namespaces.delete(name);
      for (const key of this.objects.keys()) if (key.startsWith(`${name}/`)) this.objects.delete(key);
    } else if (part === 'grafana') {
      for (const user of this.grafanaUsers.values())
        if (user.login === name) this.grafanaUsers.delete(user.id);
    } else {
      for (const user of this.users.values()) if (user.username === name) this.users.delete(user.id);
    }
  }

  /** Everything the systems hold, as plain data. */
  state() {
    const groupName = (id: string) => this.groups.get(id)?.name ?? `(missing ${id})`;
    return structuredClone({
      keycloakUsers: [...this.users.values()]
        .map((u) => ({
          username: u.username,
          email: u.email,
          hasPassword: u.password !== undefined,
          groups: [...u.groups].map(groupName).sort(),
        }))
        .sort((a, b) => a.username.localeCompare(b.username)),
      keycloakGroups: [...this.groups.values()]
        .map((g) => `${g.parentId === undefined ? '' : `${groupName(g.parentId)}/`}${g.name}`)
        .sort(),
      namespaces: Object.fromEntries([...this.namespaces.entries()].sort(([a], [b]) => a.localeCompare(b))),
      objects: [...this.objects.keys()].sort(),
      grafanaUsers: [...this.grafanaUsers.values()]
        .map((u) => ({ login: u.login, email: u.email, isAdmin: u.isAdmin, role: u.role ?? null }))
        .sort((a, b) => a.login.localeCompare(b.login)),
    });
  }

  /** Whether `username` has a user, a namespace or a Grafana user. */
  /** What each system holds of `name` (its namespace, Keycloak user, Grafana user), to compare over time. */
  partsOf(name: string) {
    const state = this.state();
    return {
      namespace: state.namespaces[name],
      keycloakUsers: state.keycloakUsers.filter((u) => u.username === name),
      grafanaUsers: state.grafanaUsers.filter((u) => u.login === name),
    };
  }

  holds(username: string) {
    return {
      keycloak: [...this.users.values()].some((u) => u.username === username),
      namespace: this.namespaces.has(username),
      grafana: [...this.grafanaUsers.values()].some((u) => u.login === username),
    };
  }

  /** The names of the groups the user `username` is a member of. */
  groupsOf(username: string): string[] {
    const user = [...this.users.values()].find((u) => u.username === username);
    return [...(user?.groups ?? [])].map((id) => this.groups.get(id)?.name ?? id).sort();
  }

  /** The kinds and names of the objects in namespace `name`. */
  objectsIn(name: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(`${name}/`)).sort();
  }

  private async enter(method: string, target: string): Promise<void> {
    const call = { method, target };
    this.calls.push(call);
    for (const gate of this.gates)
      if (!gate.isOpen && gate.until(call)) {
        gate.isOpen = true;
        gate.open();
      }
    const gate = this.gates.find((g) => g.method === method && !g.isOpen);
    if (gate !== undefined) await gate.opened;
    // Every call answers asynchronously, as the real systems do, so that concurrent lanes interleave.
    await Promise.resolve();
    const fault = this.faults.find((f) => f.method === method && f.remaining > 0 && f.when(target));
    if (fault !== undefined) {
      fault.remaining -= 1;
      throw fault.error;
    }
  }

  private userByUsername(username: string): DirectoryUser | undefined {
    return [...this.users.values()].find((u) => u.username === username.toLowerCase());
  }

  private async findGroup(name: string, parentId?: string): Promise<string | undefined> {
    await this.enter('identity.findGroup', name);
    return [...this.groups.values()].find((g) => g.name === name && g.parentId === parentId)?.id;
  }

  private async findUserByUsername(username: string) {
    await this.enter('identity.findUserByUsername', username);
    const user = this.userByUsername(username);
    return user === undefined ? undefined : { id: user.id, username: user.username, email: user.email };
  }

  private async userGroups(userId: string) {
    await this.enter('identity.userGroups', userId);
    const user = this.users.get(userId);
    if (user === undefined) throw notFound('keycloak', `user ${userId} not found`);
    return [...user.groups].map((id) => ({ id, name: this.groups.get(id)?.name ?? '' }));
  }

  private async createUser(user: { username: string; email: string; firstName: string; lastName: string }) {
    await this.enter('identity.createUser', user.username);
    if (this.userByUsername(user.username) !== undefined)
      throw conflict('keycloak', `user ${user.username} exists`);
    const id = `kc-${String(++this.sequence)}`;
    this.users.set(id, { ...user, id, createdTimestamp: this.now, groups: new Set() });
    return id;
  }

  private async setPassword(id: string, password: string) {
    await this.enter('identity.setPassword', id);
    const user = this.users.get(id);
    if (user === undefined) throw notFound('keycloak', `user ${id} not found`);
    user.password = password;
  }

  private async ensureGroup(name: string, parentId?: string) {
    await this.enter('identity.ensureGroup', name);
    const existing = [...this.groups.values()].find((g) => g.name === name && g.parentId === parentId);
    return existing?.id ?? this.addGroup(name, parentId);
  }

  private async addToGroup(userId: string, groupId: string) {
    await this.enter('identity.addToGroup', this.groups.get(groupId)?.name ?? groupId);
    const user = this.users.get(userId);
    if (user === undefined || !this.groups.has(groupId))
      throw notFound('keycloak', `user ${userId} or group ${groupId} not found`);
    user.groups.add(groupId);
  }

  private async deleteUser(id: string) {
    await this.enter('identity.deleteUser', this.users.get(id)?.username ?? id);
    return this.users.delete(id);
  }

  private async deleteGroup(id: string) {
    await this.enter('identity.deleteGroup', this.groups.get(id)?.name ?? id);
    if (!this.groups.has(id)) return false;
    const removed = [id, ...[...this.groups.values()].filter((g) => g.parentId === id).map((g) => g.id)];
    for (const group of removed) {
      this.groups.delete(group);
      for (const user of this.users.values()) user.groups.delete(group);
    }
    return true;
  }

  private async *members(groupId: string) {
    await this.enter('identity.members', groupId);
    const members = [...this.users.values()].filter((u) => u.groups.has(groupId));
    // Pages of two, so that a caller reading only the first page misses tenants.
    for (let i = 0; i < members.length; i += 2)
      yield members.slice(i, i + 2).map((u) => ({ id: u.id, username: u.username }));
  }

  private async *createdBefore(cutoff: Date) {
    await this.enter('identity.createdBefore', cutoff.toISOString());
    const old = [...this.users.values()].filter((u) => u.createdTimestamp < cutoff.getTime());
    for (let i = 0; i < old.length; i += 2)
      yield old
        .slice(i, i + 2)
        .map((u) => ({ id: u.id, username: u.username, createdTimestamp: u.createdTimestamp }));
  }

  private async readNamespace(name: string) {
    await this.enter('cluster.readNamespace', name);
    const namespace = this.namespaces.get(name);
    return namespace === undefined
      ? undefined
      : {
          name,
          uid: namespace.uid,
          labels: { ...namespace.labels },
          annotations: { ...namespace.annotations },
          deletionBlockers: [],
        };
  }

  private async create(object: KubernetesObject) {
    const { name, namespace } = object.metadata;
    await this.enter('cluster.create', `${object.kind}/${name}`);
    if (object.kind === 'Namespace') {
      if (this.namespaces.has(name)) throw conflict('kubernetes', `namespace ${name} exists`);
      this.addNamespace(name, object.metadata);
      return;
    }
    if (namespace === undefined || !this.namespaces.has(namespace))
      throw notFound('kubernetes', `namespace ${namespace ?? '(none)'} not found`);
    const key = `${namespace}/${object.kind}/${name}`;
    if (this.objects.has(key)) throw conflict('kubernetes', `${key} exists`);
    this.objects.set(key, structuredClone(object));
  }

  private async deleteNamespace(name: string, uid?: string) {
    await this.enter('cluster.deleteNamespace', name);
    const namespace = this.namespaces.get(name);
    if (namespace === undefined) return 'absent';
    if (uid !== undefined && uid !== namespace.uid)
      throw conflict('kubernetes', `namespace ${name}: the uid precondition failed`);
    this.namespaces.delete(name);
    for (const key of this.objects.keys()) if (key.startsWith(`${name}/`)) this.objects.delete(key);
    return 'deleted';
  }

  private async *namespacePages(selector: string) {
    await this.enter('cluster.namespacePages', selector);
    const wanted = selector.split(',').map((term) => term.split('='));
    const names = [...this.namespaces.entries()]
      .filter(([, ns]) =>
        wanted.every(([key = '', value]) =>
          value === undefined ? key in ns.labels : ns.labels[key] === value,
        ),
      )
      .map(([name]) => ({ name }));
    yield names;
  }

  private async lookupUser(login: string) {
    await this.enter('grafana.lookupUser', login);
    const user = [...this.grafanaUsers.values()].find((u) => u.login === login);
    return user === undefined
      ? undefined
      : { id: user.id, login: user.login, email: user.email, isAdmin: user.isAdmin };
  }

  private async createGrafanaUser(user: { login: string; email: string; name?: string; password: string }) {
    await this.enter('grafana.createUser', user.login);
    if ([...this.grafanaUsers.values()].some((u) => u.login === user.login))
      throw conflict('grafana', `user ${user.login} exists`);
    const id = ++this.sequence;
    this.grafanaUsers.set(id, {
      id,
      login: user.login,
      email: user.email,
      name: user.name ?? user.login,
      isAdmin: false,
    });
    return id;
  }

  private async setOrgRole(userId: number, login: string, role: string) {
    await this.enter('grafana.setOrgRole', login);
    const user = this.grafanaUsers.get(userId);
    if (user === undefined) throw notFound('grafana', `user ${login} not found`);
    user.role = role;
  }

  private async deleteGrafanaUser(id: number) {
    await this.enter('grafana.deleteUser', this.grafanaUsers.get(id)?.login ?? String(id));
    return this.grafanaUsers.delete(id);
  }
}

/** A store whose lock and audit record are kept in memory: which locks were held, which records written. */
export class FakeStore {
  readonly locks: string[] = [];
  readonly held = new Set<string>();
  readonly records: AuditEntry[] = [];

  async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.held.has(name)) throw conflict('postgres', `lock ${name} is held`);
    this.locks.push(name);
    this.held.add(name);
    try {
      return await fn();
    } finally {
      this.held.delete(name);
    }
  }

  recordAudit(entry: AuditEntry): Promise<string> {
    this.records.push(structuredClone(entry));
    return Promise.resolve(String(this.records.length));
  }
}

/** A part named `ann` the product did not make, how to put it in place, and the kind a refusal names. */
export type ForeignPart = [description: string, arrange: (s: FakeTenantSystems) => unknown, kind: string];

/** Foreign parts every tenant operation refuses to take over or remove: a namespace and two identities. */
export const foreignParts: readonly ForeignPart[] = [
  ['a namespace someone else made', (s) => s.addNamespace('ann', {}), 'Namespace'],
  [
    'a Keycloak user outside the marker group',
    (s) => s.addUser({ username: 'ann', email: 'ann@example.org' }),
    'KeycloakUser',
  ],
  [
    'a Grafana user with an email provision never gave',
    (s) => s.addGrafanaUser({ login: 'ann', email: 'someone@example.com' }),
    'GrafanaUser',
  ],
];
