/**
 * What the test node changes on the host, and how all of it is undone. The node is one per machine: a lock
 * file names the run that owns the host's node resources (the bridge, the `kubepods` cgroups, the
 * iptables chains of kube-proxy and the kubelet), and a run that finds the lock of a run that died cleans
 * up after it before starting.
 *
 * Pod network: a Linux bridge with the host address 10.244.0.1/24, forwarding enabled on the bridge only
 * (`net.ipv4.conf.<bridge>.forwarding`; the machine-wide `ip_forward` stays as it is), IPv6 off on it, and
 * guard chains that keep pods inside: packets from a pod reach the host only on the ports the environment
 * relays to its servers (node-relay.ts), and nothing is forwarded between the bridge and any other
 * interface. Pods get a route to the Service range and none to anything else (the CNI config in node.ts).
 * The chains of kube-proxy, the kubelet and kube-router all start with KUBE-, kube-router's ipsets with
 * KUBE- or kube-router-.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { run } from './process.ts';

export const NODE_NAME = 'tl-node';
export const BRIDGE = 'tl-node0';
export const POD_SUBNET = '10.244.0.0/24';
export const HOST_ADDRESS = '10.244.0.1';
export const SERVICE_SUBNET = '10.0.0.0/24';
export const CLUSTER_DNS = '10.0.0.10';
/** The CNI network's name (node.ts), which libcni's cache entries carry. */
export const CNI_NETWORK = 'tl-node';

const LOCK_FILE = '/run/tenant-lifecycle-node.json';
const INPUT_CHAIN = 'TL-NODE-INPUT';
const FORWARD_CHAIN = 'TL-NODE-FORWARD';
/** The kubelet sets these at start (kernel defaults it expects); they are put back when the node stops. */
const KERNEL_TUNABLES = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];
const IPTABLES = ['iptables', 'ip6tables', 'iptables-legacy', 'ip6tables-legacy'];

/** What a run records in the lock file, so that it or a later run can undo it. */
export interface HostState {
  readonly pid: number;
  readonly workDir: string;
  readonly kernelTunables: Readonly<Record<string, string>>;
}

const execFileAsync = promisify(execFile);

async function tryRun(command: string, args: readonly string[]): Promise<string | undefined> {
  try {
    return (await execFileAsync(command, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Takes the host for this run's node: refuses while another live run holds it, cleans up after a dead one,
 * remembers the kernel settings the kubelet will change, and creates the pod bridge and guard chains.
 */
export async function acquireHost(workDir: string): Promise<HostState> {
  if (existsSync(LOCK_FILE)) {
    const previous = JSON.parse(await readFile(LOCK_FILE, 'utf8')) as HostState;
    if (previous.pid !== process.pid && alive(previous.pid))
      throw new Error(
        `another test node runs on this machine (pid ${previous.pid}, work dir ${previous.workDir}); ` +
          'stop it first: only one node can own the bridge, the kubepods cgroups and the iptables chains',
      );
    // Its servers outlived it (a run killed while starting); they all name its work dir.
    for (const orphan of await processesMentioning(`${previous.workDir}/`)) kill(orphan.pid);
    await releaseHost(previous);
  }
  const kernelTunables: Record<string, string> = {};
  for (const name of KERNEL_TUNABLES)
    kernelTunables[name] = (await readFile(`/proc/sys/${name}`, 'utf8')).trim();
  const state: HostState = { pid: process.pid, workDir, kernelTunables };
  await writeFile(LOCK_FILE, JSON.stringify(state, null, 2));
  try {
    await createPodNetwork();
  } catch (error) {
    await releaseHost(state);
    throw error;
  }
  return state;
}

async function createPodNetwork(): Promise<void> {
  await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  await writeFile(`/proc/sys/net/ipv6/conf/${BRIDGE}/disable_ipv6`, '1');
  await run('ip', ['addr', 'add', `${HOST_ADDRESS}/24`, 'dev', BRIDGE]);
  await run('ip', ['link', 'set', BRIDGE, 'up']);
  // Service traffic (pod -> ClusterIP -> pod) is routed by the host: forwarding on for this bridge only.
  await writeFile(`/proc/sys/net/ipv4/conf/${BRIDGE}/forwarding`, '1');
  // In the mangle table, which runs before filter: kube-router and kube-proxy insert ACCEPT rules at the top
  // of filter's INPUT and FORWARD, and the guard must come before them.
  await run('iptables', ['-t', 'mangle', '-N', INPUT_CHAIN]);
  await run('iptables', [
    '-t',
    'mangle',
    '-A',
    INPUT_CHAIN,
    '-m',
    'conntrack',
    '--ctstate',
    'ESTABLISHED,RELATED',
    '-j',
    'ACCEPT',
  ]);
  await run('iptables', ['-t', 'mangle', '-A', INPUT_CHAIN, '-j', 'DROP']);
  await run('iptables', ['-t', 'mangle', '-I', 'INPUT', '1', '-i', BRIDGE, '-j', INPUT_CHAIN]);
  await run('iptables', ['-t', 'mangle', '-N', FORWARD_CHAIN]);
  await run('iptables', ['-t', 'mangle', '-A', FORWARD_CHAIN, '-i', BRIDGE, '!', '-o', BRIDGE, '-j', 'DROP']);
  await run('iptables', ['-t', 'mangle', '-A', FORWARD_CHAIN, '-o', BRIDGE, '!', '-i', BRIDGE, '-j', 'DROP']);
  await run('iptables', ['-t', 'mangle', '-I', 'FORWARD', '1', '-j', FORWARD_CHAIN]);
}

/** Lets pods reach the host address on this TCP port (a relay to one of the environment's servers). */
export async function allowPodsToHostPort(port: number): Promise<void> {
  await run('iptables', [
    '-t',
    'mangle',
    '-I',
    INPUT_CHAIN,
    '1',
    '-p',
    'tcp',
    '-d',
    HOST_ADDRESS,
    '--dport',
    String(port),
    '-j',
    'ACCEPT',
  ]);
}

/** Every process whose command line mentions `text` (the containerd shims of this run's socket). */
async function processesMentioning(text: string): Promise<{ pid: number; args: string[] }[]> {
  const found: { pid: number; args: string[] }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push({ pid: Number(entry), args: cmdline.split('\0') });
  }
  return found;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The kubelet's pod cgroups in every hierarchy (cgroup v1: one per controller), deepest first. */
async function podCgroups(): Promise<string[]> {
  const dirs: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await walk(join(dir, entry.name));
    }
    dirs.push(dir);
  };
  for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [])) {
    const root = join('/sys/fs/cgroup', hierarchy, 'kubepods');
    if (existsSync(root)) await walk(root);
  }
  return dirs;
}

/** containerd 1.6's shim socket: /run/containerd/s/<sha256 of "<address>/<namespace>/<id>">. */
function shimSocket(args: readonly string[]): string {
  const flag = (name: string): string => args[args.indexOf(name) + 1] ?? '';
  const key = join(flag('-address'), flag('-namespace'), flag('-id'));
  return join('/run/containerd/s', createHash('sha256').update(key).digest('hex'));
}

/** Kills every container of the node (the processes in the pod cgroups) and the containerd shims. */
export async function killContainers(workDir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const pids = new Set<number>();
    for (const dir of await podCgroups()) {
      const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const line of procs.split('\n')) if (line.trim() !== '') pids.add(Number(line));
    }
    const sockets: string[] = [];
    for (const shim of await processesMentioning(join(workDir, 'node'))) {
      if (shim.args[0]?.includes('containerd-shim') !== true) continue;
      pids.add(shim.pid);
      sockets.push(shimSocket(shim.args));
    }
    if (pids.size === 0) return;
    for (const pid of pids) kill(pid);
    // A killed shim leaves its socket behind.
    for (const socket of sockets) await rm(socket, { force: true });
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined)
    .map((point) =>
      point.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
    )
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * An iptables-save dump of one table without the chains whose names start with one of `prefixes`, their
 * rules, and the rules elsewhere that jump or go to them.
 */
export function withoutChains(saved: string, prefixes: readonly string[]): string {
  const ours = (line: string): boolean =>
    prefixes.some(
      (prefix) =>
        line.startsWith(`:${prefix}`) ||
        line.startsWith(`-A ${prefix}`) ||
        line.includes(`-j ${prefix}`) ||
        line.includes(`-g ${prefix}`),
    );
  return saved
    .split('\n')
    .filter((line) => !ours(line))
    .join('\n');
}

/**
 * Removes those chains from every table of `command` (iptables, ip6tables, and their legacy variants):
 * each table is saved, filtered and restored in one transaction.
 */
async function removeChains(command: string, prefixes: readonly string[]): Promise<void> {
  for (const table of ['filter', 'nat', 'mangle', 'raw']) {
    const saved = await tryRun(`${command}-save`, ['-t', table]);
    if (saved === undefined) continue;
    const kept = withoutChains(saved, prefixes);
    if (kept === saved) continue;
    const restore = spawn(`${command}-restore`, [], { stdio: ['pipe', 'ignore', 'inherit'] });
    restore.stdin.end(kept);
    const [code] = (await once(restore, 'close')) as [number | null];
    if (code !== 0) throw new Error(`${command}-restore of table ${table} failed (${code ?? 'signal'})`);
  }
}

/**
 * What the runtime and the kubelet write outside the work dir whatever they are told: libcni's result
 * cache (one file per pod sandbox and network, kept when a pod is killed rather than deleted) and the
 * kubelet's device-plugin socket. Only this network's entries are removed, then the folders if empty.
 */
async function removeMachinePaths(): Promise<void> {
  const results = '/var/lib/cni/results';
  const entries = await readdir(results).catch(() => [] as string[]);
  for (const entry of entries) {
    const sandbox = new RegExp(`^${CNI_NETWORK}-([0-9a-f]{64})-eth0$`).exec(entry)?.[1];
    if (sandbox === undefined) continue;
    await rm(join(results, entry), { force: true });
    await rm(join(results, `cni-loopback-${sandbox}-lo`), { force: true });
  }
  await rm('/var/lib/kubelet/device-plugins/kubelet.sock', { force: true });
  for (const dir of [results, '/var/lib/cni', '/var/lib/kubelet/device-plugins', '/var/lib/kubelet'])
    await rmdir(dir).catch(() => undefined);
}

/**
 * Undoes everything a node run did on the host, whether it stopped cleanly or died: containers and shims
 * killed, mounts under its work dir unmounted, pod cgroups removed, bridge and veths deleted, the iptables
 * chains of the guard, kube-proxy and the kubelet removed, kernel settings restored, the lock released.
 * Every step tolerates what is already gone.
 */
export async function releaseHost(state: HostState): Promise<void> {
  await killContainers(state.workDir);
  for (const point of await mountsUnder(state.workDir)) {
    if ((await tryRun('umount', [point])) === undefined) await tryRun('umount', ['-l', point]);
  }
  for (const dir of await podCgroups()) await rmdir(dir).catch(() => undefined);
  const ports = ((await tryRun('ip', ['-o', 'link', 'show', 'master', BRIDGE])) ?? '')
    .split('\n')
    .map((line) => /^\d+: ([^@:]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
  for (const port of ports) await tryRun('ip', ['link', 'delete', port]);
  await tryRun('ip', ['link', 'delete', BRIDGE]);
  for (const command of IPTABLES) await removeChains(command, ['KUBE-', 'TL-NODE-']);
  // kube-router's ipsets, once no rule refers to them.
  const sets = ((await tryRun('ipset', ['list', '-n'])) ?? '').split('\n');
  for (const set of sets.filter((name) => /^(KUBE-|kube-router-)/i.test(name)))
    await tryRun('ipset', ['destroy', set]);
  await removeMachinePaths();
  for (const [name, value] of Object.entries(state.kernelTunables))
    await writeFile(`/proc/sys/${name}`, value).catch(() => undefined);
  await rm(LOCK_FILE, { force: true });
}
