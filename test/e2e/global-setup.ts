/**
 * vitest globalSetup of the end-to-end tests: the test environment with Knative (test/env/global-setup.ts),
 * then the product deployed on it with `kubectl apply -k` (test/env/product.ts), handed to the tests as
 * `inject('product')` and written to .dev/e2e/product.json (mode 0600: it holds the API tokens).
 *
 * TL_PRODUCT_FILE=.dev/e2e/product.json reuses a deployment made by an earlier run on the same
 * environment (with TL_TESTENV_FILE) instead of building and applying again.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import setupEnvironment from '../env/global-setup.ts';
import { deployProduct, type ProductDeployment } from '../env/product.ts';
import './provided.ts';

const e2eDir = fileURLToPath(new URL('../../.dev/e2e/', import.meta.url));

/** The overlay's schedules: sync every minute, so that a test sees a tick. */
export const E2E_SCHEDULES = { 'sync-hourly': '* * * * *' } as const;

/**
 * The overlay's settings beyond the test servers' addresses: reset stops after two namespaces per run,
 * so that a sweep over a handful of tenants takes several runs linked by continuation events
 * (test/e2e/schedules.test.ts). Any user may set it; it is what a cluster with thousands of tenants needs.
 */
export const E2E_CONFIG = { RESET_MAX_NAMESPACES_PER_RUN: '2' } as const;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stopEnvironment = await setupEnvironment(project);
  try {
    const reuse = process.env.TL_PRODUCT_FILE;
    let product: ProductDeployment;
    if (reuse) {
      product = JSON.parse(await readFile(reuse, 'utf8')) as ProductDeployment;
      console.log(`reusing the deployment described in ${reuse}`);
    } else {
      await mkdir(e2eDir, { recursive: true, mode: 0o700 });
      product = await deployProduct(project.getProvidedContext().testEnv, {
        dir: `${e2eDir}overlay`,
        schedules: E2E_SCHEDULES,
        config: E2E_CONFIG,
      });
      await writeFile(`${e2eDir}product.json`, JSON.stringify(product, null, 2), { mode: 0o600 });
      console.log(
        `product deployed: images built and pushed in ${(product.imagesMs / 1000).toFixed(1)} s, ` +
          `kubectl apply -k to everything Ready ${(product.readyMs / 1000).toFixed(1)} s`,
      );
    }
    project.provide('product', product);
  } catch (error) {
    await stopEnvironment();
    throw error;
  }
  return stopEnvironment;
}
