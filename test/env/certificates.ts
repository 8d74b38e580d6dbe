/**
 * The test environment's own CA (openssl), and the certificates it signs: the kube-apiserver's serving one, and
 * Keycloak's, so that the apiserver can trust Keycloak as an OIDC issuer over HTTPS.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './process.ts';

export interface CertificateAuthority {
  readonly caFile: string;
  readonly caKeyFile: string;
}

export interface ServingCertificate {
  readonly certFile: string;
  readonly keyFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function createCertificateAuthority(dir: string): Promise<CertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const caFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  await run('openssl', [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    caKeyFile,
    '-out',
    caFile,
    '-days',
    '7',
    '-subj',
    '/CN=tenant-lifecycle-test-ca',
  ]);
  return { caFile, caKeyFile };
}

/** Signs the request `csr` with the CA, for 7 days, with the extensions in the file `ext`. */
async function signRequest(
  ca: CertificateAuthority,
  csr: string,
  ext: string,
  certFile: string,
): Promise<void> {
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.caFile,
    '-CAkey',
    ca.caKeyFile,
    '-CAcreateserial',
    '-out',
    certFile,
    '-days',
    '7',
    '-extfile',
    ext,
  ]);
}

/** A serving certificate for `name`, valid for 127.0.0.1 and localhost plus `extraNames` (DNS:x, IP:y). */
export async function issueServingCertificate(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  extraNames: readonly string[] = [],
): Promise<ServingCertificate> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await run('openssl', ['req', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
  await writeFile(
    ext,
    [
      `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...extraNames].join(',')}`,
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
    ].join('\n'),
  );
  await signRequest(ca, csr, ext, certFile);
  return { certFile, keyFile };
}

/** A client certificate for `name` (its user) in `organisation` (its group), signed by the CA. */
export async function issueClientCertificate(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  organisation: string,
): Promise<ServingCertificate> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await run('openssl', [
    'req',
    ...EC_KEY,
    '-keyout',
    keyFile,
    '-out',
    csr,
    '-subj',
    `/O=${organisation}/CN=${name}`,
  ]);
  await writeFile(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
    ].join('\n'),
  );
  await signRequest(ca, csr, ext, certFile);
  return { certFile, keyFile };
}
