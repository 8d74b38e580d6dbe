/**
 * `make bundle`: each function (functions/<name>/main.ts) bundled with esbuild into dist/<name>/main.mjs,
 * one ES module for Node.js 24 holding only the code that function imports, plus a package.json. The image
 * (knative/image/Dockerfile) copies exactly that folder. FUNCTIONS=provision,sync bundles a few.
 */
import { readdirSync, existsSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Every function with a process entrypoint. */
export function functionNames(): string[] {
  return readdirSync(`${root}functions`, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(`${root}functions/${d.name}/main.ts`))
    .map((d) => d.name)
    .sort();
}

export async function bundle(name: string, outRoot = `${root}dist`): Promise<{ dir: string; bytes: number }> {
  const dir = `${outRoot}/${name}`;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await build({
    entryPoints: [`${root}functions/${name}/main.ts`],
    outfile: `${dir}/main.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
    // pg's optional native binding is not used; leaving it out keeps the bundle pure JavaScript.
    external: ['pg-native'],
    // Some dependencies are CommonJS and call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  await writeFile(
    `${dir}/package.json`,
    `${JSON.stringify({ name: `tenant-lifecycle-${name}`, private: true, type: 'module', main: 'main.mjs', engines: { node: '>=24' } }, null, 2)}\n`,
  );
  return { dir, bytes: (await stat(`${dir}/main.mjs`)).size };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const wanted = process.env.FUNCTIONS?.split(',').filter(Boolean) ?? functionNames();
  for (const name of wanted) {
    const { dir, bytes } = await bundle(name);
    console.log(`${name}: ${dir}/main.mjs ${(bytes / 1024).toFixed(0)} KiB`);
  }
}
