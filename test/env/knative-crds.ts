/**
 * Knative Serving's CRDs, from the knative.dev/serving Go module (the Go module proxy serves it; the module
 * cache keeps it between runs). Knative Eventing's cannot be had: the proxy answers 403 "This module version
 * is not available." for knative.dev/eventing, so PingSource, ApiServerSource, Broker and Trigger manifests
 * are checked by unit tests only.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

export const KNATIVE_SERVING_MODULE = 'knative.dev/serving@v0.51.0';

/** The file URL of Serving's CRD of `resource` (service, configuration, revision, route, ...). */
export async function knativeServingCrd(resource: string): Promise<URL> {
  const cwd = await mkdtemp(join(tmpdir(), 'tl-knative-'));
  try {
    const { stdout } = await promisify(execFile)('go', ['mod', 'download', '-json', KNATIVE_SERVING_MODULE], {
      cwd,
      env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
      timeout: 300_000,
    });
    const { Dir, Error: error } = JSON.parse(stdout) as { Dir?: string; Error?: string };
    if (Dir === undefined) throw new Error(`go mod download ${KNATIVE_SERVING_MODULE}: ${error ?? 'no Dir'}`);
    return pathToFileURL(join(Dir, 'config/core/300-resources', `${resource}.yaml`));
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}
