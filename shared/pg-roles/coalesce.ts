/**
 * Coalesces reconcile requests within one instance: while a run is going, further requests wait for one
 * more run that starts after it (and share its answer), so a burst of ApiServerSource events (a thousand
 * Secrets created) costs two runs, not a thousand. Across instances the advisory lock serialises runs.
 */
export function coalescing<T>(run: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | undefined;
  let next: Promise<T> | undefined;
  const start = (): Promise<T> => {
    const p = run().finally(() => {
      if (current === p) current = undefined;
    });
    current = p;
    return p;
  };
  return () => {
    if (current === undefined) return start();
    next ??= current
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return start();
      });
    return next;
  };
}
