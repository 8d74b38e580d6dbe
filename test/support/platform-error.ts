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

/** What a synchronous call refuses with: `<status> <message>` of its PlatformError, or undefined if it passes. */
export function refusal(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof PlatformError ? `${error.status} ${error.message}` : String(error);
  }
  return undefined;
}
