/**
 * Raw apiserver requests with the function's credentials, for what the typed clients cannot express in one
 * call: API discovery across every group, and DELETE of a whole collection of any resource (core or custom)
 * with label and field selectors. Errors become PlatformErrors like every other Kubernetes call.
 */
import { request, type RequestOptions } from 'node:https';
import { request as plainRequest } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { PlatformError } from '../../platform/errors.ts';
import { kubernetesError } from './errors.ts';
import { ApiException } from '@kubernetes/client-node';

export class RawKubernetes {
  private readonly kc: KubeConfig;
  private readonly server: URL;

  constructor(kc: KubeConfig) {
    this.kc = kc;
    const cluster = kc.getCurrentCluster();
    if (cluster === null)
      throw new PlatformError({ reason: 'internal', message: 'kubeconfig has no current cluster' });
    this.server = new URL(cluster.server);
  }

  async send(method: 'GET' | 'DELETE', path: string, action: string): Promise<unknown> {
    const options: RequestOptions = { method, headers: { accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(options);
    const url = new URL(path, this.server);
    const send = url.protocol === 'http:' ? plainRequest : request;
    try {
      return await new Promise((resolve, reject) => {
        const req = send(url, { ...options, timeout: 60_000 }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 400) reject(new ApiException(status, `HTTP ${status}`, text, {}));
            else resolve(text === '' ? undefined : (JSON.parse(text) as unknown));
          });
        });
        req.on('timeout', () =>
          req.destroy(Object.assign(new Error('apiserver timeout'), { code: 'ETIMEDOUT' })),
        );
        req.on('error', reject);
        req.end();
      });
    } catch (error) {
      throw kubernetesError(error, action);
    }
  }
}
