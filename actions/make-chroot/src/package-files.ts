import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { sha256File } from '../../core/src/files.js';
import { isPackageFileName } from '../../core/src/pkginfo.js';
import type { InstalledPackage } from './pacman.js';

/** The package file a package was installed from: its file name and sha256. */
export interface InstalledFile {
  file: string;
  sha256: string;
}

async function packageFilesIn(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((name) => isPackageFileName(name)).sort();
}

/**
 * The file each installed package came from, hashed here: pacman names a package's file
 * `NAME-VERSION-ARCH.pkg.tar.*`, and keeps what it fetched in its cache directory (a local
 * repository's files may be read in place, so its directory is searched after the cache).
 * A package whose file is in none of them is left out.
 */
export async function installedPackageFiles(
  installed: readonly InstalledPackage[],
  dirs: readonly string[],
): Promise<Map<string, InstalledFile>> {
  const listed = await Promise.all(
    dirs.map(async (dir) => ({ dir, names: await packageFilesIn(dir) })),
  );
  const found = new Map<string, InstalledFile>();
  for (const entry of installed) {
    const prefix = `${entry.name}-${entry.version}-${entry.arch}.pkg.tar`;
    for (const { dir, names } of listed) {
      const name = names.find((candidate) => candidate.startsWith(prefix));
      if (name === undefined) continue;
      found.set(entry.name, { file: name, sha256: await sha256File(path.join(dir, name)) });
      break;
    }
  }
  return found;
}
