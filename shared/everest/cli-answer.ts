/**
 * The answer of the `/cli/*` routes: what a CLI wrapper answered (`exit_code`, `stdout`, `stderr`), kept
 * for compatibility (docs/compatibility.md), plus what was done.
 */
export function cliAnswer<T extends object>(
  stdout: string,
  extra: T,
): T & { exit_code: 0; stdout: string; stderr: '' } {
  return { exit_code: 0, stdout, stderr: '', ...extra };
}
