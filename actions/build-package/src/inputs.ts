import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { enumInput, listInput, optionalInput, stringInput } from '../../core/src/inputs.js';
import { checkRepoName } from '../../core/src/pacman.js';

export const VCS_VALUES = ['auto', 'hg', 'git', 'none'] as const;
export const ARCH_VALUES = ['auto', 'i686', 'x86_64', 'any'] as const;
export const PKGEXT_VALUES = ['.pkg.tar.xz', '.pkg.tar.zst'] as const;

export type VcsInput = (typeof VCS_VALUES)[number];
export type ArchInput = (typeof ARCH_VALUES)[number];
export type Pkgext = (typeof PKGEXT_VALUES)[number];

/** The inputs of action.yml, by their names there. */
export interface Inputs {
  path: string;
  vcs: VcsInput;
  arch: ArchInput;
  pkgext: Pkgext;
  'build-user': string;
  repo?: string;
  'repo-name': string;
  'output-dir'?: string;
  'makepkg-args': string[];
  'upload-artifact'?: string;
  'build-root'?: string;
}

export const DEFAULTS = {
  path: '.',
  vcs: 'auto',
  arch: 'auto',
  pkgext: '.pkg.tar.xz',
  'build-user': 'builder',
  'repo-name': 'arch-core',
} as const;

/** A user name useradd accepts, and not root (makepkg refuses to run as root). */
export function checkBuildUser(name: string): void {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) {
    throw new InputError(
      'build-user',
      `"${name}" is not a user name (lower-case letters, digits, "_" and "-", at most 32).`,
    );
  }
  if (name === 'root') {
    throw new InputError(
      'build-user',
      'makepkg refuses to run as root; name an unprivileged user.',
    );
  }
}

/** makepkg options the action sets itself; given again they would break its guarantees. */
const OWN_OPTIONS = ['--config', '-p', '--printsrcinfo', '--packagelist', '--geninteg', '-g'];

export function checkMakepkgArgs(args: readonly string[]): void {
  for (const arg of args) {
    const option = arg.split('=')[0] ?? arg;
    if (OWN_OPTIONS.includes(option)) {
      throw new InputError('makepkg-args', `"${arg}" cannot be given: the action sets it.`);
    }
  }
}

export function getInputs(): Inputs {
  const inputs: Inputs = {
    path: path.resolve(stringInput('path', DEFAULTS.path)),
    vcs: enumInput('vcs', VCS_VALUES, DEFAULTS.vcs),
    arch: enumInput('arch', ARCH_VALUES, DEFAULTS.arch),
    pkgext: enumInput('pkgext', PKGEXT_VALUES, DEFAULTS.pkgext),
    'build-user': stringInput('build-user', DEFAULTS['build-user']),
    repo: optionalInput('repo'),
    'repo-name': stringInput('repo-name', DEFAULTS['repo-name']),
    'output-dir': optionalInput('output-dir'),
    'makepkg-args': listInput('makepkg-args'),
    'upload-artifact': optionalInput('upload-artifact'),
    'build-root': optionalInput('build-root'),
  };
  checkBuildUser(inputs['build-user']);
  checkRepoName(inputs['repo-name'], 'repo-name');
  checkMakepkgArgs(inputs['makepkg-args']);
  if (inputs.repo) inputs.repo = path.resolve(inputs.repo);
  if (inputs['output-dir']) inputs['output-dir'] = path.resolve(inputs['output-dir']);
  if (inputs['build-root']) inputs['build-root'] = path.resolve(inputs['build-root']);
  const artifact = inputs['upload-artifact'];
  if (artifact !== undefined && /[":<>|*?\r\n\\/]/.test(artifact)) {
    throw new InputError(
      'upload-artifact',
      `"${artifact}" is not an artifact name (no " : < > | * ? \\ / or line breaks).`,
    );
  }
  return inputs;
}
