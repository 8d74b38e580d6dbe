/**
 * Optimistic read-modify-write of one Kubernetes object: read it, compute the new object from what was read,
 * write it back carrying the resourceVersion read. A concurrent writer makes the apiserver answer 409, and
 * the whole step is done again on the fresh object, so no writer's change is lost and none is applied twice.
 * A missing object is created (a concurrent creation is a 409 too, and retried the same way).
 */
import { PlatformError } from '../../platform/errors.ts';
import type { ObjectRef, ResourceRef } from './resource-path.ts';

/** An object as stored: typed metadata (with its resourceVersion and uid), the rest as the API serves it. */
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

export interface ReadModifyWrite<R> {
  /** The object read and written. */
  readonly object: ObjectRef;
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

/** The three calls a read-modify-write makes. */
export interface ObjectReadWrite {
  get<T = StoredObject>(object: ObjectRef, action: string): Promise<T | undefined>;
  create(collection: ResourceRef, object: unknown, action: string): Promise<unknown>;
  replace(object: ObjectRef, body: unknown, action: string): Promise<unknown>;
}

const isConflict = (error: unknown): boolean =>
  error instanceof PlatformError && error.reason === 'conflict' && error.upstream === 'kubernetes';

export async function readModifyWrite<R>(api: ObjectReadWrite, step: ReadModifyWrite<R>): Promise<R> {
  const attempts = step.attempts ?? 10;
  const collection: ResourceRef = { ...step.object, name: undefined };
  for (let attempt = 1; ; attempt++) {
    const current = await api.get(step.object, step.action);
    const { write, result } = step.change(current);
    if (write === undefined) return result;
    try {
      if (current === undefined) {
        // A creation carries no resourceVersion (undefined members are left out of the JSON).
        const metadata = { ...write.metadata, resourceVersion: undefined };
        await api.create(collection, { ...write, metadata }, step.action);
      } else {
        const metadata = { ...write.metadata, resourceVersion: current.metadata.resourceVersion };
        await api.replace(step.object, { ...write, metadata }, step.action);
      }
      return result;
    } catch (error) {
      if (!isConflict(error) || attempt >= attempts) throw error;
      // Someone else wrote in between: back off a little (jittered) and redo the step on their result.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}
