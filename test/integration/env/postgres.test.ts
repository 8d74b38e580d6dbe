import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import '../../env/provided.ts';
import { login } from '../../support/pg-roles.ts';

const { url, user, password } = inject('testEnv').postgres;

async function asSuperuser<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('postgres', () => {
  it('serves PostgreSQL 15 or newer, and databases can be created and dropped', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ server_version_num: string }>('SHOW server_version_num');
      expect(Number(rows[0]?.server_version_num)).toBeGreaterThanOrEqual(150000);
      const name = `t_${randomBytes(4).toString('hex')}`;
      await client.query(`CREATE DATABASE ${name}`);
      const created = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      expect(created.rowCount).toBe(1);
      await client.query(`DROP DATABASE ${name}`);
      const dropped = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      expect(dropped.rowCount).toBe(0);
    } finally {
      await client.end();
    }
  });

  it('asks every login for its password (scram-sha-256), the superuser too', async () => {
    const settings = await asSuperuser(async (client) => ({
      rules: (
        await client.query<{ type: string; auth_method: string; error: string | null }>(
          'SELECT type, auth_method, error FROM pg_hba_file_rules',
        )
      ).rows,
      encryption: (await client.query<{ password_encryption: string }>('SHOW password_encryption')).rows[0]
        ?.password_encryption,
    }));
    expect(settings.encryption).toBe('scram-sha-256');
    expect(settings.rules.map((r) => r.type)).toEqual(expect.arrayContaining(['host', 'local']));
    for (const rule of settings.rules)
      expect(rule).toMatchObject({ auth_method: 'scram-sha-256', error: null });

    expect(new URL(url).password).toBe(password);
    expect(password).toMatch(/^[0-9a-f]{32,}$/);
    expect(await login(url, user, password)).toBe('ok');
    expect(await login(url, user, `${password}x`)).toBe('28P01');
  });

  it("a role logs in with its own password only, stored as a SCRAM verifier; one without a password can't", async () => {
    const name = `t_login_${randomBytes(4).toString('hex')}`;
    const rolePassword = randomBytes(12).toString('hex');
    const [withPassword, withoutPassword] = [`${name}_pw`, `${name}_none`];
    await asSuperuser(async (client) => {
      await client.query(`CREATE ROLE ${withPassword} LOGIN PASSWORD ${pg.escapeLiteral(rolePassword)}`);
      await client.query(`CREATE ROLE ${withoutPassword} LOGIN`);
    });
    try {
      const { rows } = await asSuperuser((client) =>
        client.query<{ verifier: string }>(
          'SELECT rolpassword AS verifier FROM pg_authid WHERE rolname = $1',
          [withPassword],
        ),
      );
      expect(rows[0]?.verifier).toMatch(/^SCRAM-SHA-256\$4096:/);
      expect(await login(url, withPassword, rolePassword)).toBe('ok');
      expect(await login(url, withPassword, 'not-its-password')).toBe('28P01');
      expect(await login(url, withPassword, password)).toBe('28P01');
      expect(await login(url, withoutPassword, rolePassword)).toBe('28P01');
    } finally {
      await asSuperuser(async (client) => {
        await client.query(`DROP ROLE IF EXISTS ${withPassword}`);
        await client.query(`DROP ROLE IF EXISTS ${withoutPassword}`);
      });
    }
  });
});
