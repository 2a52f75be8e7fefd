import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { run } from '../../scripts/lib/run.js';

/**
 * The i686 build root of the build-package tests: a Debian i386 root made with `debootstrap
 * --arch=i386 --variant=minbase`, with makepkg, fakeroot, bsdtar, gcc, make, libc6-dev and file
 * installed in it. It stands in for Arch Linux 32's base-devel root, which cannot be had here;
 * the mechanism (setarch i686 + chroot with proc/dev/sys mounts) is the same. Why it works on an
 * x86_64 host: docs/dev/tool-facts.md.
 *
 * It is made once and cached under /var/cache/arch-core/: a root is only reused when complete
 * (its marker file is written last), and it is made under a temporary name and renamed into
 * place, so a half-made root is never taken for a good one. The Debian mirror is the one this
 * machine's apt sources use (or ARCH_CORE_DEBIAN_MIRROR).
 */

export const CACHE_DIR = '/var/cache/arch-core';
export const I686_ROOT = path.join(CACHE_DIR, 'i686-debian-root');
const MARKER = '.arch-core-i686-root-complete';
const LOCK = path.join(CACHE_DIR, '.i686-root.lock');
const PACKAGES = [
  'makepkg',
  'fakeroot',
  'libarchive-tools',
  'gcc',
  'make',
  'libc6-dev',
  'file',
  'xz-utils',
  'zstd',
];
/** What the marker says: a root made with another package list is made again. */
const MARKER_TEXT = `arch-core i686 build root: ${PACKAGES.join(' ')}\n`;
const PATH_INSIDE = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface AptSource {
  uri: string;
  suites: string[];
}

/** The `deb` sources of deb822 `.sources` text. */
export function parseDeb822Sources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const field = /^([\w-]+):\s*(.*)$/.exec(line);
      if (field) {
        last = (field[1] ?? '').toLowerCase();
        fields.set(last, field[2] ?? '');
      } else if (/^\s/.test(line) && last) {
        fields.set(last, `${fields.get(last) ?? ''} ${line.trim()}`);
      }
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if ((fields.get('enabled') ?? 'yes').trim() === 'no') continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/).filter(Boolean);
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter(Boolean)) {
      sources.push({ uri, suites });
    }
  }
  return sources;
}

/** The `deb` lines of a one-line-style sources.list. */
export function parseSourcesList(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (match) sources.push({ uri: match[1] ?? '', suites: [match[2] ?? ''] });
  }
  return sources;
}

/** The mirror that serves `suite` itself (not -updates or -security), first found. */
export function pickMirror(sources: AptSource[], suite: string): string | undefined {
  return sources.find((source) => source.suites.includes(suite))?.uri;
}

async function readAptSources(): Promise<AptSource[]> {
  const sources: AptSource[] = [];
  const dir = '/etc/apt/sources.list.d';
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names.sort()) {
    const text = await fs.readFile(path.join(dir, name), 'utf8').catch(() => '');
    if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(text));
    else if (name.endsWith('.list')) sources.push(...parseSourcesList(text));
  }
  const list = await fs.readFile('/etc/apt/sources.list', 'utf8').catch(() => '');
  sources.push(...parseSourcesList(list));
  return sources;
}

/** The Debian suite and mirror to debootstrap from. */
export async function debianMirror(): Promise<{ suite: string; mirror: string }> {
  const osRelease = await fs.readFile('/etc/os-release', 'utf8').catch(() => '');
  const id = /^ID=(.*)$/m.exec(osRelease)?.[1]?.replace(/"/g, '');
  const codename = /^VERSION_CODENAME=(.*)$/m.exec(osRelease)?.[1]?.replace(/"/g, '');
  const suite = id === 'debian' && codename ? codename : 'bookworm';
  const fromEnv = process.env.ARCH_CORE_DEBIAN_MIRROR;
  if (fromEnv) return { suite, mirror: fromEnv };
  const mirror = pickMirror(await readAptSources(), suite);
  if (!mirror) {
    throw new Error(
      `No apt source of this machine serves Debian ${suite}; set ARCH_CORE_DEBIAN_MIRROR to a Debian mirror URI.`,
    );
  }
  return { suite, mirror };
}

/** The mount points at or below `root` (from /proc/self/mountinfo), deepest first. */
export async function mountsUnder(root: string): Promise<string[]> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((point) => point === root || point.startsWith(`${root}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

async function unmountAll(root: string): Promise<void> {
  for (const point of await mountsUnder(root)) {
    try {
      run('umount', ['-l', point]);
    } catch {
      // Already gone, or busy: removeRoot checks what is left.
    }
  }
}

/** Removes a (partial) root, refusing while anything is still mounted below it. */
async function removeRoot(root: string): Promise<void> {
  await unmountAll(root);
  const left = await mountsUnder(root);
  if (left.length > 0) {
    throw new Error(`Not removing ${root}: still mounted there: ${left.join(', ')}`);
  }
  await fs.rm(root, { recursive: true, force: true });
}

async function isComplete(root: string): Promise<boolean> {
  try {
    await fs.access(path.join(root, 'usr/bin/makepkg'));
    return (await fs.readFile(path.join(root, MARKER), 'utf8')) === MARKER_TEXT;
  } catch {
    return false;
  }
}

/** Holds a lock directory while `work` runs; a lock left by a dead process is taken over. */
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      await fs.mkdir(LOCK);
      await fs.writeFile(path.join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await fs.readFile(path.join(LOCK, 'pid'), 'utf8').catch(() => '0'));
      let alive = false;
      try {
        if (holder > 0) process.kill(holder, 0);
        alive = holder > 0;
      } catch {
        alive = false;
      }
      if (!alive) {
        await fs.rm(LOCK, { recursive: true, force: true });
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  try {
    return await work();
  } finally {
    await fs.rm(LOCK, { recursive: true, force: true });
  }
}

async function make(target: string, log: (line: string) => void): Promise<void> {
  const { suite, mirror } = await debianMirror();
  const temporary = `${target}.tmp-${process.pid}`;
  for (const name of await fs.readdir(path.dirname(target))) {
    if (name.startsWith(`${path.basename(target)}.tmp-`)) {
      await removeRoot(path.join(path.dirname(target), name));
    }
  }
  try {
    log(`debootstrap --arch=i386 --variant=minbase ${suite} (${mirror})`);
    run('debootstrap', ['--arch=i386', '--variant=minbase', suite, temporary, mirror]);
    await fs
      .copyFile('/etc/resolv.conf', path.join(temporary, 'etc/resolv.conf'))
      .catch(() => undefined);
    try {
      run('mount', ['-t', 'proc', 'proc', path.join(temporary, 'proc')]);
      run('mount', ['--rbind', '/dev', path.join(temporary, 'dev')]);
      run('mount', ['--make-rslave', path.join(temporary, 'dev')]);
      run('mount', ['-t', 'sysfs', 'sys', path.join(temporary, 'sys')]);
      log(`apt-get install ${PACKAGES.join(' ')} (inside, setarch i686)`);
      const env = ['env', '-i', `PATH=${PATH_INSIDE}`, 'DEBIAN_FRONTEND=noninteractive'];
      for (const name of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY']) {
        const value = process.env[name];
        if (value) env.push(`${name}=${value}`);
      }
      run('setarch', [
        'i686',
        'chroot',
        temporary,
        ...env,
        'apt-get',
        'install',
        '-y',
        '--no-install-recommends',
        ...PACKAGES,
      ]);
      run('setarch', ['i686', 'chroot', temporary, ...env, 'apt-get', 'clean']);
    } finally {
      await unmountAll(temporary);
    }
    const left = await mountsUnder(temporary);
    if (left.length > 0) throw new Error(`mounts left under ${temporary}: ${left.join(', ')}`);
    await fs.writeFile(path.join(temporary, MARKER), MARKER_TEXT);
    await removeRoot(target);
    await fs.rename(temporary, target);
  } catch (error) {
    await removeRoot(temporary);
    throw error;
  }
}

/**
 * The path of a complete i686 build root, made on first use (about a minute and 700 MB) and
 * reused afterwards.
 */
/**
 * Mounts a killed earlier run left in the cached root (a test process ended by SIGKILL never
 * runs the post step): the tests run one at a time, so any mount there now is such a leftover,
 * and it would fail every test that checks that nothing stays mounted (or left in its /tmp).
 */
async function unmountLeftovers(root: string, log: (line: string) => void): Promise<void> {
  // Mounts may be stacked (one point mounted twice): a few rounds, deepest points first.
  for (let round = 0; round < 5; round++) {
    const points = await mountsUnder(root);
    if (points.length === 0) return;
    for (const point of points) {
      log(`unmounting ${point}, left mounted by an earlier run that was killed`);
      spawnSync('umount', ['--lazy', point], { stdio: 'ignore' });
    }
  }
  throw new Error(
    `cannot unmount what is left under ${root}: ${(await mountsUnder(root)).join(', ')}`,
  );
}

/** Build copies a killed earlier run left in the cached root's /tmp (see unmountLeftovers). */
async function removeLeftoverBuildCopies(root: string, log: (line: string) => void): Promise<void> {
  const tmp = path.join(root, 'tmp');
  for (const name of await fs.readdir(tmp).catch(() => [] as string[])) {
    if (!name.startsWith('arch-core-build-')) continue;
    log(`removing ${path.join(tmp, name)}, left by an earlier run that was killed`);
    await fs.rm(path.join(tmp, name), { recursive: true, force: true });
  }
}

export async function i686BuildRoot(
  log: (line: string) => void = () => undefined,
): Promise<string> {
  await unmountLeftovers(I686_ROOT, log);
  await removeLeftoverBuildCopies(I686_ROOT, log);
  if (await isComplete(I686_ROOT)) return I686_ROOT;
  await fs.mkdir(CACHE_DIR, { recursive: true });
  return withLock(async () => {
    if (!(await isComplete(I686_ROOT))) await make(I686_ROOT, log);
    return I686_ROOT;
  });
}
