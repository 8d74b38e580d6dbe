/**
 * The one place where apiserver URL paths are spelled: a resource reference (group, version, plural
 * resource, optional namespace and name) and its query become `/api/v1/...` for the core group and
 * `/apis/<group>/<version>/...` for every other, with the namespace and name percent-encoded.
 */

/** A resource type as the apiserver serves it; `group` is '' for the core group. */
export interface ResourceType {
  readonly group: string;
  readonly version: string;
  /** Plural name, e.g. configmaps, databaseclusters. */
  readonly resource: string;
}

/** A collection (no name) or one object (a name), in one namespace or cluster-wide (no namespace). */
export interface ResourceRef extends ResourceType {
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
}

/** A reference to one object. */
export type ObjectRef = ResourceRef & { readonly name: string };

/** Selectors and paging of a list or a collection delete. */
export interface ListQuery {
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
  readonly limit?: number | undefined;
  readonly continue?: string | undefined;
}

/** Query parameters of any request; undefined ones are left out. */
export type QueryParameters = Readonly<Record<string, string | number | boolean | undefined>>;

/** The path of a group and version: `/api/v1` for the core group, `/apis/<group>/<version>` for the others. */
export function groupVersionPath(type: Pick<ResourceType, 'group' | 'version'>): string {
  return type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
}

/** The path of the API group list. */
export const API_GROUPS_PATH = '/apis';

/** The path of `ref` with `query` (parameters in the given order, URL-encoded). */
export function resourcePath(ref: ResourceRef, query: QueryParameters = {}): string {
  const scope = ref.namespace === undefined ? '' : `/namespaces/${encodeURIComponent(ref.namespace)}`;
  const name = ref.name === undefined ? '' : `/${encodeURIComponent(ref.name)}`;
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return `${groupVersionPath(ref)}${scope}/${ref.resource}${name}${text === '' ? '' : `?${text}`}`;
}
