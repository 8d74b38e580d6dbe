/**
 * An OpenAPI 3.1 document of one function, rendered from its FunctionSpec: every HTTP route with its zod
 * input schema as JSON Schema (2020-12, OpenAPI 3.1's dialect), path parameters, query parameters for
 * GET, problem+json errors, and the CloudEvent types and PingSource trigger of each operation as
 * extensions. Pure; docs/openapi/generate.ts writes the documents and a test keeps them current.
 */
import { z } from 'zod';
import type { FunctionSpec, HttpMethod } from './operation.ts';

type JsonSchema = { properties?: Record<string, unknown>; required?: string[]; [key: string]: unknown };

const problem = {
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', description: 'urn:tenant-lifecycle:problem:<reason>' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    requestId: { type: 'string' },
    retryable: { type: 'boolean' },
    upstream: { type: 'string' },
    issues: { type: 'array', items: { type: 'object' } },
  },
};

function withoutKeys(schema: JsonSchema, keys: readonly string[]): JsonSchema {
  if (keys.length === 0 || schema.properties === undefined) return schema;
  const properties = Object.fromEntries(Object.entries(schema.properties).filter(([k]) => !keys.includes(k)));
  const required = (schema.required ?? []).filter((k) => !keys.includes(k));
  return { ...schema, properties, ...(required.length > 0 ? { required } : { required: undefined }) };
}

export function openApiDocument(spec: FunctionSpec, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of spec.operations) {
    const input = z.toJSONSchema(operation.input, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    delete input.$schema;
    for (const route of operation.http ?? []) {
      const pathParams = [...route.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] ?? '');
      const path = route.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
      const rest = withoutKeys(input, pathParams);
      const parameters = [
        ...pathParams.map((name) => ({
          name,
          in: 'path',
          required: true,
          schema: input.properties?.[name] ?? { type: 'string' },
        })),
        ...(route.method === 'GET'
          ? Object.entries(rest.properties ?? {}).map(([name, schema]) => ({
              name,
              in: 'query',
              required: (rest.required ?? []).includes(name),
              schema,
            }))
          : []),
      ];
      const method = route.method.toLowerCase() as Lowercase<HttpMethod>;
      (paths[path] ??= {})[method] = {
        operationId: `${operation.name}${operation.http !== undefined && operation.http.length > 1 ? `_${operation.http.indexOf(route)}` : ''}`,
        summary: operation.name,
        ...(parameters.length > 0 ? { parameters } : {}),
        ...(route.method === 'GET'
          ? {}
          : { requestBody: { required: false, content: { 'application/json': { schema: rest } } } }),
        responses: {
          [String(operation.successStatus ?? 200)]: {
            description: 'the answer',
            content: { [operation.answerType ?? 'application/json']: { schema: {} } },
          },
          default: {
            description: 'an error',
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        },
        ...(operation.idempotent === true
          ? { 'x-idempotency-key': 'honoured: a replay gets the stored answer' }
          : {}),
        ...(operation.events === undefined ? {} : { 'x-cloudevent-types': operation.events }),
        ...(operation.ping === true ? { 'x-pingsource': true } : {}),
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: `tenant-lifecycle ${spec.name}`, version },
    security: [{ bearer: [] }, { adminKey: [] }],
    paths,
    components: {
      schemas: { Problem: problem },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        adminKey: { type: 'apiKey', in: 'header', name: 'X-Admin-Key' },
      },
    },
  };
}
