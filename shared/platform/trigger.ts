/**
 * Decodes an HTTP request into what triggered the function: a plain JSON request, a CloudEvent (binary or
 * structured mode, via the cloudevents SDK), or a Knative PingSource event (a CloudEvent of type
 * dev.knative.sources.ping whose data is the PingSource's spec.data).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { HTTP, type CloudEventV1 } from 'cloudevents';
import { mediaType, parseJson, parseJsonBody, isJsonMediaType } from './body.ts';
import { PlatformError } from './errors.ts';
import type { TriggerKind } from './metrics.ts';

export const PING_EVENT_TYPE = 'dev.knative.sources.ping';

export interface EventAttributes {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly subject?: string;
  readonly time?: string;
  readonly datacontenttype?: string;
  readonly dataschema?: string;
  /** Extension attributes (Knative's `knativeerrorcode`, a Broker's `knativearrivaltime`, ...). */
  readonly extensions?: Readonly<Record<string, string | number | boolean>>;
}

const CONTEXT_ATTRIBUTES = new Set([
  'id',
  'type',
  'source',
  'specversion',
  'subject',
  'time',
  'datacontenttype',
  'dataschema',
  'data',
  'data_base64',
]);

/** The extension attributes of a decoded event, as their scalar values. */
function extensionsOf(event: CloudEventV1<unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [name, value] of Object.entries(event)) {
    if (CONTEXT_ATTRIBUTES.has(name)) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      out[name] = value;
  }
  return out;
}

export type Trigger =
  | { readonly kind: 'http'; readonly body: unknown }
  | { readonly kind: 'cloudevent' | 'ping'; readonly event: EventAttributes; readonly data: unknown };

/** Cheap, header-only: does this request carry a CloudEvent? (Decides auth before the body is parsed.) */
export function isCloudEventRequest(headers: IncomingHttpHeaders): boolean {
  return (
    headers['ce-specversion'] !== undefined ||
    mediaType(headers['content-type'])?.startsWith('application/cloudevents') === true
  );
}

export function decodeTrigger(headers: IncomingHttpHeaders, rawBody: Buffer): Trigger {
  if (!isCloudEventRequest(headers))
    return { kind: 'http', body: parseJsonBody(rawBody, headers['content-type']) };
  if (mediaType(headers['content-type']) === 'application/cloudevents-batch+json') {
    throw new PlatformError({
      reason: 'unsupported_media_type',
      message: 'batched CloudEvents are not supported',
    });
  }
  let decoded: CloudEventV1<unknown> | CloudEventV1<unknown>[];
  try {
    decoded = HTTP.toEvent<unknown>({ headers, body: rawBody.toString('utf8') });
  } catch (error) {
    throw new PlatformError({
      reason: 'malformed_body',
      message: `invalid CloudEvent: ${describe(error)}`,
      cause: error,
    });
  }
  const event = Array.isArray(decoded) ? decoded[0] : decoded;
  if (event === undefined || Array.isArray(decoded)) {
    throw new PlatformError({
      reason: 'unsupported_media_type',
      message: 'batched CloudEvents are not supported',
    });
  }
  return {
    kind: event.type === PING_EVENT_TYPE ? 'ping' : 'cloudevent',
    event: {
      id: event.id,
      type: event.type,
      source: event.source,
      ...(event.subject === undefined ? {} : { subject: event.subject }),
      ...(event.time === undefined ? {} : { time: event.time }),
      ...(event.datacontenttype === undefined ? {} : { datacontenttype: event.datacontenttype }),
      ...(event.dataschema === undefined ? {} : { dataschema: event.dataschema }),
      extensions: extensionsOf(event),
    },
    data: eventData(event),
  };
}

/** The event's data as a value: JSON text is parsed, base64 data is decoded when it is JSON. */
function eventData(event: CloudEventV1<unknown>): unknown {
  const type = mediaType(event.datacontenttype) ?? 'application/json';
  if (event.data_base64 !== undefined) {
    const text = Buffer.from(event.data_base64, 'base64').toString('utf8');
    return isJsonMediaType(type) ? parseJson(text, 'CloudEvent data') : text;
  }
  if (typeof event.data === 'string' && isJsonMediaType(type)) {
    return event.data.trim() === '' ? undefined : parseJson(event.data, 'CloudEvent data');
  }
  if (event.data instanceof Uint8Array) {
    const text = Buffer.from(event.data).toString('utf8');
    return isJsonMediaType(type) ? parseJson(text, 'CloudEvent data') : text;
  }
  return event.data;
}

/** The SDK's validation messages name the failing attribute; keep them short and free of the body. */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const errors = (error as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0)
      return `${error.message} (${errors.map(String).join(', ').slice(0, 300)})`;
    return error.message.slice(0, 300);
  }
  return 'unreadable event';
}

export type { TriggerKind };
