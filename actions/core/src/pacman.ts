import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError, UserError } from './errors.js';
import { exec, execQuiet, type ExecOptions, type ExecResult } from './exec.js';

/**
 * pacman as a library: the pacman.conf an action generates (its own repositories, hook, cache,
 * log and database paths, so nothing of the host leaks in and nothing temporary stays in the
 * root), running pacman with argument arrays, and reading what a root holds.
 */

export type Arch = 'i686' | 'x86_64';
export const ARCHES: readonly Arch[] = ['i686', 'x86_64'];

/** Repositories in a local directory are the user's own (or build-package's): trusted. */
const LOCAL_REPO_SIGNATURE_LEVEL = 'Never';

/**
 * NoExtract patterns for a stripped root: documentation, man and info pages, and every locale
 * but C/English. pacman applies the LAST matching pattern, so the `!` exceptions come after.
 */
export const STRIP_NO_EXTRACT: readonly string[] = [
  'usr/share/doc/*',
  'usr/share/gtk-doc/*',
  'usr/share/man/*',
  'usr/share/info/*',
  'usr/share/help/*',
  '!usr/share/help/C/*',
  'usr/share/locale/*',
  'usr/share/X11/locale/*/*',
  'usr/share/i18n/locales/*',
  '!usr/share/X11/locale/C/*',
  '!*locale*/en*/*',
  '!usr/share/*locale*/locale.*',
  '!usr/share/*locales/en_??',
  '!usr/share/*locales/i18n*',
  '!usr/share/*locales/iso*',
  '!usr/share/*locales/trans*',
  'usr/share/vim/vim*/lang/*',
];

/** A repository name pacman accepts in a section header (and not a reserved one). */
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RESERVED_REPO_NAMES = ['local', 'options'];

export interface PacmanRepo {
  name: string;
  /** `Server =` lines, in order. */
  servers: string[];
  sigLevel: string;
}

/** True when `location` is a URL (scheme://...) rather than a directory on this machine. */
export function isUrl(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
}

/** Checks a repository name; `input` names the input in the error. */
export function checkRepoName(name: string, input: string, line = name): void {
  if (RESERVED_REPO_NAMES.includes(name)) {
    throw new InputError(
      input,
      `"${line}": the repository name "${name}" is reserved by pacman; choose another name.`,
    );
  }
  if (!REPO_NAME.test(name)) {
    throw new InputError(
      input,
      `"${line}": "${name}" is not a repository name (letters, digits, ".", "_", "-").`,
    );
  }
}

/**
 * Parses one `name=URL-or-directory` line of a `repos` input. A directory becomes a `file://`
 * server and is trusted; a URL gets `remoteSigLevel`.
 */
export function parseRepoLine(line: string, input: string, remoteSigLevel: string): PacmanRepo {
  const equals = line.indexOf('=');
  const name = equals > 0 ? line.slice(0, equals).trim() : '';
  const location = equals > 0 ? line.slice(equals + 1).trim() : '';
  if (!name || !location) {
    throw new InputError(
      input,
      `"${line}" is not of the form name=location (a URL or a directory), e.g. myrepo=/srv/repo.`,
    );
  }
  checkRepoName(name, input, line);
  if (isUrl(location)) return { name, servers: [location], sigLevel: remoteSigLevel };
  return {
    name,
    servers: [`file://${path.resolve(location)}`],
    sigLevel: LOCAL_REPO_SIGNATURE_LEVEL,
  };
}

/** Local directory of a `file://` server, or undefined for a remote one. */
export function localDirectoryOf(server: string): string | undefined {
  return server.startsWith('file://') ? server.slice('file://'.length) : undefined;
}

/** The distribution repositories behind one mirror pattern. */
export function mirrorRepos(
  pattern: string,
  names: readonly string[],
  sigLevel: string,
): PacmanRepo[] {
  return names.map((name) => ({ name, servers: [pattern], sigLevel }));
}

export interface PacmanConfig {
  /** The root packages are installed into. */
  rootDir: string;
  /** The database directory (`ROOT/var/lib/pacman` for a root that keeps its package db). */
  dbPath: string;
  /** A fresh package cache (a reused cache with a rebuilt package fails its checksum). */
  cacheDir: string;
  /** An empty directory, so no hook of the host or of a package runs. */
  hookDir: string;
  logFile: string;
  gpgDir: string;
  arch: Arch;
  /** Default SigLevel (for repositories without their own). */
  sigLevel: string;
  /** SigLevel for package files given on the command line (`pacman -U`). */
  localFileSigLevel?: string;
  noExtract: readonly string[];
  repos: readonly PacmanRepo[];
}

function checkConfValue(value: string, what: string): string {
  if (/[\r\n]/.test(value))
    throw new UserError(`${what} must be a single line: ${JSON.stringify(value)}`);
  return value;
}

/** Directory values end in `/` in pacman.conf. */
function dir(value: string): string {
  return value.endsWith('/') ? value : `${value}/`;
}

/** The text of a pacman.conf for `config` (pure). */
export function pacmanConf(config: PacmanConfig): string {
  const lines = [
    '# Generated by arch-core.',
    '[options]',
    `RootDir = ${checkConfValue(config.rootDir, 'RootDir')}`,
    `DBPath = ${dir(checkConfValue(config.dbPath, 'DBPath'))}`,
    `CacheDir = ${dir(checkConfValue(config.cacheDir, 'CacheDir'))}`,
    `HookDir = ${dir(checkConfValue(config.hookDir, 'HookDir'))}`,
    `LogFile = ${checkConfValue(config.logFile, 'LogFile')}`,
    `GPGDir = ${dir(checkConfValue(config.gpgDir, 'GPGDir'))}`,
    `Architecture = ${config.arch}`,
    `SigLevel = ${checkConfValue(config.sigLevel, 'SigLevel')}`,
    `LocalFileSigLevel = ${checkConfValue(config.localFileSigLevel ?? 'Optional', 'LocalFileSigLevel')}`,
  ];
  if (config.noExtract.length > 0) {
    lines.push(
      `NoExtract = ${config.noExtract.map((p) => checkConfValue(p, 'NoExtract')).join(' ')}`,
    );
  }
  const seen = new Set<string>();
  for (const repo of config.repos) {
    if (seen.has(repo.name)) {
      throw new UserError(
        `The repository "${repo.name}" is given twice; each name must be unique.`,
      );
    }
    seen.add(repo.name);
    lines.push('', `[${repo.name}]`, `SigLevel = ${checkConfValue(repo.sigLevel, 'SigLevel')}`);
    for (const server of repo.servers) lines.push(`Server = ${checkConfValue(server, 'Server')}`);
  }
  return `${lines.join('\n')}\n`;
}

const PACMAN_HINT = 'install pacman (Debian package pacman-package-manager)';

/** argv for pacman with a config file: `--config CONF --noconfirm --noprogressbar ...args` (pure). */
export function pacmanArgv(configFile: string, args: readonly string[]): string[] {
  return ['--config', configFile, '--noconfirm', '--noprogressbar', ...args];
}

/** Runs pacman with `configFile` and `args` in its own log group. */
export function runPacman(
  configFile: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  return exec('pacman', pacmanArgv(configFile, args), { missingHint: PACMAN_HINT, ...options });
}

export interface TargetProblems {
  /** Requested targets no repository has. */
  missing: string[];
  /** Dependencies no repository satisfies, with the package that needs each. */
  unsatisfied: Array<{ dependency: string; requiredBy: string }>;
  /** Any other error line pacman printed. */
  other: string[];
}

/** Reads the problems out of the output of a failed `pacman -S` (or `-Sp`) (pure). */
export function parseTargetProblems(output: string): TargetProblems {
  const problems: TargetProblems = { missing: [], unsatisfied: [], other: [] };
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    let match = /^error: target not found: (.+)$/.exec(line);
    if (match) {
      problems.missing.push(match[1]!.trim());
      continue;
    }
    match = /^:: unable to satisfy dependency '(.+)' required by (\S+)$/.exec(line);
    if (match) {
      problems.unsatisfied.push({ dependency: match[1]!, requiredBy: match[2]! });
      continue;
    }
    if (line.startsWith('error:') && !line.startsWith('error: failed to prepare transaction')) {
      problems.other.push(line.slice('error:'.length).trim());
    }
  }
  return problems;
}

/** The message for problems found before installing: every missing package and where we looked. */
export function describeTargetProblems(
  problems: TargetProblems,
  searched: readonly string[],
): string {
  const parts: string[] = [];
  const where = searched.length > 0 ? searched.join(', ') : 'no repository';
  if (problems.missing.length > 0) {
    const plural = problems.missing.length > 1 ? 's' : '';
    parts.push(
      `Package${plural} not found in any repository: ${problems.missing.join(', ')} (searched: ${where}).`,
    );
  }
  for (const { dependency, requiredBy } of problems.unsatisfied) {
    parts.push(
      `The dependency "${dependency}" of ${requiredBy} is in no repository (searched: ${where}).`,
    );
  }
  for (const line of problems.other) parts.push(`pacman: ${line}`);
  return parts.join(' ');
}

/**
 * The packages whose install scriptlet could not run, read from pacman's standard output: pacman
 * prints `installing NAME...` before each package and `call to execv failed` (exiting 0!) when a
 * scriptlet cannot start, e.g. in a root without /bin/sh (pure).
 */
export function parseScriptletFailures(output: string): string[] {
  const failed: string[] = [];
  let current: string | undefined;
  for (const line of output.split('\n')) {
    const operation =
      /^(?:\(\s*\d+\/\d+\)\s+)?(?:installing|upgrading|reinstalling|downgrading) (\S+?)(?:\.\.\.)?\s*(?:\[.*)?$/.exec(
        line.trim(),
      );
    if (operation) {
      current = operation[1];
      continue;
    }
    if (/call to execv failed|error: command failed to execute correctly/.test(line)) {
      const name = current ?? '(unknown package)';
      if (!failed.includes(name)) failed.push(name);
    }
  }
  return failed;
}

export interface InstalledPackage {
  name: string;
  version: string;
  arch: string;
  /** Bytes, exactly as the package declares (`%SIZE%` in the local database). */
  installedSize: number;
}

/** `pacman -Q` output → [name, version] pairs (pure). */
export function parseQuery(output: string): Array<{ name: string; version: string }> {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [name, version] = line.split(/\s+/);
      return { name: name!, version: version! };
    });
}

/** The `%KEY%` sections of a local database `desc` file (pure). */
export function parseDesc(text: string): Record<string, string[]> {
  const sections: Record<string, string[]> = {};
  let key: string | undefined;
  for (const line of text.split('\n')) {
    const header = /^%([A-Z0-9]+)%$/.exec(line);
    if (header) {
      key = header[1]!;
      sections[key] = [];
    } else if (key && line !== '') {
      sections[key]!.push(line);
    } else if (line === '') {
      key = undefined;
    }
  }
  return sections;
}

/**
 * What a root holds: `pacman -r ROOT -Q` for the names and versions (pacman's own answer), and
 * the local database's `desc` of each for arch and exact installed size. Sorted by name.
 */
export async function queryInstalled(
  root: string,
  dbPath = path.join(root, 'var/lib/pacman'),
): Promise<InstalledPackage[]> {
  const result = await execQuiet('pacman', ['--root', root, '--dbpath', dbPath, '-Q'], {
    silent: true,
    allowFailure: true,
    missingHint: PACMAN_HINT,
  });
  if (result.code !== 0 && result.stdout.trim() === '') return [];
  const installed: InstalledPackage[] = [];
  for (const { name, version } of parseQuery(result.stdout)) {
    const desc = parseDesc(
      await fs.readFile(path.join(dbPath, 'local', `${name}-${version}`, 'desc'), 'utf8'),
    );
    installed.push({
      name,
      version,
      arch: desc.ARCH?.[0] ?? 'unknown',
      installedSize: Number(desc.SIZE?.[0] ?? '0'),
    });
  }
  return installed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Sets `%INSTALLDATE%` of every package in a local database to `epoch`, so a root made twice from
 * the same packages is the same bytes (pacman stamps the wall clock).
 */
export async function clampInstallDates(dbPath: string, epoch: number): Promise<void> {
  const local = path.join(dbPath, 'local');
  for (const entry of await fs.readdir(local, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = path.join(local, entry.name, 'desc');
    const text = await fs.readFile(file, 'utf8');
    const clamped = text.replace(
      /(%INSTALLDATE%\n)(\d+)/,
      (whole, header: string, value: string) =>
        Number(value) > epoch ? `${header}${epoch}` : whole,
    );
    if (clamped !== text) await fs.writeFile(file, clamped);
  }
}

/**
 * Makes a repository of local package files in `dir` named `name` (symlinks to the files and a
 * repo-add database), so they can be installed with `-S` in one transaction with the rest.
 */
export async function makeLocalRepo(
  dir: string,
  name: string,
  packageFiles: readonly string[],
): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const links: string[] = [];
  for (const file of packageFiles) {
    const link = path.join(dir, path.basename(file));
    if (links.includes(link)) {
      throw new UserError(`Two package files share the name ${path.basename(file)}.`);
    }
    await fs.symlink(path.resolve(file), link);
    links.push(link);
  }
  await execQuiet('repo-add', ['-q', path.join(dir, `${name}.db.tar.gz`), ...links], {
    silent: true,
    missingHint: 'install the Debian package pacman-package-manager (repo-add)',
  });
}
