/**
 * The reconcile engine on the real PostgreSQL (desired state handed in directly; the function test covers
 * the ConfigMap and Secrets on the real apiserver): a no-op run sends no DDL and writes nothing, concurrent
 * runs take turns under the advisory lock, a connection lost mid-run is retried, a statement the server
 * refuses is isolated to its item, and a reconciler that cannot read pg_authid follows Secret versions
 * (its users log in with the Secret's password, and after a rotation with the new one only).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool } from '../../../shared/adapters/postgres/pool.ts';
import { LOCK_KEY } from '../../../shared/pg-roles/apply.ts';
import { reconcile, type ReconcileSettings } from '../../../shared/pg-roles/reconcile.ts';
import type { DesiredSource, UserSecret } from '../../../shared/pg-roles/source.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import { platformErrorOf } from '../../support/platform-error.ts';
import { eventually, login, readRoles, rolePrefix, urlAs } from '../../support/pg-roles.ts';

const env = inject('testEnv');
const P = rolePrefix();
const pools: pg.Pool[] = [];
let app: TestDatabase;
let admin: pg.Client;

/** The desired state as the ConfigMap and Secrets would give it. */
class MemorySource implements DesiredSource {
  yaml = '';
  secrets = new Map<string, UserSecret>();
  readUsersYaml() {
    return Promise.resolve(this.yaml);
  }
  readSecrets(names: ReadonlySet<string>) {
    return Promise.resolve(new Map([...this.secrets].filter(([n]) => names.has(n))));
  }
  user(name: string, password: string, version = '1') {
    this.secrets.set(`user-${name.replaceAll('_', '-')}-secret`, {
      version: `uid-${name}/${version}`,
      password,
    });
  }
}

function pool(url = env.postgres.url, applicationName = 'pg-reconcile-test'): pg.Pool {
  const p = createPool({ connectionString: url, applicationName, log: { warn: () => undefined } });
  pools.push(p);
  return p;
}

function settings(scope: string, trace?: (sql: string) => void): ReconcileSettings {
  return {
    source: 'test/cm',
    scope,
    defaultDatabase: app.name,
    maxDropShare: 0.25,
    scramIterations: 4096,
    retries: 3,
    retryMinDelayMs: 20,
    databaseUrl: (database) => {
      const u = new URL(env.postgres.url);
      u.pathname = `/${database}`;
      return u.toString();
    },
    ...(trace === undefined ? {} : { trace }),
  };
}

const usersYaml = (names: string[], roles: string[] = []) =>
  `users:\n${names.map((n) => `  - username: ${n}\n    roles: [${roles.join(', ')}]\n`).join('')}`;

beforeAll(async () => {
  app = await createTestDatabase(env.postgres.url, 'pgr_app');
  admin = new pg.Client({ connectionString: env.postgres.url });
  await admin.connect();
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  const { rows } = await admin.query<{ name: string }>(
    `SELECT rolname AS name FROM pg_roles WHERE starts_with(rolname, $1)`,
    [P],
  );
  for (const r of rows) {
    await admin.query(`DROP OWNED BY ${pg.escapeIdentifier(r.name)}`).catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(r.name)}`).catch(() => undefined);
  }
  await admin.end();
  await app.drop();
});

describe('reconcile on the real PostgreSQL', () => {
  it('creates from empty, then a no-op run sends no DDL and writes nothing (no transaction id)', async () => {
    const source = new MemorySource();
    const names = [`${P}n1`, `${P}n2`, `${P}n3`];
    source.yaml = usersYaml(names, [`${P}grp`]);
    names.forEach((n) => {
      source.user(n, `pw-${n}`);
    });
    const scope = `${P}noop`;
    const first = await reconcile(
      { dryRun: false, force: false },
      { source, pool: pool(), settings: settings(scope) },
    );
    expect(first.summary).toMatchObject({ users_created: 3, roles_created: 1, errors: 0 });
    expect(first.wrote).toBe(true);

    const xmin = async () =>
      (
        await admin.query<{ x: string }>(
          `SELECT string_agg(a.rolname || ':' || a.xmin::text || ':' || coalesce(d.xmin::text, '-'), ',' ORDER BY a.rolname) AS x
             FROM pg_authid a LEFT JOIN pg_shdescription d ON d.objoid = a.oid
            WHERE starts_with(a.rolname, $1)`,
          [P],
        )
      ).rows[0]?.x;
    const before = await xmin();
    const sent: string[] = [];
    const second = await reconcile(
      { dryRun: false, force: false },
      { source, pool: pool(), settings: settings(scope, (sql) => sent.push(sql)) },
    );
    expect(second.summary).toMatchObject({ drift_detected: 0, roles_created: 0, errors: 0 });
    expect(second.lines).toEqual(['No drift detected - system in desired state']);
    expect(second).toMatchObject({ statements: 0, wrote: false });
    expect(second.catalog_queries).toBeLessThanOrEqual(3);
    expect(sent.map((s) => s.trim().split(/\s+/).slice(0, 2).join(' '))).toEqual([
      'BEGIN',
      'SELECT pg_advisory_xact_lock(hashtextextended($1,',
      'SELECT current_user::text',
      'SELECT r.oid::text',
      'SELECT txid_current_if_assigned()',
      'COMMIT',
    ]);
    expect(sent.join('\n')).not.toMatch(/\b(CREATE|ALTER|GRANT|REVOKE|DROP|COMMENT|REASSIGN)\b/);
    expect(await xmin()).toBe(before);
  });

  it('never sends a plaintext password: the server stores the verifier computed by the function', async () => {
    const source = new MemorySource();
    const name = `${P}plain`;
    source.yaml = usersYaml([name]);
    source.user(name, 'a-very-distinctive-password');
    const sent: string[] = [];
    await reconcile(
      { dryRun: false, force: false },
      { source, pool: pool(), settings: settings(`${P}plain`, (sql) => sent.push(sql)) },
    );
    expect(sent.join('\n')).not.toContain('a-very-distinctive-password');
    expect(sent.join('\n')).toContain("PASSWORD 'SCRAM-SHA-256$<redacted>'");
    expect((await readRoles(env.postgres.url, name)).get(name)?.password).toMatch(/^SCRAM-SHA-256\$4096:/);
  });

  it('concurrent runs take turns under the advisory lock: each user is created once, no run fails', async () => {
    const source = new MemorySource();
    const names = Array.from({ length: 40 }, (_, i) => `${P}c${String(i)}`);
    source.yaml = usersYaml(names, [`${P}cgrp`]);
    names.forEach((n) => {
      source.user(n, `pw-${n}`);
    });
    const runs = await Promise.all(
      Array.from({ length: 4 }, () =>
        reconcile({ dryRun: false, force: false }, { source, pool: pool(), settings: settings(`${P}conc`) }),
      ),
    );
    expect(runs.map((r) => r.summary.errors)).toEqual([0, 0, 0, 0]);
    expect(runs.reduce((n, r) => n + r.summary.users_created, 0)).toBe(40);
    expect(runs.reduce((n, r) => n + r.summary.roles_created, 0)).toBe(1);
    expect(runs.filter((r) => r.wrote)).toHaveLength(1);
    const roles = await readRoles(env.postgres.url, `${P}c`);
    expect([...roles.keys()].filter((n) => n !== `${P}cgrp`).sort()).toEqual([...names].sort());
  });

  it('retries a run whose connection was lost (here: killed while it waited for the lock)', async () => {
    const source = new MemorySource();
    const name = `${P}retry`;
    source.yaml = usersYaml([name]);
    source.user(name, 'pw');
    const holder = new pg.Client({ connectionString: env.postgres.url });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [LOCK_KEY]);
    const run = reconcile(
      { dryRun: false, force: false },
      { source, pool: pool(env.postgres.url, 'pgr-retry-victim'), settings: settings(`${P}retry`) },
    );
    let killed = 0;
    await eventually(async () => {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE application_name = 'pgr-retry-victim' AND wait_event_type = 'Lock'`,
      );
      killed += rows[0]?.n ?? 0;
      return killed > 0;
    }, 'the run to wait for the lock');
    await holder.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [LOCK_KEY]);
    await holder.end();
    const report = await run;
    expect(report.summary).toMatchObject({ users_created: 1, errors: 0 });
    expect((await readRoles(env.postgres.url, name)).has(name)).toBe(true);
  });

  it('a statement the server refuses fails only its item; the others are applied and it is reported', async () => {
    // a in b and b in a: the planner cannot see the cycle, the server refuses the second GRANT.
    const source = new MemorySource();
    const [a, b, c] = [`${P}cy_a`, `${P}cy_b`, `${P}cy_c`];
    source.yaml = `users:\n  - username: ${a}\n    roles: [${b}]\n  - username: ${b}\n    roles: [${a}]\n  - username: ${c}\n`;
    [a, b, c].forEach((n) => {
      source.user(n, 'pw');
    });
    const report = await reconcile(
      { dryRun: false, force: false },
      { source, pool: pool(), settings: settings(`${P}cycle`) },
    );
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatchObject({ subject: `user ${b}`, step: 'grant-roles' });
    expect(report.failures[0]?.message).toMatch(/^0LP01: /);
    const roles = await readRoles(env.postgres.url, `${P}cy_`);
    expect(roles.get(a)?.member_of).toEqual([b]);
    expect(roles.get(c)?.login).toBe(true);
    expect(report.message).toMatch(/errors/);
  });

  it('a reconciler that cannot read pg_authid (CREATEROLE, not superuser) follows the Secret version', async () => {
    const boss = `${P}boss`;
    const bossPassword = randomBytes(12).toString('hex');
    await admin.query(
      `CREATE ROLE ${pg.escapeIdentifier(boss)} LOGIN CREATEROLE PASSWORD ${pg.escapeLiteral(bossPassword)}`,
    );
    // Without the grant option its GRANT CONNECT would be a no-op the server only warns about.
    await admin.query(
      `GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(app.name)} TO ${pg.escapeIdentifier(boss)} WITH GRANT OPTION`,
    );
    const asBoss = pool(urlAs(env.postgres.url, boss, bossPassword));
    const source = new MemorySource();
    const name = `${P}nb_user`;
    source.yaml = usersYaml([name]);
    source.user(name, 'first');
    const run = () =>
      reconcile(
        { dryRun: false, force: false },
        { source, pool: asBoss, settings: settings(`${P}nonsuper`) },
      );
    const created = await run();
    expect(created).toMatchObject({ password_check: 'secret-version', summary: { users_created: 1 } });
    const stored = (await readRoles(env.postgres.url, name)).get(name)?.password;
    expect(await login(env.postgres.url, name, 'first')).toBe('ok');
    expect(await login(env.postgres.url, name, 'second')).toBe('28P01');
    expect(await run()).toMatchObject({ statements: 0, wrote: false });
    source.user(name, 'second', '2');
    const rotated = await run();
    expect(rotated.summary.passwords_rotated).toBe(1);
    expect((await readRoles(env.postgres.url, name)).get(name)?.password).not.toBe(stored);
    expect(await login(env.postgres.url, name, 'second')).toBe('ok');
    expect(await login(env.postgres.url, name, 'first')).toBe('28P01');
  });
  it('refuses a ConfigMap granting a role that leads to superuser (named built-in, or through memberships): no statement, no role', async () => {
    const q = (name: string) => pg.escapeIdentifier(name);
    await admin.query(
      `CREATE ROLE ${q(`${P}admins`)} SUPERUSER; CREATE ROLE ${q(`${P}ops`)}; GRANT ${q(`${P}admins`)} TO ${q(`${P}ops`)};
       CREATE ROLE ${q(`${P}deep`)}; GRANT ${q(`${P}ops`)} TO ${q(`${P}deep`)}; CREATE ROLE ${q(`${P}readers`)};`,
    );
    const scope = `${P}escalation`;
    const run = async (granted: string, user: string) => {
      const source = new MemorySource();
      // Beside the attack, an ordinary user in the same ConfigMap: a refused run must not create it either.
      source.yaml = `users:\n  - username: ${user}\n    roles: [${granted}]\n  - username: ${user}_ok\n    roles: [${P}readers]\n`;
      source.user(user, `pw-${user}`);
      source.user(`${user}_ok`, `pw-${user}-ok`);
      const sent: string[] = [];
      const outcome = await platformErrorOf(
        reconcile(
          { dryRun: false, force: false },
          { source, pool: pool(), settings: settings(scope, (sql) => sent.push(sql)) },
        ),
      );
      return { outcome, sent };
    };
    for (const [granted, why] of [
      ['pg_execute_server_program', /role pg_execute_server_program is never granted/],
      ['pg_write_server_files', /role pg_write_server_files is never granted/],
      ['pg_read_server_files', /role pg_read_server_files is never granted/],
      ['pg_read_all_data', /role pg_read_all_data is never granted/],
      [`${P}admins`, new RegExp(`\\(${P}admins: ${P}admins has SUPERUSER\\)`)],
      [`${P}ops`, new RegExp(`\\(${P}ops -> ${P}admins: ${P}admins has SUPERUSER\\)`)],
      [`${P}deep`, new RegExp(`\\(${P}deep -> ${P}ops -> ${P}admins: ${P}admins has SUPERUSER\\)`)],
    ] as const) {
      const user = `${P}esc_${granted.replace(P, '')}`.slice(0, 40);
      const { outcome, sent } = await run(granted, user);
      expect(outcome.status).toBe(400);
      expect(outcome.reason).toBe('bad_request');
      expect(outcome.message).toMatch(why);
      expect(outcome.message).toMatch(/nothing was changed/);
      expect(sent.filter((sql) => /^\s*(CREATE|ALTER|GRANT|REVOKE|DROP|COMMENT)/i.test(sql))).toEqual([]);
      const roles = await readRoles(env.postgres.url, `${P}esc_`);
      expect([...roles.keys()]).toEqual([]);
    }

    // Positive control: the same ConfigMap granting an ordinary role (whose parents are ordinary) and a
    // built-in without such rights reconciles.
    await admin.query(
      `GRANT ${q(`${P}readers`)} TO ${q(`${P}ops`)}; REVOKE ${q(`${P}admins`)} FROM ${q(`${P}ops`)}`,
    );
    const source = new MemorySource();
    source.yaml = `users:\n  - username: ${P}esc_fine\n    roles: [${P}ops, pg_monitor]\n  - username: ${P}esc_fine_ok\n    roles: [${P}readers]\n`;
    source.user(`${P}esc_fine`, 'pw-fine');
    source.user(`${P}esc_fine_ok`, 'pw-fine-ok');
    const sent: string[] = [];
    const report = await reconcile(
      { dryRun: false, force: false },
      { source, pool: pool(), settings: settings(scope, (sql) => sent.push(sql)) },
    );
    expect(report.summary).toMatchObject({ users_created: 2, errors: 0 });
    // The trace sees the DDL of a run that changes something (so its emptiness above means something).
    expect(sent.some((sql) => /^\s*CREATE ROLE/i.test(sql))).toBe(true);
    const roles = await readRoles(env.postgres.url, `${P}esc_`);
    expect(roles.get(`${P}esc_fine`)?.member_of).toEqual([`${P}ops`, 'pg_monitor'].sort());
    expect(roles.get(`${P}esc_fine_ok`)?.member_of).toEqual([`${P}readers`]);
  });
});
