import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../../core/src/errors.js';
import { exec, tailOf } from '../../core/src/exec.js';
import { makepkgOptionNames } from './makepkg-options.js';
import type { PkgbuildFacts } from './pkgbuild.js';

/**
 * The `syncdeps` input: the PKGBUILD's dependencies installed into the build root before
 * makepkg, as devtools' makechrootpkg does. The host's pacman runs chrooted into the root
 * (`--sysroot`), so it reads the root's own pacman.conf, database and repositories, and runs
 * install scriptlets there; the root needs no pacman of its own.
 */

/** What pacman is asked for: depends, makedepends, and checkdepends unless check() is skipped (pure). */
export function dependencyTargets(
  pkgbuild: Pick<PkgbuildFacts, 'depends' | 'makedepends' | 'checkdepends'>,
  makepkgArgs: readonly string[],
): string[] {
  // --nocheck skips check(), whose checkdepends are then not needed.
  const skipsCheck = makepkgOptionNames(makepkgArgs).has('--nocheck');
  const all = [
    ...pkgbuild.depends,
    ...pkgbuild.makedepends,
    ...(skipsCheck ? [] : pkgbuild.checkdepends),
  ];
  return [...new Set(all)];
}

/** pacman's argv for installing `targets` into `root`, under `setarch i686` when asked (pure). */
export function syncdepsCommand(
  root: string,
  cacheDirInRoot: string,
  targets: readonly string[],
  setarchI686: boolean,
): string[] {
  const pacman = [
    'pacman',
    '--sysroot',
    root,
    '--noconfirm',
    '--noprogressbar',
    // A cache of this build's: a reused one rejects a rebuilt package of the same version.
    '--cachedir',
    cacheDirInRoot,
    '-Sy',
    '--needed',
    '--asdeps',
    ...targets,
  ];
  return setarchI686 ? ['setarch', 'i686', ...pacman] : pacman;
}

/** Installs `targets` into the build root `root`; `cacheDir` is a host path inside it. */
export async function installDependencies(
  root: string,
  cacheDir: string,
  targets: readonly string[],
  setarchI686: boolean,
): Promise<void> {
  if (targets.length === 0) return;
  const conf = path.join(root, 'etc/pacman.conf');
  if (!(await fs.stat(conf).catch(() => undefined))?.isFile()) {
    throw new UserError(
      `syncdeps: the build root ${root} has no /etc/pacman.conf naming the repositories to install ${targets.join(', ')} from.`,
    );
  }
  await fs.mkdir(path.join(root, 'var/lib/pacman'), { recursive: true });
  const argv = syncdepsCommand(root, `/${path.relative(root, cacheDir)}`, targets, setarchI686);
  const result = await exec(argv[0] as string, argv.slice(1), {
    group: `syncdeps: pacman installs ${targets.join(' ')} into ${root}`,
    allowFailure: true,
    missingHint: 'install the Debian package pacman-package-manager',
  });
  if (result.code !== 0) {
    const errors = result.output.split('\n').filter((line) => line.startsWith('error: '));
    throw new UserError(
      `syncdeps: pacman could not install ${targets.join(', ')} into ${root} (exit ${result.code}) from the repositories of its /etc/pacman.conf: ${errors.length > 0 ? errors.join('; ') : tailOf(result.output, 3)}`,
    );
  }
}
