import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import '../../env/provided.ts';

const { url } = inject('testEnv').postgres;

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
});
