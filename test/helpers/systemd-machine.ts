import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { projectRoot } from '../../scripts/lib/project-root.js';
import { run } from '../../scripts/lib/run.js';
import { debianMirror } from './i686-root.js';

/**
 * A Debian root booted with systemd as its PID 1 under systemd-nspawn: where the units make-iso
 * generates are started and stopped for real. Why it boots on these hosts (hybrid cgroups, a PID 1
 * that is not systemd): docs/dev/tool-facts.md.
 *
 * The root is made once with debootstrap (about 80 s, 280 MB) and cached under .cache/; a root
 * is reused only when its marker is there (written last, after a rename into place). Each boot
 * runs with --volatile=overlay: what a test writes lands on a tmpfs and the cached root stays
 * as it was made. The machine shares the host's network, so a server on the host's loopback is
 * reachable from inside.
 */

const ROOT = path.join(projectRoot, '.cache', 'systemd-machine-root');
/** What the root holds; a root made with another list is made again. */
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'curl', 'ca-certificates', 'docker-registry'];
const MARKER = '.arch-core-systemd-machine';
const MARKER_TEXT = `arch-core systemd machine: ${PACKAGES.join(' ')}\n`;

async function isComplete(): Promise<boolean> {
  return (await fs.readFile(path.join(ROOT, MARKER), 'utf8').catch(() => '')) === MARKER_TEXT;
}

/** The cached root, made when missing. */
export async function machineRoot(log: (line: string) => void = () => undefined): Promise<string> {
  if (await isComplete()) return ROOT;
  const { suite, mirror } = await debianMirror();
  const temporary = `${ROOT}.tmp-${process.pid}`;
  await fs.mkdir(path.dirname(ROOT), { recursive: true });
  await fs.rm(temporary, { recursive: true, force: true });
  log(`debootstrap --variant=minbase ${suite} with ${PACKAGES.join(' ')} (${mirror})`);
  try {
    run('debootstrap', [
      '--variant=minbase',
      `--include=${PACKAGES.join(',')}`,
      suite,
      temporary,
      mirror,
    ]);
    // An empty machine-id: each boot gets a fresh one, so no two machines share it.
    await fs.writeFile(path.join(temporary, 'etc/machine-id'), '');
    await fs.writeFile(path.join(temporary, MARKER), MARKER_TEXT);
    await fs.rm(ROOT, { recursive: true, force: true });
    await fs.rename(temporary, ROOT);
  } catch (error) {
    await fs.rm(temporary, { recursive: true, force: true });
    throw error;
  }
  return ROOT;
}

export interface Machine {
  name: string;
  /** Runs argv inside the machine (all its namespaces); never throws on a non-zero status. */
  exec(argv: string[], input?: string): { code: number; stdout: string; stderr: string };
  /** Like exec, but without blocking this process (a server in it keeps answering). */
  execAsync(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Kills the machine (SIGKILL to nspawn and its PID 1) and removes its cgroups. */
  terminate(): Promise<void>;
}

/** The cgroup directories this host has for a process of its own (hybrid or pure cgroup v2). */
async function cgroupDirs(name: string): Promise<string[]> {
  const hybrid = await fs
    .access('/sys/fs/cgroup/unified')
    .then(() => true)
    .catch(() => false);
  return hybrid
    ? [`/sys/fs/cgroup/systemd/${name}`, `/sys/fs/cgroup/unified/${name}`]
    : [`/sys/fs/cgroup/${name}`];
}

async function waitFor(check: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The machine's PID 1 as the host sees it: the child of nspawn that runs systemd (nspawn forks
 * an intermediate child first, which exits). */
function leaderOf(nspawnPid: number): number | undefined {
  const children = spawnSync('pgrep', ['-P', String(nspawnPid)], { encoding: 'utf8' }).stdout;
  for (const pid of children.trim().split('\n').filter(Boolean)) {
    const comm = spawnSync('cat', [`/proc/${pid}/comm`], { encoding: 'utf8' }).stdout.trim();
    if (comm === 'systemd') return Number(pid);
  }
  return undefined;
}

/** Every process in the cgroups under `dirs`. */
function machineProcesses(dirs: string[]): number[] {
  const found = spawnSync('find', [...dirs, '-name', 'cgroup.procs', '-exec', 'cat', '{}', '+'], {
    encoding: 'utf8',
  }).stdout;
  return [...new Set(found.split('\n').filter(Boolean).map(Number))];
}

/** Boots the cached root as machine `name` and waits until systemd has finished booting. */
export async function bootMachine(root: string, name: string): Promise<Machine> {
  const dirs = await cgroupDirs(name);
  const script = [
    'for dir in "$@"; do mkdir -p "$dir" && echo $$ > "$dir/cgroup.procs" || exit 1; done',
    `exec systemd-nspawn -D ${root} -M ${name} -b --volatile=overlay --register=no --keep-unit --console=read-only --link-journal=no --timezone=off`,
  ].join('\n');
  // detached: a session of its own (setsid), so nothing of this process's terminal reaches it.
  const child = spawn('bash', ['-c', script, 'boot', ...dirs], {
    stdio: ['ignore', 'ignore', 'ignore'],
    detached: true,
  });
  const nspawnPid = child.pid as number;
  child.unref();
  let leader: number | undefined;
  let state = '';
  const exec: Machine['exec'] = (argv, input) => {
    const result = spawnSync('nsenter', ['-t', String(leader), '-a', ...argv], {
      input,
      encoding: 'utf8',
    });
    return { code: result.status ?? 128, stdout: result.stdout, stderr: result.stderr };
  };
  // Everything in the machine's cgroups is killed, not only its PID 1: whatever nspawn left.
  const terminate = async (): Promise<void> => {
    for (let round = 0; round < 40; round++) {
      const pids = [nspawnPid, ...machineProcesses(dirs)];
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      if (pids.length === 1 && spawnSync('kill', ['-0', String(nspawnPid)]).status !== 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // Sub-cgroups systemd made inside first, then the machine's own.
    for (const dir of dirs) {
      const nested = spawnSync('find', [dir, '-mindepth', '1', '-depth', '-type', 'd'], {
        encoding: 'utf8',
      }).stdout;
      for (const sub of nested.split('\n').filter(Boolean)) await fs.rmdir(sub).catch(() => {});
      await fs.rmdir(dir).catch(() => undefined);
    }
  };
  try {
    await waitFor(
      () => (leader = leaderOf(nspawnPid)) !== undefined,
      () => `${name}'s PID 1`,
      20_000,
    );
    await waitFor(
      () => {
        state = exec(['systemctl', 'is-system-running']).stdout.trim();
        return state === 'running' || state === 'degraded';
      },
      () => `${name} to finish booting (is-system-running: ${state})`,
      60_000,
    );
  } catch (error) {
    await terminate();
    throw error;
  }
  return {
    name,
    exec,
    execAsync: (argv) =>
      new Promise((resolve) => {
        const process = spawn('nsenter', ['-t', String(leader), '-a', ...argv]);
        let stdout = '';
        let stderr = '';
        process.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        process.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        process.on('close', (code) => resolve({ code: code ?? 128, stdout, stderr }));
      }),
    terminate,
  };
}
