/**
 * Which function a PingSource of knative/base reaches: PingSources send to the Broker, and the Trigger
 * filtering on the source's `source` attribute (knative.dev/eventing v0.50.0 pkg/apis/sources/v1
 * `PingSourceSource`: /apis/v1/namespaces/<namespace>/pingsources/<name>) delivers to the function.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: {
    filter?: { attributes?: Record<string, string> };
    subscriber?: { ref: { name: string } };
  };
}

const base = new URL('../../knative/base/', import.meta.url);
const all = readdirSync(base)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((file) =>
    parseAllDocuments(readFileSync(new URL(file, base), 'utf8'))
      .map((d) => d.toJS() as Doc | null)
      .filter((d): d is Doc => d !== null),
  );

/** The function the PingSource `name` (in `namespace`) reaches through its Trigger; undefined: none. */
export function pingTarget(name: string, namespace = 'tenant-functions'): string | undefined {
  const source = `/apis/v1/namespaces/${namespace}/pingsources/${name}`;
  const triggers = all.filter(
    (d) =>
      d.kind === 'Trigger' &&
      d.spec?.filter?.attributes?.type === 'dev.knative.sources.ping' &&
      d.spec.filter.attributes.source === source,
  );
  return triggers.length === 1 ? triggers[0]?.spec?.subscriber?.ref.name : undefined;
}
