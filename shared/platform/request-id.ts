import type { IncomingHttpHeaders } from 'node:http';

// node:crypto as CommonJS: its ES module facade would read every export (webcrypto's too) at start.
const { randomUUID } = process.getBuiltinModule('node:crypto');

const REQUEST_ID = /^[\w.:@-]{1,128}$/;

/** The caller's X-Request-ID when it is a sane token, else a new UUID. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const sent = headers['x-request-id'];
  const value = Array.isArray(sent) ? sent[0] : sent;
  return value !== undefined && REQUEST_ID.test(value) ? value : randomUUID();
}
