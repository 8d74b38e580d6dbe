/**
 * No change without its audit record, on the real servers: the platform store's PostgreSQL refuses the
 * audit row of one tenant (a trigger that raises on insert, as a revoked grant or a full disk would), and
 * provisioning that tenant answers a retryable 503 saying the change was made but its record is missing,
 * while the same provision of another tenant beside it answers 200 and has its row.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunningFunction } from '../../../shared/platform/server.ts';
import { PlatformStore } from '../../../shared/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../env/databases.ts';
import '../../env/provided.ts';
import {
  ensureTenantClusterRole,
  FUNCTION_TOKEN,
  startTenantFunctions,
} from '../../support/tenant-functions.ts';

const env = inject('testEnv');
/** The tenant whose audit row the store refuses, and the one beside it whose row it accepts. */
const LOST = 'audit-lost';
const KEPT = 'audit-kept';

let db: TestDatabase;
let admin: pg.Client;
let provision: RunningFunction;
let deprovision: RunningFunction;
let stop: () => Promise<void>;
let core: CoreV1Api;

beforeAll(async () => {
  db = await createTestDatabase(env.postgres.url, 'auditrecord');
  await ensureTenantClusterRole(env);
  // The audit table exists before the trigger is put on it.
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  await new PlatformStore(pool).ensureSchema();
  await pool.end();
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(`
    CREATE FUNCTION public.refuse_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the audit log refuses rows for %', NEW.target USING ERRCODE = 'insufficient_privilege';
    END $$`);
  await admin.query(
    `CREATE TRIGGER refuse_audit_row BEFORE INSERT ON tenant_lifecycle.audit_log
       FOR EACH ROW WHEN (NEW.target = '${LOST}') EXECUTE FUNCTION public.refuse_audit_row()`,
  );
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  ({ provision, deprovision, stop } = await startTenantFunctions(env, db.url));
});
afterAll(async () => {
  await stop();
  await admin.end();
  await db.drop();
});

const call = (fn: RunningFunction, method: string, body: unknown) =>
  fetch(`${fn.url}/provisioner`, {
    method,
    headers: { authorization: FUNCTION_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

async function auditRows(target: string): Promise<{ operation: string; outcome: string }[]> {
  const { rows } = await admin.query<{ operation: string; outcome: string }>(
    'SELECT operation, outcome FROM tenant_lifecycle.audit_log WHERE target = $1 ORDER BY id',
    [target],
  );
  return rows;
}

async function namespaceExists(name: string): Promise<boolean> {
  try {
    await core.readNamespace({ name });
    return true;
  } catch {
    return false;
  }
}

describe('a change whose audit record cannot be written', () => {
  it('answers 503 "audit record could not be written", beside a provision that answers 200 with its row', async () => {
    const kept = await call(provision, 'POST', { full_name: 'Audit Kept' });
    expect(kept.status).toBe(200);
    expect(await kept.json()).toMatchObject({ username: KEPT });
    expect(await auditRows(KEPT)).toEqual([{ operation: 'provision', outcome: 'success' }]);

    const lost = await call(provision, 'POST', { full_name: 'Audit Lost' });
    const problem = (await lost.json()) as Record<string, unknown>;
    expect(lost.status).toBe(503);
    expect(problem).toMatchObject({
      type: 'urn:tenant-lifecycle:problem:unavailable',
      status: 503,
      retryable: true,
      auditRecord: 'missing',
    });
    expect(problem.detail).toBe(
      `provision of ${LOST}: the change was made but its audit record could not be written`,
    );
    expect(problem).not.toHaveProperty('password');
    // The change was made (the saga finished) and its record is what is missing.
    expect(await namespaceExists(LOST)).toBe(true);
    expect(await auditRows(LOST)).toEqual([]);
  });

  it('records the next change once the audit log accepts the row again', async () => {
    await admin.query('DROP TRIGGER refuse_audit_row ON tenant_lifecycle.audit_log');
    for (const [name, target] of [
      ['Audit Lost', LOST],
      ['Audit Kept', KEPT],
    ] as const) {
      const removed = await call(deprovision, 'DELETE', { full_name: name });
      expect(removed.status).toBe(200);
      await removed.arrayBuffer();
      expect((await auditRows(target)).at(-1)).toEqual({ operation: 'deprovision', outcome: 'success' });
    }
  });
});
