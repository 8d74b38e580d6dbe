/** dead-letter's settings: the platform store, and the Broker that replays go through. */
import { nonEmpty, optional, zMini } from '../../shared/platform/env-schema.ts';
import { defineConfig } from '../../shared/platform/config.ts';

export const loadConfig = defineConfig(
  {
    DATABASE_URL: nonEmpty(),
    /**
     * Where a replay sends the undelivered event again: the Broker's ingress URL, whose Trigger delivers it
     * to its function as it did the first time. K_SINK (a SinkBinding's) when unset; neither: replays are
     * refused (listing still works).
     */
    REPLAY_SINK: optional(zMini.url()),
    K_SINK: optional(zMini.url()),
  },
  (v) => ({ databaseUrl: v.DATABASE_URL, replaySink: v.REPLAY_SINK ?? v.K_SINK }),
);

export type DeadLetterConfig = ReturnType<typeof loadConfig>;
