/** enforce's request bodies: numbers bounded (input-bounds.ts), namespaces Everest's RFC 1035 labels. */
import { z } from 'zod';
import { MAX_CPU_CORES, MAX_MEMORY_BYTES } from '../../shared/everest/input-bounds.ts';
import { ENGINES } from '../../shared/everest/tenant-resource-policy.ts';
import { RFC1035_LABEL } from '../../shared/platform/kubernetes-names.ts';

const namespace = z.string().regex(RFC1035_LABEL, 'an RFC 1035 label');
const cores = z.number().min(0).max(MAX_CPU_CORES);
const bytes = z.number().int().min(0).max(MAX_MEMORY_BYTES);

export const clusterCreateRequest = z
  .object({
    namespace,
    engine: z.enum(ENGINES),
    cpu_request_cores: cores,
    memory_request_bytes: bytes,
  })
  .strict();
export const applyRequest = z
  .object({ namespace: namespace.optional(), dryRun: z.boolean().default(false) })
  .strict();
export const registerClusterRequest = z
  .object({ namespace, op: z.enum(['create', 'delete']), cpu_cores: cores, memory_bytes: bytes })
  .strict();
export const registerDbUserRequest = z.object({ namespace, op: z.enum(['create', 'delete']) }).strict();
export const usageRequest = z.object({ namespace }).strict();
