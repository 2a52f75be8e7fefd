import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { readElfDependencies } from '../../core/src/elf.js';
import { execQuiet } from '../../core/src/exec.js';
import { checkRootLibraries, findLibraryInRoot } from '../../core/src/root-libraries.js';

/**
 * Which libraries a built package links that its `depends` does not account for. The package is
 * unpacked and its ELF objects checked against themselves (a library the package holds needs no
 * package); every other DT_NEEDED library is looked up where the build ran (the build root, or
 * the host), and its owner in that root's pacman database.
 */

interface Owner {
  name: string;
  /** Names of %PROVIDES% without their versions (libncursesw.so=6-64 → libncursesw.so). */
  provides: string[];
}

/** glibc's own libraries: on a host without a pacman database, `glibc` in depends covers them. */
const GLIBC_SONAMES = new Set([
  'libc.so.6',
  'libm.so.6',
  'libpthread.so.0',
  'libdl.so.2',
  'librt.so.1',
  'libresolv.so.2',
  'libutil.so.1',
  'libmvec.so.1',
]);

/** The sections of a pacman database entry (`%NAME%` lines, then values up to a blank line). */
function sections(text: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  for (const block of text.split(/\n\s*\n/)) {
    const [header, ...values] = block.trim().split('\n');
    const name = /^%(.+)%$/.exec(header ?? '')?.[1];
    if (name) result.set(name, values);
  }
  return result;
}

/** File (root path) → the package that owns it, from `root`'s pacman local database. */
export async function pacmanOwners(root: string): Promise<Map<string, Owner>> {
  const local = path.join(root, 'var/lib/pacman/local');
  const owners = new Map<string, Owner>();
  const entries = await fs.readdir(local, { withFileTypes: true }).catch(() => []);
  for (const entry of entries.filter((candidate) => candidate.isDirectory())) {
    const [desc, files] = await Promise.all(
      ['desc', 'files'].map((file) =>
        fs.readFile(path.join(local, entry.name, file), 'utf8').catch(() => ''),
      ),
    );
    const facts = sections(desc ?? '');
    const name = facts.get('NAME')?.[0];
    if (!name) continue;
    const owner = {
      name,
      provides: (facts.get('PROVIDES') ?? []).map((value) => value.split(/[<>=]/)[0] as string),
    };
    for (const file of sections(files ?? '').get('FILES') ?? []) owners.set(`/${file}`, owner);
  }
  return owners;
}

/** A dependency string's name: `ncurses>=6` → `ncurses`. */
function dependencyName(dependency: string): string {
  return dependency.split(/[<>=]/)[0] as string;
}

export interface BuildPlace {
  /** Where the build ran: the build root, or / for the host. */
  root: string;
  /** True for a host build (no build root). */
  onHost: boolean;
}

/** One line for each library of `packageFile` that no package in `depends` is known to provide. */
export async function unlistedLibraries(
  packageFile: string,
  depends: readonly string[],
  place: BuildPlace,
  owners: Map<string, Owner>,
  unpackDir: string,
): Promise<string[]> {
  await fs.mkdir(unpackDir, { recursive: true });
  await execQuiet('bsdtar', ['-xf', packageFile, '-C', unpackDir, '--exclude', '.*']);
  const listed = new Set(depends.map(dependencyName));
  const where = place.onHost ? 'the host' : 'the build root';
  const problems = new Map<string, string>();
  for (const miss of checkRootLibraries(unpackDir).misses) {
    if (miss.kind !== 'library' || problems.has(miss.missing)) continue;
    const elf = readElfDependencies(path.join(unpackDir, miss.object));
    if (!elf) continue;
    const found = findLibraryInRoot(place.root, miss.missing, elf);
    const needs = `${miss.object} needs ${miss.missing}`;
    // Not where the build ran (a library off every search path): nothing to say; make-chroot
    // checks the root.
    if (!found) continue;
    const owner = owners.get(found);
    if (owner) {
      if (listed.has(owner.name) || owner.provides.some((name) => listed.has(name))) continue;
      problems.set(
        miss.missing,
        `${needs}, which package ${owner.name} provides in ${where}, but ${owner.name} is not in depends: add it, or the minimal root will lack ${miss.missing}.`,
      );
    } else if (place.onHost && !(listed.has('glibc') && GLIBC_SONAMES.has(miss.missing))) {
      problems.set(
        miss.missing,
        `${needs}, found only on the host (${found}): a host build links the host's libraries, which no package in depends provides. Add the Arch package that holds ${miss.missing} to depends, and build in a build-root to link Arch's own.`,
      );
    }
  }
  return [...problems.values()];
}
