/**
 * A FAKE of Grafana's HTTP API, written from Grafana's documented contract (the HTTP API reference for
 * admin users, users, organisation users and health, and the answers of the handlers in pkg/api), because the
 * real server cannot be had on this machine: the Go module proxy answers 403 "This module version is not
 * available." for every version of github.com/grafana/grafana, and no npm, PyPI, Maven or Debian package ships
 * a Grafana server (see docs/testing.md). Replace it with the real server the day one can be obtained.
 *
 * It covers what the product calls, with Grafana's statuses and message texts:
 *   GET    /api/health
 *   GET    /api/user                              (the authenticated user: proves a password works)
 *   POST   /api/admin/users                       200 {id, uid, message:"User created"} | 412 exists | 400
 *   PUT    /api/admin/users/:id/password          200 | 400 too short | 404
 *   DELETE /api/admin/users/:id                   200 "User deleted" | 404 "user not found"
 *   GET    /api/users/lookup?loginOrEmail=        200 user | 404 "user not found"
 *   GET    /api/users/search?perpage=&page=&query= {totalCount, users, page, perPage}
 *   GET    /api/orgs/:orgId/users                 [{orgId, userId, login, email, name, role}]
 *   POST   /api/orgs/:orgId/users                 {loginOrEmail, role} 200 | 409 already member | 404
 *   PATCH  /api/orgs/:orgId/users/:userId         {role} 200 | 404
 *   DELETE /api/orgs/:orgId/users/:userId         200 | 404
 * Basic authentication only; the admin endpoints need a Grafana server admin (401/403 otherwise). New users
 * join org 1 as Viewer (auto_assign_org_role). Unknown routes answer 404 {"message":"Not found"}.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface FakeUser {
  id: number;
  uid: string;
  login: string;
  email: string;
  name: string;
  password: string;
  isGrafanaAdmin: boolean;
  createdAt: string;
}

type Role = 'Viewer' | 'Editor' | 'Admin' | 'None';
const roles: readonly string[] = ['Viewer', 'Editor', 'Admin', 'None'];

export interface GrafanaContractServer {
  readonly url: string;
  /** How many requests it answered, for tests that count API calls. */
  requests(): number;
  stop(): Promise<void>;
}

export async function startGrafanaContractServer(options: {
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly port?: number;
}): Promise<GrafanaContractServer> {
  let nextId = 1;
  let served = 0;
  const users = new Map<number, FakeUser>();
  const orgMembers = new Map<number, Map<number, Role>>([[1, new Map()]]);
  const addUser = (u: Omit<FakeUser, 'id' | 'uid' | 'createdAt'>): FakeUser => {
    const user = { ...u, id: nextId++, uid: randomUUID().slice(0, 14), createdAt: new Date().toISOString() };
    users.set(user.id, user);
    orgMembers.get(1)?.set(user.id, u.isGrafanaAdmin ? 'Admin' : 'Viewer');
    return user;
  };
  addUser({
    login: options.adminUser,
    email: 'admin@localhost',
    name: '',
    password: options.adminPassword,
    isGrafanaAdmin: true,
  });

  const byLoginOrEmail = (value: string): FakeUser | undefined =>
    [...users.values()].find((u) => u.login === value || u.email === value);

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const message = (res: ServerResponse, status: number, text: string): void => {
    send(res, status, { message: text });
  };

  const authenticate = (req: IncomingMessage): FakeUser | undefined => {
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = byLoginOrEmail(decoded.slice(0, colon));
    return user !== undefined && user.password === decoded.slice(colon + 1) ? user : undefined;
  };

  const readJson = async (req: IncomingMessage): Promise<Record<string, unknown> | undefined> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    try {
      const value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
      return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };

  const userDto = (u: FakeUser) => ({
    id: u.id,
    uid: u.uid,
    email: u.email,
    name: u.name,
    login: u.login,
    theme: '',
    orgId: 1,
    isGrafanaAdmin: u.isGrafanaAdmin,
    isDisabled: false,
    isExternal: false,
    authLabels: [],
    updatedAt: u.createdAt,
    createdAt: u.createdAt,
    avatarUrl: '',
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    served++;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    if (method === 'GET' && path === '/api/health') {
      send(res, 200, { database: 'ok', version: 'contract-fake', commit: 'none' });
      return;
    }
    const caller = authenticate(req);
    if (caller === undefined) {
      message(res, 401, 'Unauthorized');
      return;
    }
    if (method === 'GET' && path === '/api/user') {
      send(res, 200, userDto(caller));
      return;
    }
    if (!caller.isGrafanaAdmin) {
      message(res, 403, 'Permission denied');
      return;
    }

    if (method === 'POST' && path === '/api/admin/users') {
      const form = await readJson(req);
      if (form === undefined) {
        message(res, 400, 'bad request data');
        return;
      }
      const login =
        typeof form.login === 'string' && form.login !== ''
          ? form.login
          : typeof form.email === 'string'
            ? form.email
            : '';
      const email = typeof form.email === 'string' && form.email !== '' ? form.email : login;
      const password = typeof form.password === 'string' ? form.password : '';
      if (password.length < 4) {
        message(res, 400, 'Password is missing or too short');
        return;
      }
      if (login === '' || byLoginOrEmail(login) !== undefined || byLoginOrEmail(email) !== undefined) {
        message(
          res,
          412,
          `User with email '${typeof form.email === 'string' ? form.email : ''}' or username '${typeof form.login === 'string' ? form.login : ''}' already exists`,
        );
        return;
      }
      const user = addUser({
        login,
        email,
        name: typeof form.name === 'string' ? form.name : '',
        password,
        isGrafanaAdmin: false,
      });
      send(res, 200, { id: user.id, uid: user.uid, message: 'User created' });
      return;
    }

    const adminUser = /^\/api\/admin\/users\/(\d+)(\/password)?$/.exec(path);
    if (adminUser !== null) {
      const user = users.get(Number(adminUser[1]));
      if (method === 'PUT' && adminUser[2] === '/password') {
        const form = await readJson(req);
        const password = typeof form?.password === 'string' ? form.password : '';
        if (password.length < 4) {
          message(res, 400, 'New password is too short');
          return;
        }
        if (user === undefined) {
          message(res, 404, 'user not found');
          return;
        }
        user.password = password;
        message(res, 200, 'User password updated');
        return;
      }
      if (method === 'DELETE' && adminUser[2] === undefined) {
        if (user === undefined) {
          message(res, 404, 'user not found');
          return;
        }
        users.delete(user.id);
        for (const members of orgMembers.values()) members.delete(user.id);
        message(res, 200, 'User deleted');
        return;
      }
    }

    if (method === 'GET' && path === '/api/users/lookup') {
      const user = byLoginOrEmail(url.searchParams.get('loginOrEmail') ?? '');
      if (user === undefined) {
        message(res, 404, 'user not found');
        return;
      }
      send(res, 200, userDto(user));
      return;
    }

    if (method === 'GET' && path === '/api/users/search') {
      const perPage = Math.max(Number(url.searchParams.get('perpage') ?? 1000) || 1000, 1);
      const page = Math.max(Number(url.searchParams.get('page') ?? 1) || 1, 1);
      const query = (url.searchParams.get('query') ?? '').toLowerCase();
      const matching = [...users.values()]
        .filter(
          (u) => query === '' || [u.login, u.email, u.name].some((f) => f.toLowerCase().includes(query)),
        )
        .sort((a, b) => a.login.localeCompare(b.login));
      send(res, 200, {
        totalCount: matching.length,
        users: matching.slice((page - 1) * perPage, page * perPage).map((u) => ({
          id: u.id,
          uid: u.uid,
          name: u.name,
          login: u.login,
          email: u.email,
          avatarUrl: '',
          isAdmin: u.isGrafanaAdmin,
          isDisabled: false,
          lastSeenAt: u.createdAt,
          lastSeenAtAge: '10 years',
          authLabels: [],
        })),
        page,
        perPage,
      });
      return;
    }

    const org = /^\/api\/orgs\/(\d+)\/users(?:\/(\d+))?$/.exec(path);
    if (org !== null) {
      const orgId = Number(org[1]);
      const members = orgMembers.get(orgId);
      if (members === undefined) {
        message(res, 404, 'Organization not found');
        return;
      }
      if (method === 'GET' && org[2] === undefined) {
        send(
          res,
          200,
          [...members.entries()].flatMap(([userId, role]) => {
            const u = users.get(userId);
            return u === undefined
              ? []
              : [{ orgId, userId, email: u.email, name: u.name, avatarUrl: '', login: u.login, role }];
          }),
        );
        return;
      }
      if (method === 'POST' && org[2] === undefined) {
        const form = await readJson(req);
        const role = typeof form?.role === 'string' ? form.role : '';
        if (!roles.includes(role)) {
          message(res, 400, 'bad request data');
          return;
        }
        const user = byLoginOrEmail(typeof form?.loginOrEmail === 'string' ? form.loginOrEmail : '');
        if (user === undefined) {
          message(res, 404, 'User not found');
          return;
        }
        if (members.has(user.id)) {
          message(res, 409, 'User is already member of this organization');
          return;
        }
        members.set(user.id, role as Role);
        send(res, 200, { message: 'User added to organization', userId: user.id });
        return;
      }
      const userId = Number(org[2]);
      if (method === 'PATCH' && org[2] !== undefined) {
        const form = await readJson(req);
        const role = typeof form?.role === 'string' ? form.role : '';
        if (!roles.includes(role)) {
          message(res, 400, 'bad request data');
          return;
        }
        if (!members.has(userId)) {
          message(res, 404, 'user not found');
          return;
        }
        members.set(userId, role as Role);
        message(res, 200, 'Organization user updated');
        return;
      }
      if (method === 'DELETE' && org[2] !== undefined) {
        if (!members.delete(userId)) {
          message(res, 404, 'user not found');
          return;
        }
        message(res, 200, 'User removed from organization');
        return;
      }
    }
    message(res, 404, 'Not found');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      message(res, 500, 'internal error');
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => served,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
