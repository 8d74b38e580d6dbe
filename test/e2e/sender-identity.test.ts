/**
 * Tenant events need a sender identity the platform allows, on real Knative Eventing with
 * authentication-oidc (test/env/knative.ts) and the product as deployed (test/env/product.ts):
 *
 * - From a pod in a tenant namespace (made by provision), a provision CloudEvent is refused everywhere it
 *   can go: at provision's cluster-local URL (reachable: the ingress answers its /readyz with 200 in the same
 *   pod) with no token, with the pod's own projected ServiceAccount token for provision's audience, and with
 *   an unsigned token, each 401; and at the Broker's ingress without a token and with the pod's token for
 *   the Broker's audience: the tenant egress policy denies knative-eventing, so the connection gets no
 *   answer, except in a new pod's first seconds, before kube-router enforces the policy for it, when the
 *   Broker's OIDC check answers 401 and 403.
 * - At the Broker's ingress itself (posted from the host, which reaches it): no token is 401, the tenant's
 *   ServiceAccount token for the Broker's audience 403 (no EventPolicy names it); at provision, the tenant's
 *   token for provision's audience and an allowed sender's Broker token are 401. Beside them the same event
 *   from an allowed sender (a test ServiceAccount and EventPolicy, as knative/README.md asks users to add for
 *   their platform tools) is accepted (202) and provisions its tenant, while none of the refused ones did.
 */
import { randomUUID } from 'node:crypto';
import { type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import '../env/provided.ts';
import './provided.ts';
import { eventually as poll } from '../support/eventually.ts';
import { ingressRequest } from '../support/ingress.ts';
import { BROKER, BROKER_AUDIENCE, letters, productOn } from '../support/knative-product.ts';

const env = inject('testEnv');
const product = inject('product');
const p = productOn(env, product);
const { node } = env;
if (node === undefined) throw new Error('the end-to-end tests need the node: test/vitest.knative.config.ts');

const PROVISION_EVENT = 'dev.tenantlifecycle.tenant.provision.requested';
const PROVISION_AUDIENCE = 'tenant-lifecycle/provision';
const suffix = letters(6);
const tenantEmail = `sid.${suffix}@example.org`;
let tenant = '';
const sender = `e2e-sender-${suffix}`;
/** The e-mail of each attempt: its tenant must exist only for the allowed sender's. */
const emailOf = (attempt: string): string => `sid.${suffix}.${attempt}@example.org`;
const tenantOf = (attempt: string): string => `sid-${suffix}-${attempt}`;
const refusedAttempts = ['pod', 'host'] as const;

/** This file's waits: at most 180 s, polling every second. */
const eventually = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> =>
  poll(what, probe, timeoutMs, 1000);

const restricted = {
  pod: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
  container: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
};

/** A token signed by nobody (`alg: none`): what a pod without a ServiceAccount token could make up. */
const UNSIGNED_TOKEN = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
  JSON.stringify({
    sub: `system:serviceaccount:${product.namespace}:provision-oidc-eventing.knative.dev-trigger`,
  }),
).toString('base64url')}.`;

/**
 * The probe a tenant pod runs: one line `<label>: <status>` per request, `none` when nothing answered within
 * 8 s. The CloudEvent is provision's, for the attempt `pod`. (busybox 1.35's wget crashes with -T or -q -T:
 * `timeout` bounds it instead.)
 */
function probeScript(): string {
  const fn = `http://${product.hosts.provision ?? ''}`;
  const broker = `http://broker-ingress.knative-eventing.svc.cluster.local/${product.namespace}/${BROKER}`;
  const event = [
    '--header "ce-specversion: 1.0"',
    '--header "ce-id: $(cat /proc/sys/kernel/random/uuid)"',
    '--header "ce-source: /tenant-pod"',
    `--header "ce-type: ${PROVISION_EVENT}"`,
    '--header "content-type: application/json"',
    `--post-data '${JSON.stringify({ email: emailOf('pod') })}'`,
  ].join(' ');
  const bearer = (file: string) => `--header "authorization: Bearer $(cat /var/run/tokens/${file})"`;
  return [
    'status() { code=$(timeout 8 wget -S -O /dev/null "$@" 2>&1 | grep -o "HTTP/1.[01] [0-9]*" | head -1 | cut -d" " -f2); echo "${code:-none}"; }',
    `echo "readyz: $(status ${fn}/readyz)"`,
    `echo "function-no-token: $(status ${event} ${fn}/)"`,
    `echo "function-pod-token: $(status ${event} ${bearer('provision')} ${fn}/)"`,
    `echo "function-unsigned-token: $(status ${event} --header "authorization: Bearer ${UNSIGNED_TOKEN}" ${fn}/)"`,
    `echo "broker-no-token: $(status ${event} ${broker})"`,
    `echo "broker-pod-token: $(status ${event} ${bearer('broker')} ${broker})"`,
  ].join('\n');
}

/** Runs the probe in a fresh pod of the tenant namespace; answers label -> status. */
async function probeFromTenantPod(name: string): Promise<Record<string, string>> {
  await p.core.createNamespacedPod({
    namespace: tenant,
    body: {
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        securityContext: restricted.pod,
        containers: [
          {
            name: 'main',
            image: node?.images.busybox ?? '',
            command: ['sh', '-c', probeScript()],
            securityContext: restricted.container,
            volumeMounts: [{ name: 'tokens', mountPath: '/var/run/tokens', readOnly: true }],
          },
        ],
        volumes: [
          {
            name: 'tokens',
            projected: {
              sources: [
                {
                  serviceAccountToken: { path: 'broker', audience: BROKER_AUDIENCE, expirationSeconds: 600 },
                },
                {
                  serviceAccountToken: {
                    path: 'provision',
                    audience: PROVISION_AUDIENCE,
                    expirationSeconds: 600,
                  },
                },
              ],
            },
          },
        ],
      },
    },
  });
  const done = await eventually(`pod ${tenant}/${name} to finish`, async () => {
    const pod: V1Pod = await p.core.readNamespacedPod({ name, namespace: tenant });
    return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' ? pod : undefined;
  });
  const log = await p.core.readNamespacedPodLog({ name, namespace: tenant, container: 'main' });
  if (done.status?.phase !== 'Succeeded') throw new Error(`probe pod ${name} failed:\n${log}`);
  return Object.fromEntries(
    log
      .trim()
      .split('\n')
      .map((line) => line.split(': ') as [string, string]),
  );
}

/** A provision CloudEvent through the ingress straight to provision (not through the Broker). */
const postToProvision = (attempt: string, bearer: string) =>
  ingressRequest(env.knative?.privateIngressUrl ?? '', product.hosts.provision ?? '', {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': randomUUID(),
      'ce-source': '/tenant-lifecycle/e2e',
      'ce-type': PROVISION_EVENT,
      'content-type': 'application/json',
      authorization: `Bearer ${bearer}`,
    },
    body: JSON.stringify({ email: emailOf(attempt) }),
  });

beforeAll(async () => {
  tenant = await p.provisionTenant(tenantEmail);
});

afterAll(async () => {
  await p.removeSender(sender);
  for (const email of [tenantEmail, emailOf('allowed'), ...refusedAttempts.map(emailOf)])
    await p.deprovisionTenant(email).catch((error: unknown) => {
      console.error(error);
    });
});

describe('the sender identity of tenant events', () => {
  it('refuses a provision event from a tenant pod, at the function (401) and at the Broker', async () => {
    // kube-router learns a new pod's address after it starts: probe again until the pod's traffic flows.
    let attempt = 0;
    const seen = await eventually('a probe pod whose requests flow', async () => {
      attempt += 1;
      const result = await probeFromTenantPod(`probe-${String(attempt)}`);
      return result.readyz === '200' ? result : undefined;
    });
    console.log(`tenant pod probe (${String(attempt)} pods): ${JSON.stringify(seen)}`);
    expect(seen).toMatchObject({
      readyz: '200',
      'function-no-token': '401',
      'function-pod-token': '401',
      'function-unsigned-token': '401',
    });
    // The Broker refuses either way: the tenant egress policy drops the connection (`none`) once kube-router
    // enforces it for the new pod; before that (its first seconds) the Broker's OIDC check answers.
    expect(['none', '401']).toContain(seen['broker-no-token']);
    expect(['none', '403']).toContain(seen['broker-pod-token']);
    expect(await p.namespaceExists(tenantOf('pod'))).toBe(false);
  });

  it('accepts only an allowed sender at the Broker, and a provision event only from its Trigger', async () => {
    const event = { type: PROVISION_EVENT, data: { email: emailOf('host') } };
    const tenantToken = async (audience: string): Promise<string> =>
      (
        await p.core.createNamespacedServiceAccountToken({
          name: 'default',
          namespace: tenant,
          body: { spec: { audiences: [audience], expirationSeconds: 600 } },
        })
      ).status?.token ?? '';

    expect((await p.postToBroker(event)).status).toBe(401);
    expect((await p.postToBroker(event, await tenantToken(BROKER_AUDIENCE))).status).toBe(403);
    expect((await postToProvision('host', await tenantToken(PROVISION_AUDIENCE))).status).toBe(401);

    const { token } = await p.allowedSender(sender, [PROVISION_EVENT]);
    const allowed = await token();
    // The allowed sender's token is for the Broker: provision itself refuses it (audience, sender).
    expect((await postToProvision('host', allowed)).status).toBe(401);
    const accepted = await eventually('the Broker to accept the allowed sender', async () => {
      const answer = await p.postToBroker(
        { type: PROVISION_EVENT, data: { email: emailOf('allowed') } },
        allowed,
      );
      return answer.status === 202 ? answer : undefined;
    });
    expect(accepted.status).toBe(202);
    await eventually(`tenant ${tenantOf('allowed')} to be provisioned`, async () =>
      (await p.namespaceExists(tenantOf('allowed'))) ? true : undefined,
    );
    for (const refused of refusedAttempts)
      expect(await p.namespaceExists(tenantOf(refused)), refused).toBe(false);
  });
});
