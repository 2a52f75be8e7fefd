import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { checkArmoredPrivateKey, checkArmoredPublicKeys } from '../../core/src/gpg.js';
import { inputReader, type RawInputs } from '../../core/src/inputs.js';
import { checkRepoName } from '../../core/src/repo-name.js';
import { parseMakepkgOptions } from './makepkg-options.js';
import { splitWords } from './words.js';

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
  /** Install the PKGBUILD's dependencies in the build root with pacman before makepkg. */
  syncdeps: boolean;
  /** Armored public keys for the build user's keyring (validpgpkeys). */
  pgpKeys?: string;
  /** An armored private key: the packages and the repository database are signed with it. */
  gpgKey?: string;
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
const OWN_OPTIONS = ['--config', '-p', '--printsrcinfo', '--packagelist', '--geninteg'];

/** Each word makepkg takes, as makepkg parses them; the action's own options refused. */
function checkMakepkgArgs(args: readonly string[]): void {
  for (const option of parseMakepkgOptions(args).options) {
    if (OWN_OPTIONS.includes(option.name)) {
      throw new InputError(
        'makepkg-args',
        `"${option.given}" cannot be given: makepkg takes it as ${option.name}, which the action sets itself.`,
      );
    }
  }
}

/** syncdeps installs into a build root; a host build has no root of its own to install into. */
function checkSyncdeps(inputs: Inputs): void {
  if (inputs.syncdeps && !inputs.buildRoot) {
    throw new InputError(
      'syncdeps',
      'installs the dependencies into the build root and needs build-root; for a host build, install them in an earlier step.',
    );
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
    makepkgArgs: splitWords('makepkg-args', raw['makepkg-args'] ?? ''),
    uploadArtifact: read.optional('upload-artifact'),
    buildRoot: absolute(read.optional('build-root')),
    syncdeps: read.boolean('syncdeps'),
    pgpKeys: read.optional('pgp-keys'),
    gpgKey: read.secret('gpg-key'),
  };
  checkBuildUser(inputs.buildUser);
  checkRepoName(inputs.repoName, 'repo-name');
  checkMakepkgArgs(inputs.makepkgArgs);
  checkSyncdeps(inputs);
  if (inputs.pgpKeys !== undefined) checkArmoredPublicKeys('pgp-keys', inputs.pgpKeys);
  if (inputs.gpgKey !== undefined) checkArmoredPrivateKey('gpg-key', inputs.gpgKey);
  return inputs;
}
