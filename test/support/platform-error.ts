import { PlatformError } from '../../shared/platform/errors.ts';

/** The PlatformError a promise rejects with; fails the test when it resolves or rejects with anything else. */
export async function platformErrorOf(promise: Promise<unknown>): Promise<PlatformError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PlatformError) return error;
    throw error;
  }
  throw new Error('expected a PlatformError');
}
