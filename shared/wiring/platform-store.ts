/**
 * The platform store of one function instance: a pool sized by the platform settings (one connection per
 * concurrent operation) and the store over it. Every function's wiring starts here.
 */
import type pg from 'pg';
import { createPool, poolSizeFor, poolTimeouts } from '../adapters/postgres/pool.ts';
import type { PlatformConfig } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import { PlatformStore } from '../store/store.ts';

/**
 * The platform settings the systems are sized by: pool size, how long a tenant lock is waited for, how
 * long its lease lasts, and the bound of each call to each system.
 */
export type SystemsSizing = Pick<
  PlatformConfig,
  'maxConcurrentOperations' | 'requestTimeoutMs' | 'lockLeaseMs' | 'callTimeouts'
>;

export interface StoreConnection {
  readonly store: PlatformStore;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

export function connectPlatformStore(
  settings: { readonly databaseUrl: string } & SystemsSizing,
  log: Logger,
  functionName: string,
  options: {
    /** The key of idempotency fingerprints (functions with idempotent operations). */
    readonly idempotencySecret?: string | undefined;
    /** Functions that lock tenants: lock waits and leases from the platform settings. */
    readonly tenantLocks?: boolean;
  } = {},
): StoreConnection {
  const pool = createPool({
    connectionString: settings.databaseUrl,
    max: poolSizeFor(settings.maxConcurrentOperations),
    log,
    applicationName: functionName,
    ...poolTimeouts(settings.callTimeouts),
  });
  const store = new PlatformStore(pool, undefined, {
    ...(options.idempotencySecret === undefined ? {} : { idempotencySecret: options.idempotencySecret }),
    ...(options.tenantLocks === true
      ? {
          // Half the request's time to wait for a tenant's lock, the other half for its own work.
          lockWaitMs: settings.requestTimeoutMs / 2,
          lockLeaseMs: settings.lockLeaseMs,
        }
      : {}),
  });
  return { store, pool, close: () => pool.end() };
}
