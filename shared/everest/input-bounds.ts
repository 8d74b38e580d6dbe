/**
 * Bounds of the numbers the Everest API takes (bootstrap's limits, enforce's checks and usage counters):
 * far beyond any real cluster, and inside what every store below holds, so that no value the schemas
 * accept can overflow one (a 400 at the door instead of a 500 from the store):
 * - usage_counters (migration 3): memory_used bigint, cpu_used double precision, counts integer;
 * - TenantResourcePolicy: memoryBytes, maxClusters, maxDbUsers int64; cpuCores float64;
 * - the cluster-count ResourceQuota: a Kubernetes quantity.
 * Bytes and counts are integers (zod's `int()` also keeps them exact in a JavaScript number).
 */

/** A million cores. */
export const MAX_CPU_CORES = 1_000_000;
/**
 * 1 PiB. A usage counter adds it per registration: 8192 of them still fit PostgreSQL's bigint, and the
 * counter store answers 400 should a namespace ever go beyond.
 */
export const MAX_MEMORY_BYTES = 2 ** 50;
/** Clusters or database users of a namespace; PostgreSQL's integer holds 2^31 - 1. */
export const MAX_COUNT = 1_000_000;
