/**
 * The product's schedules on real Knative Eventing (test/env/product.ts deployed it with `kubectl apply -k`):
 *
 * - A tick of the PingSource `sync-hourly` (every minute in the test overlay) goes to the Broker and through
 *   the Trigger `sync-hourly` to sync, which runs: the run is in the audit log with the Trigger's verified
 *   OIDC identity as its actor, and sync's request counter with trigger="ping" grows.
 * - A reset sweep larger than one run completes through its continuation events: with
 *   RESET_MAX_NAMESPACES_PER_RUN=2 (test/e2e/global-setup.ts, E2E_CONFIG), a tick of `reset-monthly`
 *   (its schedule set to every minute for this test only) resets two tenant namespaces, sends the
 *   continuation to the Broker with reset's own identity, and the Trigger `reset` brings it back, until
 *   every tenant namespace was reset: the marker ConfigMap put in each of this file's tenants is gone, while
 *   the same marker in a namespace that is no tenant's stays.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../env/provided.ts';
import './provided.ts';
import { eventually as poll } from '../support/eventually.ts';
import { knativeSenderIdentity } from '../support/knative-oidc.ts';
import { increased, letters, productOn } from '../support/knative-product.ts';

const env = inject('testEnv');
const product = inject('product');
const p = productOn(env, product);
const { namespace } = product;

/** This file's waits: at most 240 s, polling every second; a probe may fail while things start. */
const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> =>
  poll(what, () => probe().catch(() => undefined), timeoutMs, 1000);

interface AuditRow {
  readonly id: string;
  readonly at: Date;
  readonly actor: string;
  readonly outcome: string;
  readonly request_id: string | null;
  readonly details: Record<string, unknown>;
}

/** Audit rows of `operation` stamped after `since`, oldest first. */
const auditSince = (operation: string, since: Date): Promise<AuditRow[]> =>
  p.store<AuditRow>(
    `SELECT id, at, actor, outcome, request_id, details FROM tenant_lifecycle.audit_log
      WHERE operation = $1 AND at > $2 ORDER BY id`,
    [operation, since],
  );

describe('a PingSource through the Broker', () => {
  it('runs sync on the next tick of sync-hourly: audit record with the Trigger identity, ping metric up', async () => {
    expect(product.schedules['sync-hourly']).toBe('* * * * *');
    const pingIdentity = knativeSenderIdentity('Trigger', namespace, 'sync-hourly');
    const runs = { operation: 'sync', trigger: 'ping', outcome: 'success' };
    const since = await p.storeNow();
    const before = await p.counter('sync', 'tenant_function_requests_total', runs);

    const [row] = await eventually('a sync run of a tick after the test began', async () => {
      const rows = (await auditSince('sync', since)).filter((r) => r.actor === pingIdentity);
      return rows.length > 0 ? rows : undefined;
    });
    expect(row?.outcome).toBe('success');
    expect(row?.details).toHaveProperty('counts');
    // The counter of the pod that handled it grew; a pod started since counts from zero.
    const after = await eventually('sync ping counter to grow', async () => {
      const now = await p.counter('sync', 'tenant_function_requests_total', runs);
      return increased(before, now) ? now : undefined;
    });
    console.log(
      `sync ping tick: audit row at ${row?.at.toISOString() ?? '?'} (${String(Math.round(((row?.at.getTime() ?? 0) - since.getTime()) / 1000))} s after the test began); ` +
        `counter per pod ${JSON.stringify(Object.fromEntries(before))} -> ${JSON.stringify(Object.fromEntries(after))}`,
    );
  });
});

describe('a reset sweep larger than one run', () => {
  const suffix = letters(6);
  const tenantEmails = ['a', 'b', 'c', 'd', 'e'].map((i) => `reset.${suffix}.${i}@example.org`);
  const tenants: string[] = [];
  /** A namespace that is no tenant's: reset must leave its marker alone. */
  const outsider = `reset-out-${suffix}`;
  const MARKER = 'e2e-reset-marker';
  const LIMIT = '2';
  let configPatched = false;
  let originalSchedule: string | undefined;

  const marker = (ns: string) => ({ metadata: { name: MARKER, namespace: ns }, data: { suffix } });
  const markerExists = (ns: string): Promise<boolean> =>
    p.core.readNamespacedConfigMap({ name: MARKER, namespace: ns }).then(
      () => true,
      () => false,
    );
  const setSchedule = (schedule: string) =>
    p.kubectl(
      '-n',
      namespace,
      'patch',
      'pingsource',
      'reset-monthly',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { schedule } }),
    );
  /** reset's pods read the ConfigMap (envFrom) when they start: new pods take the setting. */
  const restartReset = () =>
    p.kubectl('-n', namespace, 'delete', 'pod', '-l', 'serving.knative.dev/service=reset', '--wait=false');
  const restoreSchedule = async (): Promise<void> => {
    if (originalSchedule === undefined) return;
    await setSchedule(originalSchedule);
    originalSchedule = undefined;
  };

  beforeAll(async () => {
    for (const email of tenantEmails) {
      const username = await p.provisionTenant(email);
      tenants.push(username);
      await p.core.createNamespacedConfigMap({ namespace: username, body: marker(username) });
    }
    await p.core.createNamespace({ body: { metadata: { name: outsider } } });
    await p.core.createNamespacedConfigMap({ namespace: outsider, body: marker(outsider) });

    // A deployment made with E2E_CONFIG has the limit; an older one gets it here, and loses it afterwards.
    const config = await p.core.readNamespacedConfigMap({ name: 'tenant-lifecycle-config', namespace });
    if (config.data?.RESET_MAX_NAMESPACES_PER_RUN !== LIMIT) {
      await p.kubectl(
        '-n',
        namespace,
        'patch',
        'configmap',
        'tenant-lifecycle-config',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ data: { RESET_MAX_NAMESPACES_PER_RUN: LIMIT } }),
      );
      configPatched = true;
      await restartReset();
    }
  });

  afterAll(async () => {
    await restoreSchedule().catch((error: unknown) => {
      console.error('could not restore the schedule of reset-monthly', error);
    });
    if (configPatched) {
      await p
        .kubectl(
          '-n',
          namespace,
          'patch',
          'configmap',
          'tenant-lifecycle-config',
          '--type',
          'json',
          '-p',
          JSON.stringify([{ op: 'remove', path: '/data/RESET_MAX_NAMESPACES_PER_RUN' }]),
        )
        .catch((error: unknown) => {
          console.error('could not restore tenant-lifecycle-config', error);
        });
      await restartReset().catch(() => undefined);
    }
    for (const email of tenantEmails)
      await p.deprovisionTenant(email).catch((error: unknown) => {
        console.error(error);
      });
    await p.core.deleteNamespace({ name: outsider }).catch(() => undefined);
  });

  it('resets every tenant namespace across runs linked by continuation events', async () => {
    expect(tenants).toHaveLength(5);
    const pingIdentity = knativeSenderIdentity('Trigger', namespace, 'reset-monthly');
    const continuationIdentity = knativeSenderIdentity('Trigger', namespace, 'reset');
    const since = await p.storeNow();
    const pingSource = (await p.custom.getNamespacedCustomObject({
      group: 'sources.knative.dev',
      version: 'v1',
      namespace,
      plural: 'pingsources',
      name: 'reset-monthly',
    })) as { spec: { schedule: string } };
    originalSchedule = pingSource.spec.schedule;
    expect(originalSchedule).not.toBe('* * * * *');
    await setSchedule('* * * * *');

    // The sweep starts at the next tick; one tick is enough, the continuations carry it on.
    await eventually('the first reset run of a reset-monthly tick', async () => {
      const rows = await auditSince('reset', since);
      return rows.some((r) => r.actor === pingIdentity) ? true : undefined;
    });
    await restoreSchedule();
    const rows = await eventually('the reset sweep to finish', async () => {
      const all = (await auditSince('reset', since)).filter(
        (r) => r.actor === pingIdentity || r.actor === continuationIdentity,
      );
      const first = all.findIndex((r) => r.actor === pingIdentity);
      const sweep = all.slice(first);
      return sweep.some((r) => r.details.stopped === undefined) ? sweep : undefined;
    });
    const last = rows.findIndex((r) => r.details.stopped === undefined);
    const sweep = rows.slice(0, last + 1);
    console.log(
      `reset sweep: ${String(sweep.length)} runs, ` +
        sweep
          .map(
            (r) =>
              `${r.at.toISOString()} ${r.actor === pingIdentity ? 'tick' : 'continuation'} reset ${String(r.details.namespacesReset)}` +
              (r.details.continue === undefined ? '' : ` -> after ${JSON.stringify(r.details.continue)}`),
          )
          .join('; ') +
        `; ${String(Math.round((sweep.at(-1)?.at.getTime() ?? 0) - (sweep[0]?.at.getTime() ?? 0)) / 1000)} s from the first run's record to the last's`,
    );

    // The tick started it; every later run came from a continuation event through the Trigger `reset`.
    expect(sweep.length).toBeGreaterThanOrEqual(3);
    expect(sweep[0]?.actor).toBe(pingIdentity);
    const cursors: string[] = [];
    for (const [i, run] of sweep.entries()) {
      expect(run.details.namespacesReset as number).toBeLessThanOrEqual(Number(LIMIT));
      if (i > 0) expect(run.actor, `run ${String(i)}`).toBe(continuationIdentity);
      if (i < sweep.length - 1) {
        expect(run.details.stopped, `run ${String(i)}`).toBe('limit');
        expect(run.outcome).toBe('partial');
        cursors.push((run.details.continue as { after: string }).after);
      }
    }
    // Each continuation went on after the previous one's cursor: the cursors ascend in name order.
    expect(cursors).toEqual([...cursors].sort());
    expect(new Set(cursors).size).toBe(cursors.length);
    const resetTotal = sweep.reduce((n, r) => n + (r.details.namespacesReset as number), 0);
    expect(resetTotal).toBeGreaterThanOrEqual(tenants.length);

    // Every tenant's marker is gone, the tenant namespace itself stays; the outsider's marker is untouched.
    for (const tenant of tenants) {
      expect(await markerExists(tenant), tenant).toBe(false);
      expect(await p.namespaceExists(tenant), tenant).toBe(true);
    }
    expect(await markerExists(outsider)).toBe(true);
  });
});
