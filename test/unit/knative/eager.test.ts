/**
 * knative/image/eager.ts: the module functions esbuild wraps CommonJS modules in are put in parentheses (so
 * that V8 compiles them into the compile cache), nothing else changes, and the source map still points
 * every character where it pointed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { eagerModuleFunctions, moduleFunctionBounds, shiftMappings } from '../../../knative/image/eager.ts';

const out = await mkdtemp(join(tmpdir(), 'tl-eager-test-'));
afterAll(() => rm(out, { recursive: true, force: true }));

describe('eager module functions', () => {
  it('finds only arrow functions passed to a call in a top-level declaration', () => {
    const code = 'var a=f((x,y)=>{x.exports=1}),b=g(()=>{}),c=h(1,()=>{});function k(){var d=f(()=>{})}k();';
    expect(moduleFunctionBounds(code).map(({ start, end }) => code.slice(start, end))).toEqual([
      '(x,y)=>{x.exports=1}',
      '()=>{}',
    ]);
  });

  it('shifts generated columns by the characters inserted before them', () => {
    // One line, segments at columns 0, 5 and 9 (all other fields 0); one character went in at 5.
    expect(shiftMappings('AAAA,KAAA,IAAA', new Map([[0, [5]]]))).toBe('AAAA,MAAA,IAAA');
    expect(shiftMappings('AAAA;AAAA', new Map([[1, [0]]]))).toBe('AAAA;CAAA');
  });

  it('keeps a bundle working and its source map exact', async () => {
    await writeFile(join(out, 'dep.cjs'), "exports.greet = (name) => 'hello ' + name;\n");
    await writeFile(
      join(out, 'entry.mjs'),
      "import { greet } from './dep.cjs';\nconsole.log(greet('world'));\nexport const marker = 'MARK';\n",
    );
    const outfile = join(out, 'out', 'main.mjs');
    await build({
      entryPoints: [join(out, 'entry.mjs')],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      minify: true,
      sourcemap: 'linked',
      logLevel: 'error',
    });
    const before = await readFile(outfile, 'utf8');
    const mapBefore = new SourceMap(JSON.parse(await readFile(`${outfile}.map`, 'utf8')) as never);
    expect(await eagerModuleFunctions(outfile)).toBe(1);
    const after = await readFile(outfile, 'utf8');
    const mapAfter = new SourceMap(JSON.parse(await readFile(`${outfile}.map`, 'utf8')) as never);
    expect(after.replace(/[()]/g, '')).toBe(before.replace(/[()]/g, ''));
    expect(after.length).toBe(before.length + 2);
    const where = (code: string, text: string) => {
      const offset = code.indexOf(text);
      const line = code.slice(0, offset).split('\n').length - 1;
      return [line, offset - (code.lastIndexOf('\n', offset - 1) + 1)] as const;
    };
    for (const text of ['"hello "', '"MARK"', 'console.log']) {
      const original = (entry: object) => {
        const { originalSource, originalLine, originalColumn } = entry as Record<string, unknown>;
        return { originalSource, originalLine, originalColumn };
      };
      const a = original(mapBefore.findEntry(...where(before, text)));
      expect(a.originalSource).toBeDefined();
      expect(original(mapAfter.findEntry(...where(after, text)))).toEqual(a);
    }
    expect(execFileSync(process.execPath, [outfile]).toString()).toBe('hello world\n');
  });
});
