/**
 * The dead-letter sink's pure parts: the metric's labels stay bounded to the product's event types and
 * functions, Knative's error extensions are read as it writes them, and nothing secret is stored.
 */
import { describe, expect, it } from 'vitest';
import {
  KNOWN_DESTINATIONS,
  KNOWN_EVENT_TYPES,
  decodeErrorData,
  deadLetterOf,
  destinationLabel,
  redactEventData,
  typeLabel,
} from '../../../functions/dead-letter/index.ts';
import { specs } from '../../../docs/openapi/generate.ts';
import { PING_EVENT_TYPE } from '../../../shared/platform/trigger.ts';

describe('dead-letter labels', () => {
  it('knows every event type and every function the product routes events to', () => {
    const routed = Object.entries(specs)
      .filter(([name]) => name !== 'dead-letter')
      .flatMap(([, spec]) =>
        spec().operations.flatMap((op) => [
          ...(op.events ?? []),
          ...(op.ping === true ? [PING_EVENT_TYPE] : []),
        ]),
      );
    expect([...KNOWN_EVENT_TYPES].sort()).toEqual([...new Set(routed)].sort());
    expect([...KNOWN_DESTINATIONS].sort()).toEqual(
      Object.keys(specs)
        .filter((n) => n !== 'dead-letter')
        .sort(),
    );
  });

  it('bounds the type and destination labels', () => {
    expect(typeLabel('dev.tenantlifecycle.tenant.provision.requested')).toBe(
      'dev.tenantlifecycle.tenant.provision.requested',
    );
    expect(typeLabel('dev.attacker.x-123')).toBe('other');
    expect(destinationLabel('http://provision.tenant-functions.svc.cluster.local')).toBe('provision');
    expect(destinationLabel('http://pg-reconcile.tenant-functions.svc.cluster.local/')).toBe('pg-reconcile');
    expect(destinationLabel('http://random-1234.example.org')).toBe('other');
    expect(destinationLabel('not a url')).toBe('other');
    expect(destinationLabel('')).toBe('unknown');
  });
});

describe('dead-letter records', () => {
  it('reads Knative’s error extensions and keeps them out of the event to replay', () => {
    const body = '{"type":"urn:tenant-lifecycle:problem:conflict","status":422}';
    const entry = deadLetterOf({
      event: {
        id: 'e-1',
        type: 'dev.tenantlifecycle.tenant.sync.requested',
        source: '/x',
        datacontenttype: 'application/json',
        extensions: {
          knativeerrordest: 'http://sync.tenant-functions.svc.cluster.local',
          knativeerrorcode: '422',
          knativeerrordata: Buffer.from(body).toString('base64'),
          traceparent: '00-abc-def-01',
          knativebrokerttl: '254',
          knativearrivaltime: '2026-12-02T19:00:00Z',
        },
      },
      eventData: { username: 'lena' },
    });
    expect(entry).toMatchObject({
      eventId: 'e-1',
      destination: 'http://sync.tenant-functions.svc.cluster.local',
      errorCode: 422,
      errorData: body,
      redacted: false,
      event: {
        attributes: { id: 'e-1', source: '/x', traceparent: '00-abc-def-01' },
        data: { username: 'lena' },
      },
    });
    for (const bookkeeping of ['knativeerrordata', 'knativebrokerttl', 'knativearrivaltime'])
      expect(entry.event.attributes).not.toHaveProperty(bookkeeping);
  });

  it('keeps error data that is not text as Knative sent it (base64)', () => {
    const binary = Buffer.from([0xff, 0xfe, 0x00]).toString('base64');
    expect(decodeErrorData(binary)).toBe(binary);
    expect(decodeErrorData(Buffer.from('busy').toString('base64'))).toBe('busy');
    expect(decodeErrorData('')).toBeUndefined();
  });

  it('redacts secret-looking keys and a Secret’s data; leaves ordinary data alone', () => {
    expect(
      redactEventData({ kind: 'Secret', metadata: { name: 'alice' }, data: { pw: 'c2VjcmV0' } }),
    ).toEqual({
      data: { kind: 'Secret', metadata: { name: 'alice' }, data: '[redacted]' },
      redacted: true,
    });
    expect(redactEventData({ apiToken: 'abc', full_name: 'Lena' })).toEqual({
      data: { apiToken: '[redacted]', full_name: 'Lena' },
      redacted: true,
    });
    expect(redactEventData({ kind: 'ConfigMap', name: 'x', namespace: 'postgres' })).toEqual({
      data: { kind: 'ConfigMap', name: 'x', namespace: 'postgres' },
      redacted: false,
    });
  });
});
