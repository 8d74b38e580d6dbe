/** Locates (building on first use, cached afterwards) the Go servers through build-servers.sh. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export interface ServerBinaries {
  readonly etcdBinDir: string;
  readonly kubernetesBinDir: string;
}

export async function serverBinaries(): Promise<ServerBinaries> {
  const script = fileURLToPath(new URL('./build-servers.sh', import.meta.url));
  const { stdout } = await promisify(execFile)('bash', [script], { maxBuffer: 16 * 1024 * 1024 });
  const value = (name: string): string => {
    const line = stdout.split('\n').find((l) => l.startsWith(`${name}=`));
    if (line === undefined) throw new Error(`build-servers.sh printed no ${name}`);
    return line.slice(name.length + 1);
  };
  return { etcdBinDir: value('ETCD_BIN_DIR'), kubernetesBinDir: value('KUBERNETES_BIN_DIR') };
}
