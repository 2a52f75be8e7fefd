import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { inputReader, type RawInputs } from '../../core/src/inputs.js';
import { checkRepoName } from '../../core/src/repo-name.js';

export const VCS_VALUES = ['auto', 'hg', 'git', 'none'] as const;
export const ARCH_VALUES = ['auto', 'i686', 'x86_64', 'any'] as const;
export const PKGEXT_VALUES = ['.pkg.tar.xz', '.pkg.tar.zst'] as const;

export type VcsInput = (typeof VCS_VALUES)[number];
export type ArchInput = (typeof ARCH_VALUES)[number];
export type Pkgext = (typeof PKGEXT_VALUES)[number];

/** build-package's inputs, validated up front. */
export interface Inputs {
  /** Absolute. */
  path: string;
  vcs: VcsInput;
  arch: ArchInput;
  pkgext: Pkgext;
  buildUser: string;
  /** Absolute. */
  repo?: string;
  repoName: string;
  /** Absolute. */
  outputDir?: string;
  makepkgArgs: string[];
  /** Deprecated and ignored but for a warning. */
  uploadArtifact?: string;
  /** Absolute. */
  buildRoot?: string;
}

/** A user name useradd accepts, and not root (makepkg refuses to run as root). */
function checkBuildUser(name: string): void {
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

function checkMakepkgArgs(args: readonly string[]): void {
  for (const arg of args) {
    const option = arg.split('=')[0] ?? arg;
    if (OWN_OPTIONS.includes(option)) {
      throw new InputError('makepkg-args', `"${arg}" cannot be given: the action sets it.`);
    }
  }
}

function absolute(value: string | undefined): string | undefined {
  return value === undefined ? undefined : path.resolve(value);
}

export function parseInputs(raw: RawInputs): Inputs {
  const read = inputReader(raw);
  const inputs: Inputs = {
    path: path.resolve(read.required('path')),
    vcs: read.oneOf('vcs', VCS_VALUES),
    arch: read.oneOf('arch', ARCH_VALUES),
    pkgext: read.oneOf('pkgext', PKGEXT_VALUES),
    buildUser: read.required('build-user'),
    repo: absolute(read.optional('repo')),
    repoName: read.required('repo-name'),
    outputDir: absolute(read.optional('output-dir')),
    makepkgArgs: read.list('makepkg-args'),
    uploadArtifact: read.optional('upload-artifact'),
    buildRoot: absolute(read.optional('build-root')),
  };
  checkBuildUser(inputs.buildUser);
  checkRepoName(inputs.repoName, 'repo-name');
  checkMakepkgArgs(inputs.makepkgArgs);
  return inputs;
}
