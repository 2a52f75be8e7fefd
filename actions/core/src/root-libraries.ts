import { readFileSync, readdirSync, readlinkSync, lstatSync } from 'node:fs';
import * as path from 'node:path';
import { readElfDependencies, type ElfDependencies } from './elf.js';

/**
 * Can every program in a root start? For each ELF executable and shared object in it, its
 * interpreter and each DT_NEEDED library must resolve inside the root, as the dynamic loader
 * would resolve them there: DT_RPATH (when there is no DT_RUNPATH), DT_RUNPATH, the directories of
 * the root's /etc/ld.so.conf (and the files it includes), then the loader's built-in directories
 * (builtInDirectories); `$ORIGIN`, `$LIB` and `$PLATFORM` expanded; symbolic links
 * followed inside the root, never out to the host; a candidate of another class or machine
 * skipped, as the loader skips it. A shared object's library off every search path counts when a
 * library of that name is elsewhere in the root (its loader may have loaded it first). What is not
 * checked: LD_LIBRARY_PATH, and what programs dlopen().
 */

export interface LibraryMiss {
  /** The object's path in the root, e.g. /usr/bin/app. */
  object: string;
  /** The library (a DT_NEEDED name) or the interpreter's path. */
  missing: string;
  kind: 'interpreter' | 'library';
}

export interface LibraryReport {
  /** ELF executables and shared objects checked. */
  objects: number;
  /** Interpreter and DT_NEEDED references checked, all objects together. */
  references: number;
  misses: LibraryMiss[];
}

/**
 * Parts of a root never looked into: pacman's database, kernel file systems if mounted, and
 * detached debug symbols (ELF files whose segments hold no bytes).
 */
const SKIPPED = new Set(['/var/lib/pacman', '/proc', '/sys', '/dev', '/usr/lib/debug']);
const MAX_SYMLINKS = 40;

/**
 * The host path that `inside` (an absolute path in the root) names, symbolic links followed as
 * they would be with the root as `/`; undefined when nothing is there or the links loop.
 */
export function resolveInRoot(root: string, inside: string): string | undefined {
  const pending = inside.split('/').filter((part) => part !== '');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = path.join(root, ...resolved, part);
    let stat;
    try {
      stat = lstatSync(host);
    } catch {
      return undefined;
    }
    if (!stat.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) return undefined;
    const target = readlinkSync(host);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter((entry) => entry !== ''));
  }
  return path.join(root, ...resolved);
}

/** The library directories the root's /etc/ld.so.conf names, `include` globs followed. */
export function ldSoConfDirectories(root: string): string[] {
  const directories: string[] = [];
  const seen = new Set<string>();
  const readConf = (inside: string, depth: number): void => {
    const host = resolveInRoot(root, inside);
    if (host === undefined || seen.has(host) || depth > 8) return;
    seen.add(host);
    let text: string;
    try {
      text = readFileSync(host, 'utf8');
    } catch {
      return;
    }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (line === '' || line.startsWith('hwcap ')) continue;
      const include = /^include\s+(.+)$/.exec(line);
      if (!include) {
        directories.push(...line.split(/[\s:,=]+/).filter((entry) => entry.startsWith('/')));
        continue;
      }
      for (const pattern of (include[1] as string).split(/\s+/)) {
        const absolute = pattern.startsWith('/') ? pattern : path.posix.join('/etc', pattern);
        for (const file of globInRoot(root, absolute)) readConf(file, depth + 1);
      }
    }
  };
  readConf('/etc/ld.so.conf', 0);
  return directories;
}

/** The root paths matching `pattern`, whose last component may hold `*` and `?` wildcards. */
function globInRoot(root: string, pattern: string): string[] {
  const dir = path.posix.dirname(pattern);
  const base = path.posix.basename(pattern);
  if (!/[*?]/.test(base)) return [pattern];
  const host = resolveInRoot(root, dir);
  if (host === undefined) return [];
  const matcher = new RegExp(
    `^${base
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  let names: string[];
  try {
    names = readdirSync(host);
  } catch {
    return [];
  }
  return names
    .filter((name) => matcher.test(name))
    .sort()
    .map((name) => path.posix.join(dir, name));
}

/**
 * Programs are executable and libraries named *.so*; other files are not opened (a library that is
 * neither, such as a 0644 file named without .so, is not checked).
 */
function mayBeLoadable(root: string, inside: string): boolean {
  if (inside.includes('.so')) return true;
  return (lstatSync(path.join(root, inside)).mode & 0o111) !== 0;
}

/** The regular files of the root that may be ELF objects, as root paths, skipped parts left out. */
function filesOf(root: string): string[] {
  const files: string[] = [];
  const walk = (inside: string): void => {
    let entries;
    try {
      entries = readdirSync(path.join(root, inside), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const child = path.posix.join(inside, entry.name);
      if (entry.isDirectory() && !SKIPPED.has(child)) walk(child);
      else if (entry.isFile() && mayBeLoadable(root, child)) files.push(child);
    }
  };
  walk('/');
  return files.sort();
}

/**
 * The loader's own search directories, which each glibc build compiles in: /usr/lib (and /lib) on
 * Arch Linux and Arch Linux 32; /lib64 or /lib32 (and their /usr twins) for a multilib build; the
 * multiarch directories (/lib/x86_64-linux-gnu, /lib/i386-linux-gnu) on Debian-style builds.
 */
function builtInDirectories(elf: ElfDependencies): string[] {
  const [multilib, triplet] =
    elf.bits === 64 ? ['lib64', 'x86_64-linux-gnu'] : ['lib32', 'i386-linux-gnu'];
  return [
    '/lib',
    '/usr/lib',
    `/${multilib}`,
    `/usr/${multilib}`,
    `/lib/${triplet}`,
    `/usr/lib/${triplet}`,
  ];
}

function expandTokens(entry: string, origin: string, elf: ElfDependencies): string {
  const lib = elf.bits === 64 ? 'lib64' : 'lib';
  const platform = elf.machine === 62 ? 'x86_64' : 'i686';
  return entry
    .replace(/\$(?:\{ORIGIN\}|ORIGIN\b)/g, origin)
    .replace(/\$(?:\{LIB\}|LIB\b)/g, lib)
    .replace(/\$(?:\{PLATFORM\}|PLATFORM\b)/g, platform);
}

/**
 * Checks every ELF object of `root` (or only the regular files `only` names, as root paths);
 * gives what was checked and every reference that misses.
 */
export function checkRootLibraries(root: string, only?: readonly string[]): LibraryReport {
  const systemDirectories = ldSoConfDirectories(root);
  const elfCache = new Map<string, ElfDependencies | undefined>();
  const readElf = (host: string) => {
    if (!elfCache.has(host)) elfCache.set(host, readElfDependencies(host));
    return elfCache.get(host);
  };
  // A candidate serves only objects of its own class and machine, as with the loader.
  // Directories resolve once; a candidate then costs one lstat (more only when it is a link).
  const directories = new Map<string, string | undefined>();
  const hostPathOf = (inside: string): string | undefined => {
    const dir = path.posix.dirname(inside);
    if (!directories.has(dir)) directories.set(dir, resolveInRoot(root, dir));
    const hostDir = directories.get(dir);
    if (hostDir === undefined) return undefined;
    const host = path.join(hostDir, path.posix.basename(inside));
    try {
      if (!lstatSync(host).isSymbolicLink()) return host;
    } catch {
      return undefined;
    }
    return resolveInRoot(
      root,
      path.posix.join(`/${path.relative(root, hostDir)}`, path.posix.basename(inside)),
    );
  };
  const loadable = new Map<string, boolean>();
  const loads = (inside: string, elf: ElfDependencies): boolean => {
    const key = `${elf.bits}:${elf.machine}:${inside}`;
    let found = loadable.get(key);
    if (found === undefined) {
      const host = hostPathOf(inside);
      const candidate = host === undefined ? undefined : readElf(host);
      found = candidate?.bits === elf.bits && candidate.machine === elf.machine;
      loadable.set(key, found);
    }
    return found;
  };
  const report: LibraryReport = { objects: 0, references: 0, misses: [] };
  const objects = only ?? filesOf(root);
  // A shared object may need a library that sits off every search path, which the program that
  // loads it has loaded first (the JDK's libraries need libjvm.so from lib/server/, loaded by the
  // java launcher): for those, a library of that name anywhere in the root counts.
  const byName = new Map<string, string[]>();
  for (const object of objects) {
    const name = path.posix.basename(object);
    byName.set(name, [...(byName.get(name) ?? []), object]);
  }
  for (const object of objects) {
    const elf = readElf(path.join(root, object));
    if (elf === undefined || (elf.interpreter === undefined && elf.needed.length === 0)) continue;
    report.objects++;
    const real = resolveInRoot(root, object) ?? path.join(root, object);
    const origin = path.posix.dirname(`/${path.relative(root, real)}`);
    if (elf.interpreter !== undefined) {
      report.references++;
      if (!loads(elf.interpreter, elf)) {
        report.misses.push({ object, missing: elf.interpreter, kind: 'interpreter' });
      }
    }
    const searched = [
      ...(elf.runpath.length === 0 ? elf.rpath : []),
      ...elf.runpath,
      ...systemDirectories,
      ...builtInDirectories(elf),
    ]
      .map((entry) => expandTokens(entry, origin, elf))
      .filter((entry) => entry.startsWith('/'));
    for (const library of elf.needed) {
      report.references++;
      const candidates = library.includes('/')
        ? // relative to the working directory: / in a container
          [path.posix.join('/', expandTokens(library, origin, elf))]
        : searched.map((dir) => path.posix.join(dir, library));
      const found =
        candidates.some((candidate) => loads(candidate, elf)) ||
        (elf.interpreter === undefined &&
          (byName.get(library) ?? []).some((candidate) => loads(candidate, elf)));
      if (!found) {
        report.misses.push({ object, missing: library, kind: 'library' });
      }
    }
  }
  return report;
}

/**
 * Where the loader of `root` finds `library` (a DT_NEEDED name without a slash) for an object of
 * `elf`'s class and machine, searching ld.so.conf's and the built-in directories (not the
 * object's RPATH): the library's path in the root with its directory's links followed, or
 * undefined.
 */
export function findLibraryInRoot(
  root: string,
  library: string,
  elf: ElfDependencies,
): string | undefined {
  for (const dir of [...ldSoConfDirectories(root), ...builtInDirectories(elf)]) {
    const host = resolveInRoot(root, path.posix.join(dir, library));
    const candidate = host === undefined ? undefined : readElfDependencies(host);
    if (candidate?.bits !== elf.bits || candidate.machine !== elf.machine) continue;
    const realDir = resolveInRoot(root, dir) ?? path.join(root, dir);
    return path.posix.join(`/${path.relative(root, realDir)}`, library);
  }
  return undefined;
}
