import { describe, expect, it } from 'vitest';
import { kubeconfigSource, loadKubeConfig } from '../../../../shared/adapters/kubernetes/kubeconfig.ts';

const inline = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
  users: [{ name: 'u', user: { token: 'abc' } }],
  contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
  'current-context': 'x',
});

describe('kubeconfigSource', () => {
  it('prefers the inline KUBE_CONFIG, then KUBECONFIG, then in-cluster', () => {
    expect(kubeconfigSource({ KUBE_CONFIG: inline, KUBECONFIG: '/k' }).kind).toBe('inline');
    expect(kubeconfigSource({ KUBECONFIG: '/k' })).toEqual({ kind: 'file', path: '/k' });
    expect(kubeconfigSource({ KUBE_CONFIG: '  ' })).toEqual({ kind: 'in-cluster' });
  });

  it('loads the predecessor JSON kubeconfig string', () => {
    const kc = loadKubeConfig({ kind: 'inline', content: inline });
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
  });
});
