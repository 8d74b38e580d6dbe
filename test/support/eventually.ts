/**
 * Polls `probe` until it answers something other than `undefined`, and answers that; throws naming `what`
 * once `timeoutMs` has passed. For what the cluster does on its own time: pods becoming Ready, namespaces
 * going, controllers catching up. A probe that throws fails the wait at once, unless it is meant to
 * (then catch inside the probe).
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 90_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
