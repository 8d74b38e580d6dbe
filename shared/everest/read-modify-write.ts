/**
 * Optimistic read-modify-write of one Kubernetes object (the accounts Secret, the RBAC ConfigMap): read it,
 * compute the new object from what was read, write it back carrying the resourceVersion read. A concurrent
 * writer makes the apiserver answer 409, and the whole step is done again on the fresh object, so no
 * writer's change is lost and none is applied twice. A missing object is created (a concurrent creation is
 * a 409 too, and retried the same way).
 */
import type { RawKubernetes } from '../adapters/kubernetes/raw.ts';
import { PlatformError } from '../platform/errors.ts';

export type KubernetesApi = Pick<RawKubernetes, 'send' | 'apply' | 'listMetadata'>;

export interface StoredObject {
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
    readonly uid?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

export const isNotFound = (error: unknown): boolean =>
  error instanceof PlatformError && error.reason === 'not_found';
const isConflict = (error: unknown): boolean =>
  error instanceof PlatformError && error.reason === 'conflict' && error.upstream === 'kubernetes';

/** GET of one object; undefined when it does not exist. */
export async function readObject<T = StoredObject>(
  api: KubernetesApi,
  path: string,
  action: string,
): Promise<T | undefined> {
  try {
    return (await api.send('GET', path, action)) as T;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export interface ReadModifyWrite<R> {
  /** The object's URL. */
  readonly path: string;
  /** Its collection's URL, for the creation of a missing object. */
  readonly collectionPath: string;
  /** What the calls are, for error messages ("update accounts of everest-system"). */
  readonly action: string;
  /**
   * The object to write given the current one (undefined: missing), and the result to return; `write:
   * undefined` means nothing to change. Runs again on every retry, so it must be pure and quick (do slow
   * work such as hashing before); throwing refuses.
   */
  readonly change: (current: StoredObject | undefined) => { write?: StoredObject; result: R };
  /** Attempts before giving up with a retryable 409; default 10. */
  readonly attempts?: number;
}

export async function readModifyWrite<R>(api: KubernetesApi, step: ReadModifyWrite<R>): Promise<R> {
  const attempts = step.attempts ?? 10;
  for (let attempt = 1; ; attempt++) {
    const current = await readObject(api, step.path, step.action);
    const { write, result } = step.change(current);
    if (write === undefined) return result;
    try {
      if (current === undefined) {
        // A creation carries no resourceVersion (undefined members are left out of the JSON).
        const metadata = { ...write.metadata, resourceVersion: undefined };
        await api.send('POST', step.collectionPath, step.action, {
          body: { contentType: 'application/json', json: { ...write, metadata } },
        });
      } else {
        const metadata = { ...write.metadata, resourceVersion: current.metadata.resourceVersion };
        await api.send('PUT', step.path, step.action, {
          body: { contentType: 'application/json', json: { ...write, metadata } },
        });
      }
      return result;
    } catch (error) {
      if (!isConflict(error) || attempt >= attempts) throw error;
      // Someone else wrote in between: back off a little (jittered) and redo the step on their result.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}
