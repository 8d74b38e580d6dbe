/**
 * The layering of docs/architecture.md as rules over import statements, checked by
 * test/unit/layers.test.ts. Each source file belongs to a layer by its path; an import is allowed when the
 * importing layer may depend on the imported one. Only relative imports are checked (packages and node:
 * built-ins are not layers). Imports are read with the TypeScript compiler's parser, so `import type`,
 * `export ... from` and `import()` are told apart exactly. Beside it, the rule that only the Kubernetes
 * adapter spells apiserver paths, read from the same parse (string literals and template heads, never
 * comments).
 */
import { dirname, join, normalize, relative } from 'node:path';
import ts from 'typescript';

export type Layer =
  | { readonly kind: 'platform' }
  | { readonly kind: 'adapter'; readonly name: string }
  | { readonly kind: 'store' }
  | { readonly kind: 'domain'; readonly name: string }
  | { readonly kind: 'wiring' }
  | { readonly kind: 'function'; readonly name: string }
  | { readonly kind: 'outside' };

export const DOMAINS: readonly string[] = ['tenancy', 'everest', 'pg-roles'];

/** What a function's config.ts may import of an adapter: which credentials to use (no client library). */
const CONFIG_READABLE_ADAPTER = 'shared/adapters/kubernetes/kubeconfig-source.ts';

/** The layer of a path relative to the repository root. */
export function layerOf(path: string): Layer {
  const parts = normalize(path).split('/');
  if (parts[0] === 'functions' && parts.length > 2) return { kind: 'function', name: parts[1] ?? '' };
  if (parts[0] !== 'shared' || parts.length < 3) return { kind: 'outside' };
  const area = parts[1] ?? '';
  if (area === 'platform') return { kind: 'platform' };
  if (area === 'store') return { kind: 'store' };
  if (area === 'wiring') return { kind: 'wiring' };
  if (area === 'adapters') return { kind: 'adapter', name: parts.length > 3 ? (parts[2] ?? '') : '' };
  if (DOMAINS.includes(area)) return { kind: 'domain', name: area };
  return { kind: 'outside' };
}

export interface ImportEdge {
  /** The imported file, relative to the repository root. */
  readonly target: string;
  /** `import type` / `export type`, or every named binding type-only: nothing of it exists at run time. */
  readonly typeOnly: boolean;
}

/** The relative imports of one TypeScript source, resolved against its path. */
export function importsOf(path: string, source: string): ImportEdge[] {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const edges: ImportEdge[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    if (specifier.startsWith('.'))
      edges.push({ target: normalize(join(dirname(path), specifier)), typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const allNamedTypeOnly =
        clause !== undefined &&
        clause.name === undefined &&
        bindings !== undefined &&
        ts.isNamedImports(bindings) &&
        bindings.elements.length > 0 &&
        bindings.elements.every((element) => element.isTypeOnly);
      add(node.moduleSpecifier.text, clause?.phaseModifier === ts.SyntaxKind.TypeKeyword || allNamedTypeOnly);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument) && ts.isStringLiteral(argument.literal))
        add(argument.literal.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return edges;
}

/**
 * Why `from` may not import `edge`, or undefined when it may:
 * - platform (host, config, errors, logging, metrics, retry) imports nothing of the project;
 * - an adapter imports the platform and its own files;
 * - the store (audit, idempotency, locks, dead letters, the migration runner) imports the platform and the
 *   PostgreSQL adapter;
 * - a domain module imports the platform, the store and its own files; adapters only as types (their
 *   object types, for the ports the domain defines), except the PostgreSQL adapter, whose transactions and
 *   error translation the SQL a domain writes runs through;
 * - wiring builds adapters and hands them to domain modules: anything in shared/;
 * - a function imports shared/ and its own files, never another function's; adapters only as types (its
 *   setup builds them through shared/wiring), except the light kubeconfig-source.ts its config reads;
 * - nothing in shared/ or functions/ imports tests, benchmarks or manifests.
 */
export function violation(from: Layer, to: Layer, edge: ImportEdge): string | undefined {
  if (from.kind === 'outside') return undefined;
  if (to.kind === 'outside')
    return `${from.kind} imports ${edge.target}, which is outside shared/ and functions/`;
  if (to.kind === 'function') {
    return from.kind === 'function' && from.name === to.name ? undefined : `imports the function ${to.name}`;
  }
  switch (from.kind) {
    case 'platform':
      return to.kind === 'platform' ? undefined : `platform imports ${to.kind}`;
    case 'adapter':
      if (to.kind === 'platform') return undefined;
      return to.kind === 'adapter' && to.name === from.name
        ? undefined
        : `adapter ${from.name} imports ${describe(to)}`;
    case 'store':
      if (to.kind === 'platform' || to.kind === 'store') return undefined;
      return to.kind === 'adapter' && to.name === 'postgres' ? undefined : `store imports ${describe(to)}`;
    case 'domain':
      if (to.kind === 'platform' || to.kind === 'store') return undefined;
      if (to.kind === 'domain') return to.name === from.name ? undefined : `${from.name} imports ${to.name}`;
      if (to.kind === 'adapter') {
        return edge.typeOnly || to.name === 'postgres'
          ? undefined
          : `${from.name} imports adapter ${to.name} at run time (define a port; wiring passes the adapter)`;
      }
      return `${from.name} imports ${to.kind}`;
    case 'wiring':
      return undefined;
    case 'function':
      return to.kind === 'adapter' && !edge.typeOnly && edge.target !== CONFIG_READABLE_ADAPTER
        ? `function ${from.name} imports adapter ${to.name} at run time (build it in shared/wiring)`
        : undefined;
  }
}

function describe(layer: Layer): string {
  return 'name' in layer ? `${layer.kind} ${layer.name}` : layer.kind;
}

export interface LayerViolation {
  readonly file: string;
  readonly target: string;
  readonly reason: string;
}

/** Every wrong-way import among `sources` (path relative to the repository root -> source text). */
export function layerViolations(sources: ReadonlyMap<string, string>): LayerViolation[] {
  const found: LayerViolation[] = [];
  for (const [file, source] of sources) {
    const from = layerOf(file);
    for (const edge of importsOf(file, source)) {
      const reason = violation(from, layerOf(edge.target), edge);
      if (reason !== undefined) found.push({ file, target: edge.target, reason });
    }
  }
  return found;
}

/** `path` relative to `root`, with forward slashes. */
export function repositoryPath(root: string, path: string): string {
  return relative(root, path).split('\\').join('/');
}

/** The one directory whose sources may spell apiserver paths (its path builder, resource-path.ts). */
export const APISERVER_PATH_HOME = 'shared/adapters/kubernetes/';

/**
 * An apiserver path at the start of a string: `/apis` (the groups) alone or followed by a slash, `/api`
 * alone, or `/api/` followed by a version (`/api/v1`) or by nothing more (a template's head before its
 * version is substituted). Other HTTP APIs' `/api/...` paths (Grafana's `/api/health`) are not apiserver
 * paths.
 */
const APISERVER_PATH = /^\/apis(\/|$)|^\/api(\/v\d|\/?$)/;

export interface ApiserverPath {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/** The string literals and template heads of one TypeScript source that begin with an apiserver path. */
export function apiserverPathsOf(path: string, source: string): ApiserverPath[] {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: ApiserverPath[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node)) &&
      APISERVER_PATH.test(node.text)
    ) {
      const { line } = file.getLineAndCharacterOfPosition(node.getStart(file));
      found.push({ file: path, line: line + 1, text: node.text });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/**
 * Every apiserver path spelled outside the Kubernetes adapter among `sources` (path relative to the
 * repository root -> source text): the rest of the code names resources and lets the adapter build paths.
 */
export function apiserverPathViolations(sources: ReadonlyMap<string, string>): ApiserverPath[] {
  const found: ApiserverPath[] = [];
  for (const [file, source] of sources) {
    if (!/^(shared|functions)\//.test(file) || file.startsWith(APISERVER_PATH_HOME)) continue;
    found.push(...apiserverPathsOf(file, source));
  }
  return found;
}
