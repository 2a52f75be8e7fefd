import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { tempRoot } from '../../core/src/files.js';
import { checkArmoredPublicKeys } from '../../core/src/gpg.js';
import { inputReader, type RawInputs } from '../../core/src/inputs.js';
import { checkRepoName } from '../../core/src/repo-name.js';
import {
  ARCHES,
  STRIP_NO_EXTRACT,
  isUrl,
  mirrorRepos,
  parseRepoLine,
  type Arch,
  type PacmanRepo,
} from './pacman.js';

export const PRESETS = ['minimal', 'base'] as const;
export type Preset = (typeof PRESETS)[number];

/** The repository the given package files are served from (a reserved name). */
export const INPUT_REPO_NAME = 'arch-core-input';

/** make-chroot's inputs, validated up front. */
export interface Inputs {
  packages: string[];
  /** Absolute. */
  packageFiles: string[];
  repos: PacmanRepo[];
  /** `auto` (by arch), `none`, or a server pattern. */
  mirror: string;
  mirrorI686: string;
  mirrorX86_64: string;
  mirrorRepos: string[];
  arch: Arch;
  preset: Preset;
  app?: string;
  /** Absolute; when not given, a new directory under RUNNER_TEMP. */
  root?: string;
  strip: boolean;
  keepPackageDb: boolean;
  /** Absolute. */
  tarball?: string;
  signatureLevel: string;
  allowScriptletFailures: boolean;
  checkLibraries: LibraryCheckMode;
  /** Absolute. */
  gpgDir: string;
  /** Armored public keys: every package must be signed by one of them. */
  keyring?: string;
}

export const LIBRARY_CHECK_MODES = ['error', 'warn', 'off'] as const;
export type LibraryCheckMode = (typeof LIBRARY_CHECK_MODES)[number];

/** A pacman package name, optionally `repo/name`. */
const PACKAGE_NAME = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)?[a-z0-9@_+][a-z0-9@._+-]*$/;

export function checkPackageNames(names: readonly string[], input: string): string[] {
  for (const name of names) {
    if (!PACKAGE_NAME.test(name)) {
      throw new InputError(
        input,
        `"${name}" is not a package name (lowercase letters, digits, @ . _ + -, optionally repo/name).`,
      );
    }
  }
  return [...names];
}

export function checkMirror(value: string, input: string): string {
  if (value === 'auto' || value === 'none') return value;
  if (!isUrl(value) || /\s/.test(value)) {
    throw new InputError(
      input,
      `"${value}" is not a server URL pattern (e.g. https://host/$repo/os/$arch), "auto" or "none".`,
    );
  }
  return value;
}

function checkSignatureLevel(value: string): string {
  const words = value.split(/\s+/);
  const known = /^(?:(?:Package|Database)?(?:Never|Optional|Required|TrustedOnly|TrustAll))$/;
  for (const word of words) {
    if (!known.test(word)) {
      throw new InputError(
        'signature-level',
        `"${word}" is not a pacman SigLevel word (e.g. Required DatabaseOptional, Optional TrustAll, Never).`,
      );
    }
  }
  return words.join(' ');
}

/** Parses the `repos` lines (pure). */
export function parseRepos(lines: readonly string[], signatureLevel: string): PacmanRepo[] {
  const repos = lines.map((line) => parseRepoLine(line, 'repos', signatureLevel));
  for (const repo of repos) {
    if (repo.name === INPUT_REPO_NAME) {
      throw new InputError(
        'repos',
        `the repository name "${INPUT_REPO_NAME}" is reserved for package-files; choose another name.`,
      );
    }
  }
  const names = repos.map((repo) => repo.name);
  const twice = names.find((name, index) => names.indexOf(name) !== index);
  if (twice) throw new InputError('repos', `the repository "${twice}" is given twice.`);
  return repos;
}

export function parseInputs(raw: RawInputs): Inputs {
  const read = inputReader(raw);
  const signatureLevel = checkSignatureLevel(read.required('signature-level'));
  const arch = read.oneOf('arch', ARCHES);
  const preset = read.oneOf('preset', PRESETS);
  const packages = checkPackageNames(read.list('packages'), 'packages');
  const packageFiles = read.list('package-files').map((file) => path.resolve(file));
  if (packages.length === 0 && packageFiles.length === 0 && preset !== 'base') {
    throw new InputError(
      'packages',
      'is required (one package name a line) unless package-files is given.',
    );
  }
  const mirrorRepoNames = read.list('mirror-repos');
  for (const name of mirrorRepoNames) checkRepoName(name, 'mirror-repos');
  const root = read.optional('root');
  const tarball = read.optional('tarball');
  const app = read.optional('app');
  if (app !== undefined) checkPackageNames([app], 'app');
  const keyring = read.optional('keyring');
  if (keyring !== undefined) checkArmoredPublicKeys('keyring', keyring);
  return {
    packages,
    packageFiles,
    repos: parseRepos(read.list('repos'), signatureLevel),
    mirror: checkMirror(read.required('mirror'), 'mirror'),
    mirrorI686: checkMirror(read.required('mirror-i686'), 'mirror-i686'),
    mirrorX86_64: checkMirror(read.required('mirror-x86-64'), 'mirror-x86-64'),
    mirrorRepos: mirrorRepoNames,
    arch,
    preset,
    app,
    root: root === undefined ? undefined : path.resolve(root),
    strip: read.boolean('strip'),
    keepPackageDb: read.boolean('keep-package-db'),
    tarball: tarball === undefined ? undefined : path.resolve(tarball),
    signatureLevel,
    allowScriptletFailures: read.boolean('allow-scriptlet-failures'),
    checkLibraries: read.oneOf('check-libraries', LIBRARY_CHECK_MODES),
    gpgDir: path.resolve(read.required('gpg-dir')),
    keyring,
  };
}

/** The server pattern for the distribution's repositories, or undefined for `mirror: none`. */
export function mirrorPattern(
  inputs: Pick<Inputs, 'mirror' | 'mirrorI686' | 'mirrorX86_64' | 'arch'>,
): string | undefined {
  if (inputs.mirror === 'none') return undefined;
  if (inputs.mirror !== 'auto') return inputs.mirror;
  return inputs.arch === 'i686' ? inputs.mirrorI686 : inputs.mirrorX86_64;
}

/**
 * Every repository, in pacman's order: the given package files first, then `repos`, then the
 * distribution's through the mirror (pure).
 */
export function repositories(inputs: Inputs, inputRepoDir: string | undefined): PacmanRepo[] {
  const repos: PacmanRepo[] = [];
  if (inputRepoDir !== undefined) {
    repos.push({ name: INPUT_REPO_NAME, servers: [`file://${inputRepoDir}`], sigLevel: 'Never' });
  }
  repos.push(...inputs.repos);
  const pattern = mirrorPattern(inputs);
  if (pattern !== undefined) {
    const taken = new Set(repos.map((repo) => repo.name));
    const clash = inputs.mirrorRepos.find((name) => taken.has(name));
    if (clash) {
      throw new InputError(
        'repos',
        `the repository "${clash}" is also a mirror repository; rename it or use mirror: none.`,
      );
    }
    repos.push(...mirrorRepos(pattern, inputs.mirrorRepos, inputs.signatureLevel));
  }
  return repos;
}

/**
 * What pacman is asked to install (pure): for the `base` preset the `base` group first, then the
 * listed packages, then the package files' packages from their own repository.
 */
export function installTargets(
  inputs: Pick<Inputs, 'preset' | 'packages'>,
  packageFileNames: readonly string[],
): string[] {
  const targets: string[] = [];
  if (inputs.preset === 'base') targets.push('base');
  const fromFiles = new Set(packageFileNames);
  for (const name of inputs.packages) {
    if (!fromFiles.has(name) && !targets.includes(name)) targets.push(name);
  }
  for (const name of packageFileNames) targets.push(`${INPUT_REPO_NAME}/${name}`);
  return targets;
}

/** pacman's arguments for the install transaction: sync the databases, install (pure). */
export function installArgs(targets: readonly string[]): string[] {
  return ['-Sy', '--needed', ...targets];
}

/** NoExtract patterns for `strip` (pure). */
export function noExtractFor(strip: boolean): readonly string[] {
  return strip ? STRIP_NO_EXTRACT : [];
}

/** The default root: a new directory under RUNNER_TEMP. */
export function defaultRoot(arch: Arch): string {
  const unique = `${Date.now().toString(36)}-${process.pid}`;
  return path.join(tempRoot(), `arch-core-root-${arch}-${unique}`);
}
