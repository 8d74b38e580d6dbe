/**
 * Reading and parsing request bodies. The body is read by us, bounded, before the functions framework's
 * own parsers see the request (see server.ts), so that an oversized or malformed body becomes a problem+json
 * response instead of the framework's HTML error page.
 */
import type { IncomingMessage } from 'node:http';
import { PlatformError } from './errors.ts';

/** Reads the whole body, refusing more than `limit` bytes (checked on Content-Length first, then counted). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume(); // drain the rest so the connection can answer
      throw tooLarge(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function tooLarge(limit: number): PlatformError {
  return new PlatformError({ reason: 'payload_too_large', message: `request body exceeds ${limit} bytes` });
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type === '' ? undefined : type;
}

export function isJsonMediaType(type: string | undefined): boolean {
  return type === 'application/json' || (type?.startsWith('application/') === true && type.endsWith('+json'));
}

/**
 * A JSON request body as a value: undefined when empty; 415 when it is not JSON; 400 when it does not parse.
 * The parser error's text is not echoed (it may quote the body).
 */
export function parseJsonBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0 || raw.toString('utf8').trim() === '') return undefined;
  const type = mediaType(contentType);
  if (!isJsonMediaType(type)) {
    throw new PlatformError({
      reason: 'unsupported_media_type',
      message: `expected Content-Type application/json, got ${type ?? 'none'}`,
    });
  }
  return parseJson(raw.toString('utf8'), 'request body');
}

export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new PlatformError({ reason: 'malformed_body', message: `${what} is not valid JSON` });
  }
}
