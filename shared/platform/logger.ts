/**
 * Structured JSON logs (pino), one line per event, with the function name on every line and the request id
 * on every line of a request. Header values that carry credentials are redacted by path as a second line of
 * defence; the first is that no code logs request bodies, passwords, tokens or Secret data.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const redactedPaths = [
  'req.headers.authorization',
  'req.headers["x-admin-key"]',
  'req.headers.cookie',
  '*.password',
  '*.token',
  '*.apiToken',
  '*.apiTokens',
  '*.secret',
];

export function createLogger(options: {
  readonly functionName: string;
  readonly level: string;
  /** Defaults to stdout; tests pass a stream to read what was logged. */
  readonly destination?: pino.DestinationStream;
}): Logger {
  return pino(
    {
      level: options.level,
      base: { function: options.functionName },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactedPaths, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.errWithCause },
    },
    // Synchronous writes: a line logged just before a crash or exit is not lost.
    options.destination ?? pino.destination(1),
  );
}
