/**
 * The kubeconfig handed to a new tenant: OIDC login through kubelogin (`kubectl oidc-login`) against the
 * issuer the apiserver trusts, so the tenant signs in with the Keycloak password and no long-lived
 * Kubernetes credential is ever issued. Rendered as JSON, which kubectl reads as YAML.
 */
export interface TenantKubeconfigInput {
  readonly clusterName: string;
  readonly server: string;
  /** Base64 PEM of the cluster CA, when the apiserver's certificate is not publicly trusted. */
  readonly certificateAuthorityData?: string;
  readonly issuerUrl: string;
  readonly clientId: string;
  readonly namespace: string;
  readonly username: string;
}

export function renderTenantKubeconfig(input: TenantKubeconfigInput): string {
  const user = `${input.username}@${input.clusterName}`;
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: input.clusterName,
          cluster: {
            server: input.server,
            ...(input.certificateAuthorityData === undefined
              ? {}
              : { 'certificate-authority-data': input.certificateAuthorityData }),
          },
        },
      ],
      users: [
        {
          name: user,
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1',
              command: 'kubectl',
              args: [
                'oidc-login',
                'get-token',
                `--oidc-issuer-url=${input.issuerUrl}`,
                `--oidc-client-id=${input.clientId}`,
                '--oidc-extra-scope=profile',
                '--oidc-extra-scope=email',
              ],
              interactiveMode: 'IfAvailable',
            },
          },
        },
      ],
      contexts: [
        { name: input.namespace, context: { cluster: input.clusterName, namespace: input.namespace, user } },
      ],
      'current-context': input.namespace,
    },
    null,
    2,
  );
}
