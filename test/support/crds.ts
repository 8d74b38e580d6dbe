/** Installing CustomResourceDefinitions into the shared test apiserver, once, and waiting until they serve. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { TestEnv } from '../env/provided.ts';
import { apiserver } from './apiserver.ts';
import { everestCrd, olmCrd } from '../env/upstream-crds.ts';

interface Crd {
  metadata: { name: string };
  spec: { group: string; names: { plural: string }; versions: { name: string }[] };
}

/** Creates the CRD of `file` (an existing one is kept) and waits until its resource lists. */
export async function installCrd(env: TestEnv, file: URL): Promise<void> {
  const api = apiserver(env.kubernetes);
  const token = env.kubernetes.adminToken;
  const crd = parse(readFileSync(file, 'utf8')) as Crd;
  const status = await api.status(
    'POST',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    token,
    crd,
  );
  if (status !== 201 && status !== 409)
    throw new Error(`creating CRD ${crd.metadata.name} answered ${status}`);
  const version = crd.spec.versions[0]?.name ?? 'v1';
  const path = `/apis/${crd.spec.group}/${version}/${crd.spec.names.plural}`;
  for (let i = 0; i < 200; i++) {
    if ((await api.status('GET', path, token)) === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`CRD ${crd.metadata.name} did not start serving within 20 s`);
}

/**
 * The CRDs Everest tenants need, from upstream (see test/env/upstream-crds.ts): Everest's DatabaseCluster,
 * BackupStorage and MonitoringConfig, OLM's Subscription and OperatorGroup, and this product's
 * TenantResourcePolicy.
 */
export async function installEverestCrds(env: TestEnv): Promise<void> {
  const files = await Promise.all([
    everestCrd('databaseclusters'),
    everestCrd('backupstorages'),
    everestCrd('monitoringconfigs'),
    olmCrd('subscriptions'),
    olmCrd('operatorgroups'),
  ]);
  files.push(new URL('../../knative/base/tenantresourcepolicy-crd.yaml', import.meta.url));
  await Promise.all(files.map((file) => installCrd(env, file)));
}
