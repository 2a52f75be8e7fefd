import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError, UserError } from '../../core/src/errors.js';
import { execQuiet } from '../../core/src/exec.js';
import { exists } from '../../core/src/files.js';
import type { Vcs } from '../../core/src/manifest.js';

/**
 * The app's version from its repository, as the app record carries it (docs/dev/contracts.md):
 * `r<rev>.<shorthash>`, prefixed by the latest tag that reaches the checked-out revision (a
 * leading `v` dropped): `1.2.r14.0a1b2c3d4e5f`. Mercurial's rev is the revision number of the
 * working directory's parent; git's is `git rev-list --count HEAD`.
 */

export interface VcsFacts {
  vcs: Exclude<Vcs, 'none'>;
  /** The repository's root directory. */
  root: string;
  revision: string;
  /** Short hash: Mercurial's `{node|short}` (12), git's `rev-parse --short` (7 or more). */
  hash: string;
  /** The full hash (40 hex), as an image's org.opencontainers.image.revision label carries it. */
  commit: string;
  /** The latest tag that reaches the revision, as written (undefined without one). */
  tag?: string;
  /** ISO 8601 UTC, whole seconds. */
  commitTime: string;
  /** The default pull/remote URL, when the repository has one (credentials removed). */
  source?: string;
  /** A shallow git clone: its revision count and tags do not reach the whole history. */
  shallow?: boolean;
}

/**
 * A pkgver from any text: the characters a pkgver cannot hold (`-`, `:`, `/`, blanks) become
 * dots, as the Arch VCS package guidelines turn `git describe`'s hyphens into dots.
 */
export function sanitizePkgver(text: string): string {
  return text
    .trim()
    .replace(/[-:/\s]+/g, '.')
    .replace(/^\.+|\.+$/g, '');
}

/** `[<tag>.]r<rev>.<hash>`, the tag without a leading `v` (`v1.2` → `1.2`). */
export function vcsPkgver(facts: Pick<VcsFacts, 'revision' | 'hash' | 'tag'>): string {
  const base = `r${facts.revision}.${facts.hash}`;
  const tag = facts.tag?.replace(/^v(?=\d)/i, '');
  return sanitizePkgver(tag ? `${tag}.${base}` : base);
}

/** Epoch seconds → `2026-11-25T10:00:00Z`. */
export function isoUtc(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Drops a user:password@ from a URL so a remote's credentials never reach an output. */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/** The template of `hg log` this module reads (one field a line). */
export const HG_TEMPLATE =
  '{reporoot}\\n{rev}\\n{node|short}\\n{latesttag}\\n{date|hgdate}\\n{node}\\n';

/** Parses the HG_TEMPLATE output. Mercurial joins several tags of one revision with `:`. */
export function parseHgLog(text: string): Omit<VcsFacts, 'source'> {
  const [root = '', revision = '', hash = '', latestTag = '', date = '', commit = ''] =
    text.split('\n');
  if (revision === '-1' || /^0+$/.test(hash)) {
    throw new UserError(`The Mercurial repository ${root} has no commit yet: commit first.`);
  }
  const tag = latestTag.split(':')[0];
  return {
    vcs: 'hg',
    root,
    revision,
    hash,
    commit,
    tag: tag && tag !== 'null' ? tag : undefined,
    commitTime: isoUtc(Number(date.split(' ')[0])),
  };
}

/** The `default` path of an hgrc text. */
export function hgDefaultPath(hgrc: string): string | undefined {
  let inPaths = false;
  for (const raw of hgrc.split('\n')) {
    const line = raw.trim();
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      inPaths = section[1] === 'paths';
      continue;
    }
    const entry = /^default\s*=\s*(.+)$/.exec(line);
    if (inPaths && entry) return entry[1]?.trim();
  }
  return undefined;
}

/** Runs a VCS command as another user: `runuser -u USER -- env HGPLAIN=1 COMMAND ARGS`. */
function asUser(user: string | undefined, command: string, args: string[]): [string, string[]] {
  return user
    ? ['runuser', ['-u', user, '--', 'env', 'HGPLAIN=1', command, ...args]]
    : [command, args];
}

async function hgFacts(dir: string, user?: string): Promise<VcsFacts> {
  const result = await execQuiet(
    ...asUser(user, 'hg', ['log', '-r', '.', '--template', HG_TEMPLATE]),
    {
      cwd: dir,
      silent: true,
      env: { ...process.env, HGPLAIN: '1' },
      missingHint: 'install the Debian package mercurial',
    },
  );
  const facts = parseHgLog(result.stdout);
  const hgrc = await fs.readFile(path.join(facts.root, '.hg', 'hgrc'), 'utf8').catch(() => '');
  const source = hgDefaultPath(hgrc);
  return { ...facts, source: source ? withoutCredentials(source) : undefined };
}

async function git(dir: string, args: string[], user?: string): Promise<string | undefined> {
  // safe.directory: the checkout may belong to another user than the one running the action.
  const result = await execQuiet(...asUser(user, 'git', ['-c', 'safe.directory=*', ...args]), {
    cwd: dir,
    silent: true,
    allowFailure: true,
    missingHint: 'install the Debian package git',
  });
  return result.code === 0 ? result.stdout.trim() : undefined;
}

async function gitFacts(dir: string, user?: string): Promise<VcsFacts> {
  const [root, head, count, tag, remote, shallow] = await Promise.all([
    git(dir, ['rev-parse', '--show-toplevel'], user),
    git(dir, ['log', '-1', '--format=%h%n%ct%n%H'], user),
    git(dir, ['rev-list', '--count', 'HEAD'], user),
    git(dir, ['describe', '--tags', '--abbrev=0', 'HEAD'], user),
    git(dir, ['config', '--get', 'remote.origin.url'], user),
    git(dir, ['rev-parse', '--is-shallow-repository'], user),
  ]);
  if (!head || !count) {
    throw new UserError(`The git repository ${root ?? dir} has no commit yet: commit first.`);
  }
  const [hash = '', time = '0', commit = ''] = head.split('\n');
  return {
    vcs: 'git',
    root: root ?? dir,
    revision: count,
    hash,
    commit,
    tag: tag || undefined,
    commitTime: isoUtc(Number(time)),
    source: remote ? withoutCredentials(remote) : undefined,
    shallow: shallow === 'true',
  };
}

export interface VcsLocation {
  vcs: Exclude<Vcs, 'none'>;
  /** The repository's root directory (holding .hg or .git). */
  root: string;
}

/**
 * The repository that holds `dir`, found by looking for `.hg` and `.git` upwards (no command
 * runs, nothing is written): `auto` takes the nearest (Mercurial when both are in one
 * directory), `none` takes none, `hg`/`git` insist on their kind.
 */
export async function findRepository(
  dir: string,
  wanted: 'auto' | Vcs,
): Promise<VcsLocation | undefined> {
  if (wanted === 'none') return undefined;
  const kinds: Array<VcsLocation['vcs']> = wanted === 'auto' ? ['hg', 'git'] : [wanted];
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    for (const vcs of kinds) {
      if (await exists(path.join(current, `.${vcs}`))) return { vcs, root: current };
    }
    if (current === path.dirname(current)) break;
  }
  if (wanted === 'auto') return undefined;
  const name = wanted === 'hg' ? 'Mercurial' : 'git';
  throw new InputError(
    'vcs',
    `${wanted} was asked for, but ${dir} is not in a ${name} repository.`,
  );
}

/**
 * Reads the facts of the repository at `location`, running the VCS in `at` — the same
 * directory in a copy of the repository, so that nothing (not even a cache) is written into the
 * user's checkout. The facts name the original root. `user`: run the VCS as that user (the
 * build user, who owns the copy).
 */
export async function readVcsFacts(
  location: VcsLocation,
  at = location.root,
  user?: string,
): Promise<VcsFacts> {
  const facts = location.vcs === 'hg' ? await hgFacts(at, user) : await gitFacts(at, user);
  return { ...facts, root: location.root };
}

/** findRepository, then readVcsFacts in place. */
export async function detectVcs(dir: string, wanted: 'auto' | Vcs): Promise<VcsFacts | undefined> {
  const location = await findRepository(dir, wanted);
  return location ? readVcsFacts(location, dir) : undefined;
}
