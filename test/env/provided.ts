import type { KnativeInfo } from './knative.ts';
import type { NodeInfo } from './node.ts';

/**
 * What the test environment (test/env/global-setup.ts) hands to integration tests through vitest's
 * provide/inject: `const env = inject('testEnv')`.
 */
export interface TestEnv {
  /** Directory of this run: data dirs, certificates, kubeconfigs and server logs. */
  readonly workDir: string;
  /** Directory holding one `<server>.log` per server. */
  readonly logDir: string;
  readonly kubernetes: {
    /** https://127.0.0.1:<port> */
    readonly server: string;
    /** Kubeconfig with the cluster-admin token (user "test-admin" in group system:masters). */
    readonly kubeconfigPath: string;
    readonly adminToken: string;
    /** Token of user "limited-user" (group "limited"): authenticated, but bound to no role at all. */
    readonly limitedToken: string;
    /** PEM of the environment's CA, which signed the apiserver's (and Keycloak's HTTPS) certificate. */
    readonly caFile: string;
    /** `iss` of the apiserver's service-account tokens; its keys are served at <server>/openid/v1/jwks. */
    readonly serviceAccountIssuer: string;
    /** PEM (PKCS#8 RSA) of the key the apiserver signs service-account tokens with: forge tokens in tests. */
    readonly serviceAccountSigningKeyFile: string;
  };
  readonly keycloak: {
    /** http://127.0.0.1:<port> */
    readonly url: string;
    /** Bootstrap admin of the master realm; tests create their own realms with it. */
    readonly adminUser: string;
    readonly adminPassword: string;
  };
  /** The kube-apiserver trusts this Keycloak realm as its OIDC issuer (over HTTPS, CA in caFile). */
  readonly oidc: {
    readonly issuerUrl: string;
    readonly realm: string;
    readonly clientId: string;
    readonly usernameClaim: string;
    readonly usernamePrefix: string;
    readonly groupsClaim: string;
    readonly groupsPrefix: string;
    readonly caFile: string;
  };
  readonly grafana: {
    readonly url: string;
    readonly adminUser: string;
    readonly adminPassword: string;
    /** 'contract-fake': Grafana's documented HTTP API served by test/env/grafana-contract-server.ts. */
    readonly kind: 'contract-fake';
  };
  readonly postgres: {
    /**
     * Superuser URL (with its password) to database "postgres"; tests create their own databases or
     * schemas through it. Every login on this server needs its password (scram-sha-256).
     */
    readonly url: string;
    readonly host: string;
    readonly port: number;
    readonly user: string;
    /** The superuser's password, generated for this run (also in `url`). */
    readonly password: string;
  };
  /**
   * The node, when the environment was started with one (TL_TESTENV_NODE=1; test/vitest.node.config.ts):
   * pods run, pull from its loopback registry, and reach every server above at `node.hostAddress` on the
   * server's own port (the apiserver also as the `kubernetes` Service).
   */
  readonly node?: NodeInfo;
  /**
   * Knative Serving and Eventing with Traefik as ingress, on the node, when asked for (TL_TESTENV_KNATIVE=1;
   * test/vitest.knative.config.ts): test/env/knative.ts.
   */
  readonly knative?: KnativeInfo;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testEnv: TestEnv;
  }
}
