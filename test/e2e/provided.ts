/** What the end-to-end tests get besides the test environment: the product as test/env/product.ts deployed it. */
import type { ProductDeployment } from '../env/product.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    product: ProductDeployment;
  }
}
