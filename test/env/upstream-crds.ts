/**
 * Upstream CustomResourceDefinitions, read from the Go modules that ship them (the Go module proxy serves
 * them; the module cache keeps them between runs):
 * - Knative Serving's (knative.dev/serving, config/core/300-resources) and Eventing's (knative.dev/eventing,
 *   config/core/resources: PingSource, ApiServerSource, Broker, Trigger). The proxy serves some versions of
 *   eventing only (v0.49.0 and v0.51.0 answer 403); v0.50.0 is the newest it serves.
 * - Percona Everest's (github.com/percona/everest-operator, config/crd/bases): DatabaseCluster and friends.
 *   The proxy serves only pseudo-versions of it (its v1.x tags answer 403); the newest is used.
 * - OLM's (github.com/operator-framework/api, crds/): Subscription and OperatorGroup, which Everest's
 *   namespace chart creates.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

export const KNATIVE_SERVING_MODULE = 'knative.dev/serving@v0.51.0';
export const KNATIVE_EVENTING_MODULE = 'knative.dev/eventing@v0.50.0';
export const EVEREST_OPERATOR_MODULE =
  'github.com/percona/everest-operator@v0.6.0-dev1.0.20250317191108-0a7d4b5c8d3b';
export const OLM_API_MODULE = 'github.com/operator-framework/api@v0.45.0';

/** The local folder of a Go module version, downloaded into the module cache when missing. */
async function goModuleDir(module: string): Promise<string> {
  const cwd = await mkdtemp(join(tmpdir(), 'tl-gomod-'));
  try {
    const { stdout } = await promisify(execFile)('go', ['mod', 'download', '-json', module], {
      cwd,
      env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
      timeout: 300_000,
    });
    const { Dir, Error: error } = JSON.parse(stdout) as { Dir?: string; Error?: string };
    if (Dir === undefined) throw new Error(`go mod download ${module}: ${error ?? 'no Dir'}`);
    return Dir;
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

/** The file URL of Serving's CRD of `resource` (service, configuration, revision, route, ...). */
export async function knativeServingCrd(resource: string): Promise<URL> {
  const dir = await goModuleDir(KNATIVE_SERVING_MODULE);
  return pathToFileURL(join(dir, 'config/core/300-resources', `${resource}.yaml`));
}

/** The file URL of Eventing's CRD of `resource` (pingsource, apiserversource, broker, trigger, ...). */
export async function knativeEventingCrd(resource: string): Promise<URL> {
  const dir = await goModuleDir(KNATIVE_EVENTING_MODULE);
  return pathToFileURL(join(dir, 'config/core/resources', `${resource}.yaml`));
}

/** The file URL of Everest's CRD of `plural` (databaseclusters, backupstorages, monitoringconfigs, ...). */
export async function everestCrd(plural: string): Promise<URL> {
  const dir = await goModuleDir(EVEREST_OPERATOR_MODULE);
  return pathToFileURL(join(dir, 'config/crd/bases', `everest.percona.com_${plural}.yaml`));
}

/** The file URL of OLM's CRD of `plural` (subscriptions, operatorgroups, ...). */
export async function olmCrd(plural: string): Promise<URL> {
  const dir = await goModuleDir(OLM_API_MODULE);
  return pathToFileURL(join(dir, 'crds', `operators.coreos.com_${plural}.yaml`));
}
