import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { tempRoot } from '../../core/src/files.js';
import {
  booleanInput,
  enumInput,
  listInput,
  optionalInput,
  parseList,
  stringInput,
} from '../../core/src/inputs.js';
import {
  ARCHES,
  DEFAULT_MIRROR_REPOS,
  DEFAULT_MIRRORS,
  DEFAULT_SIGNATURE_LEVEL,
  STRIP_NO_EXTRACT,
  checkRepoName,
  isUrl,
  mirrorRepos,
  parseRepoLine,
  type Arch,
  type PacmanRepo,
} from '../../core/src/pacman.js';

export const PRESETS = ['minimal', 'base'] as const;
export type Preset = (typeof PRESETS)[number];

/** The repository the given package files are served from (a reserved name). */
export const INPUT_REPO_NAME = 'arch-core-input';

export const DEFAULT_GPG_DIR = '/etc/pacman.d/gnupg';

/** The inputs of action.yml, by their names there. */
export interface Inputs {
  packages: string[];
  'package-files': string[];
  repos: PacmanRepo[];
  /** `auto` (by arch), `none`, or a server pattern. */
  mirror: string;
  'mirror-i686': string;
  'mirror-x86-64': string;
  'mirror-repos': string[];
  arch: Arch;
  preset: Preset;
  app?: string;
  /** Absolute; when not given, a new directory under RUNNER_TEMP. */
  root?: string;
  strip: boolean;
  'keep-package-db': boolean;
  tarball?: string;
  'signature-level': string;
  'allow-scriptlet-failures': boolean;
  'gpg-dir': string;
}

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

export function getInputs(): Inputs {
  const signatureLevel = checkSignatureLevel(
    stringInput('signature-level', DEFAULT_SIGNATURE_LEVEL),
  );
  const arch = enumInput('arch', ARCHES, 'i686');
  const preset = enumInput('preset', PRESETS, 'minimal');
  const packages = checkPackageNames(listInput('packages'), 'packages');
  const packageFiles = listInput('package-files').map((file) => path.resolve(file));
  if (packages.length === 0 && packageFiles.length === 0 && preset !== 'base') {
    throw new InputError(
      'packages',
      'is required (one package name a line) unless package-files is given.',
    );
  }
  const mirrorRepoNames = parseList(stringInput('mirror-repos', DEFAULT_MIRROR_REPOS.join('\n')));
  for (const name of mirrorRepoNames) checkRepoName(name, 'mirror-repos');
  const root = optionalInput('root');
  const tarball = optionalInput('tarball');
  const app = optionalInput('app');
  if (app !== undefined) checkPackageNames([app], 'app');
  return {
    packages,
    'package-files': packageFiles,
    repos: parseRepos(listInput('repos'), signatureLevel),
    mirror: checkMirror(stringInput('mirror', 'auto'), 'mirror'),
    'mirror-i686': checkMirror(stringInput('mirror-i686', DEFAULT_MIRRORS.i686), 'mirror-i686'),
    'mirror-x86-64': checkMirror(
      stringInput('mirror-x86-64', DEFAULT_MIRRORS.x86_64),
      'mirror-x86-64',
    ),
    'mirror-repos': mirrorRepoNames,
    arch,
    preset,
    app,
    root: root === undefined ? undefined : path.resolve(root),
    strip: booleanInput('strip', true),
    'keep-package-db': booleanInput('keep-package-db', true),
    tarball: tarball === undefined ? undefined : path.resolve(tarball),
    'signature-level': signatureLevel,
    'allow-scriptlet-failures': booleanInput('allow-scriptlet-failures', false),
    'gpg-dir': path.resolve(stringInput('gpg-dir', DEFAULT_GPG_DIR)),
  };
}

/** The server pattern for the distribution's repositories, or undefined for `mirror: none`. */
export function mirrorPattern(
  inputs: Pick<Inputs, 'mirror' | 'mirror-i686' | 'mirror-x86-64' | 'arch'>,
): string | undefined {
  if (inputs.mirror === 'none') return undefined;
  if (inputs.mirror !== 'auto') return inputs.mirror;
  return inputs.arch === 'i686' ? inputs['mirror-i686'] : inputs['mirror-x86-64'];
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
    const clash = inputs['mirror-repos'].find((name) => taken.has(name));
    if (clash) {
      throw new InputError(
        'repos',
        `the repository "${clash}" is also a mirror repository; rename it or use mirror: none.`,
      );
    }
    repos.push(...mirrorRepos(pattern, inputs['mirror-repos'], inputs['signature-level']));
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
