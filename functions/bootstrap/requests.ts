/**
 * bootstrap's request bodies, with Everest's rules checked at the door so that a bad request is a 400
 * naming the field and changes nothing.
 */
import { z } from 'zod';
import {
  PASSWORD_MESSAGE,
  PASSWORD_RULE,
  USERNAME_MESSAGE,
  USERNAME_RULE,
} from '../../shared/everest/accounts.ts';
import { OPERATOR_KEYS, RESERVED_NAMESPACES } from '../../shared/everest/db-namespace-plan.ts';
import { MAX_COUNT, MAX_CPU_CORES, MAX_MEMORY_BYTES } from '../../shared/everest/input-bounds.ts';
import { ENGINES } from '../../shared/everest/tenant-resource-policy.ts';
import { RFC1035_LABEL } from '../../shared/platform/kubernetes-names.ts';

const username = z.string().max(128).regex(USERNAME_RULE, USERNAME_MESSAGE);
const password = z.string().max(128).regex(PASSWORD_RULE, PASSWORD_MESSAGE);
const namespace = z
  .string()
  .regex(RFC1035_LABEL, 'an RFC 1035 label (lower-case letters, digits, -)')
  .refine((n) => !RESERVED_NAMESPACES.has(n), 'namespace is reserved for Everest internals');
const operators = z
  .object(
    Object.fromEntries(OPERATOR_KEYS.map((k) => [k, z.boolean().optional()])) as Record<
      (typeof OPERATOR_KEYS)[number],
      z.ZodOptional<z.ZodBoolean>
    >,
  )
  .strict();
const dryRun = z.boolean().default(false);

export const limitsBody = z
  .object({
    max_clusters: z.number().int().min(0).max(MAX_COUNT),
    allowed_engines: z.array(z.enum(ENGINES)).max(ENGINES.length).default([]),
    cpu_limit_cores: z.number().min(0).max(MAX_CPU_CORES),
    memory_limit_bytes: z.number().int().min(0).max(MAX_MEMORY_BYTES),
    max_db_users: z.number().int().min(0).max(MAX_COUNT),
  })
  .strict();

export const bootstrapRequest = z
  .object({
    username,
    password,
    namespace,
    operators: operators.default({}),
    /** Adopt an existing namespace that Everest does not manage yet. */
    take_ownership: z.boolean().default(false),
    /** The namespace's limits; default: keep its limits, or the default limits when it has none. */
    limits: limitsBody.optional(),
    /** Accepted for compatibility (docs/compatibility.md); the Idempotency-Key header is what is honoured. */
    idempotency_key: z.string().max(255).optional(),
    dryRun,
  })
  .strict();
export const accountCreateRequest = z
  .object({
    username,
    /** Everest needs one; when absent, one is generated and returned once. */
    password: password.optional(),
  })
  .strict();
export const setPasswordRequest = z.object({ username, new_password: password }).strict();
export const accountDeleteRequest = z
  .object({
    username,
    /** Also remove the user's `g, <user>, <role>` lines, and the rules of roles left without members. */
    remove_rbac: z.boolean().default(false),
  })
  .strict();
export const namespaceAddRequest = z
  .object({ namespace, operators, take_ownership: z.boolean().default(false), dryRun })
  .strict();
export const namespaceUpdateRequest = z.object({ namespace, operators, dryRun }).strict();
export const namespaceRemoveRequest = z
  .object({ namespace, keep_namespace: z.boolean().default(false), force: z.boolean().default(false) })
  .strict();
export const rbacAppendRequest = z
  .object({ lines: z.array(z.string().max(1024)).min(1).max(1000), dryRun })
  .strict();
export const rbacCanRequest = z
  .object({
    user: z.string().regex(/^[A-Za-z0-9_:.@-]{1,253}$/, 'a user, group or role name'),
    resource: z.string().min(1).max(253),
    verb: z.string().min(1).max(16),
    object: z.string().min(1).max(512),
  })
  .strict();
export const limitsPutRequest = limitsBody.extend({ namespace }).strict();
export const limitsGetRequest = z.object({ namespace }).strict();
export const auditRequest = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    before: z.string().max(19).optional(),
    target: z.string().max(512).optional(),
    operation: z.string().max(64).optional(),
  })
  .strict();
export const noInput = z.object({}).strict();
