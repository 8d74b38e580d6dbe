/**
 * What the host needs of the store for idempotent operations: run the work once per Idempotency-Key and
 * replay its stored answer to a repeat (implemented by PlatformStore, shared/store/store.ts).
 */

export interface StoredAnswer {
  readonly status: number;
  readonly body: unknown;
  /** What replays get instead of `body`, when the first answer holds something never to be stored. */
  readonly replayBody?: unknown;
}

export interface IdempotentResult extends StoredAnswer {
  /** True when this is the stored answer of an earlier request. */
  readonly replayed: boolean;
}

export interface IdempotencyStore {
  /**
   * Runs `fn` once per (`scope`, `key`); a repeat with the same `request` gets the stored answer, one with
   * another request a 422, one while the first still runs a 409.
   */
  runIdempotent(
    request: {
      readonly scope: string;
      readonly key: string;
      readonly request: unknown;
      readonly ttlSeconds?: number;
      readonly staleAfterSeconds?: number;
    },
    fn: () => Promise<StoredAnswer>,
  ): Promise<IdempotentResult>;
}
