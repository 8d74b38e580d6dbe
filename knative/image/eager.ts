/**
 * Compiled code for what runs on first use, in the compile cache. Node.js makes a module's compile cache as
 * it compiles the module, before running it, and V8 compiles a function only when it is first called:
 * such code is compiled again at every start. That is the case of the module functions esbuild wraps every
 * CommonJS module in (`var require_x = __commonJS((exports, module) => { ... })`, and `__esm(() => ...)`
 * for ES modules loaded from CommonJS): each runs once, when the module is first required, and the
 * compilation of their bodies (express, undici, pg, ...) cost about 30 ms at the first /readyz and a few
 * at start. V8 compiles a function eagerly, at once with the module and so into its cache, when it is
 * written in parentheses (its heuristic for immediately invoked functions): eagerModuleFunctions() wraps
 * in parentheses the arrow function passed to a call in a top-level variable declaration,
 * `var x = f((...) => {...})`, the form of those wrappers. Parentheses change nothing else; the source map
 * is shifted to match. Used by bundle.ts after esbuild, before the compile cache is made.
 */
import { readFile, writeFile } from 'node:fs/promises';
import ts from 'typescript';

/** Offsets (in `code`) where a parenthesis goes: the start and end of each wrapper's function. */
export function moduleFunctionBounds(code: string): { start: number; end: number }[] {
  const file = ts.createSourceFile('chunk.mjs', code, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const bounds: { start: number; end: number }[] = [];
  for (const statement of file.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const declaration of statement.declarationList.declarations) {
      const init = declaration.initializer;
      if (init === undefined || !ts.isCallExpression(init) || !ts.isIdentifier(init.expression)) continue;
      const [fn] = init.arguments;
      if (init.arguments.length === 1 && fn !== undefined && ts.isArrowFunction(fn))
        bounds.push({ start: fn.getStart(file), end: fn.end });
    }
  }
  return bounds;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function decodeVlq(segment: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = BASE64.indexOf(char);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}

function encodeVlq(values: readonly number[]): string {
  let out = '';
  for (const v of values) {
    let value = v < 0 ? (-v << 1) | 1 : v << 1;
    do {
      let digit = value & 31;
      value >>>= 5;
      if (value > 0) digit |= 32;
      out += BASE64.charAt(digit);
    } while (value > 0);
  }
  return out;
}

/**
 * Source map `mappings` with generated columns moved right by the characters inserted before them:
 * `inserted[line]` holds the sorted columns (of the old line) where one character went in.
 */
export function shiftMappings(mappings: string, inserted: ReadonlyMap<number, readonly number[]>): string {
  return mappings
    .split(';')
    .map((line, index) => {
      const columns = inserted.get(index);
      if (columns === undefined || line === '') return line;
      let oldColumn = 0;
      let newPrevious = 0;
      return line
        .split(',')
        .map((segment) => {
          const [delta = 0, ...rest] = decodeVlq(segment);
          oldColumn += delta;
          let shifted = oldColumn;
          for (const column of columns) if (column <= oldColumn) shifted++;
          const out = encodeVlq([shifted - newPrevious, ...rest]);
          newPrevious = shifted;
          return out;
        })
        .join(',');
    })
    .join(';');
}

/** Wraps the module functions of `file` (an .mjs with a linked .map) in parentheses; returns how many. */
export async function eagerModuleFunctions(file: string): Promise<number> {
  const code = await readFile(file, 'utf8');
  const bounds = moduleFunctionBounds(code);
  if (bounds.length === 0) return 0;
  const points = bounds.flatMap(({ start, end }) => [start, end]).sort((a, b) => a - b);
  let out = '';
  let last = 0;
  for (const [i, point] of points.entries()) {
    out += code.slice(last, point) + (i % 2 === 0 ? '(' : ')');
    last = point;
  }
  out += code.slice(last);
  // Line and column of each insertion point in the old code (esbuild's output escapes non-ASCII).
  const lineStarts = [0];
  for (let i = code.indexOf('\n'); i !== -1; i = code.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const inserted = new Map<number, number[]>();
  let line = 0;
  for (const point of points) {
    while (line + 1 < lineStarts.length && (lineStarts[line + 1] ?? Infinity) <= point) line++;
    const columns = inserted.get(line) ?? [];
    columns.push(point - (lineStarts[line] ?? 0));
    inserted.set(line, columns);
  }
  const map = JSON.parse(await readFile(`${file}.map`, 'utf8')) as { mappings: string };
  map.mappings = shiftMappings(map.mappings, inserted);
  await writeFile(file, out);
  await writeFile(`${file}.map`, JSON.stringify(map));
  return bounds.length;
}
