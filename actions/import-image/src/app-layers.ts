import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../../core/src/errors.js';
import {
  MANIFEST_PATH_IN_ROOT,
  SBOM_CYCLONEDX_PATH_IN_ROOT,
  SBOM_SPDX_PATH_IN_ROOT,
} from '../../core/src/manifest.js';

/**
 * `layers: app`: the root split by origin, from its pacman database (var/lib/pacman/local/*:
 * `desc` names the package, `files` lists what it installed, directories ending in `/`). The
 * upper layer holds the app package's files, the directories only it owns, the whole local
 * database, the manifest and the SBOMs; the lower layer everything else. Both are cut from one walk of the
 * root (tar.ts's `select`), so a directory both need is written twice with the same header.
 */
export const LOCAL_DB = 'var/lib/pacman/local';

interface LocalPackage {
  name: string;
  buildDate: number;
  /** Relative paths; directories end in `/`. */
  files: string[];
}

export interface AppSplit {
  /** True for the paths of the upper (app) layer. */
  inAppLayer: (relativePath: string) => boolean;
  /**
   * The mtime clamp of both layers: SOURCE_DATE_EPOCH, or the newest build date of the other
   * packages when that is earlier, so the lower layer does not change with the app's commit.
   */
  mtimeClamp: number;
  /** How many paths the app package owns. */
  appPaths: number;
}

/** The values of `%KEY%` sections of a pacman database file (pure). */
export function pacmanSections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    const header = /^%([A-Z0-9]+)%$/.exec(line);
    if (header) {
      current = [];
      sections.set(header[1] as string, current);
    } else if (line === '') {
      current = undefined;
    } else {
      current?.push(line);
    }
  }
  return sections;
}

async function readLocalPackages(root: string): Promise<LocalPackage[]> {
  const local = path.join(root, LOCAL_DB);
  const names = await fs.readdir(local, { withFileTypes: true }).catch(() => undefined);
  if (!names) {
    throw new UserError(
      `layers: app needs pacman's database in the root (${LOCAL_DB}); make the root with make-chroot's keep-package-db: true.`,
    );
  }
  const packages: LocalPackage[] = [];
  for (const entry of names.filter((name) => name.isDirectory())) {
    const dir = path.join(local, entry.name);
    const desc = pacmanSections(await fs.readFile(path.join(dir, 'desc'), 'utf8'));
    const files = await fs.readFile(path.join(dir, 'files'), 'utf8').catch(() => '');
    packages.push({
      name: desc.get('NAME')?.[0] ?? entry.name,
      buildDate: Number(desc.get('BUILDDATE')?.[0] ?? 0),
      files: pacmanSections(files).get('FILES') ?? [],
    });
  }
  return packages;
}

/** How the root at `root` splits with `app` on top; `epoch` is SOURCE_DATE_EPOCH. */
export async function splitByOrigin(root: string, app: string, epoch: number): Promise<AppSplit> {
  const packages = await readLocalPackages(root);
  const appPackage = packages.find((entry) => entry.name === app);
  if (!appPackage) {
    throw new UserError(`layers: app: the app package ${app} is not in the root's ${LOCAL_DB}.`);
  }
  const others = packages.filter((entry) => entry !== appPackage);
  const dirsOfOthers = new Set(others.flatMap((entry) => entry.files.filter(isDirectoryPath)));
  // The SBOMs list the app's version as the manifest does: they change with it.
  const upper = new Set<string>([
    MANIFEST_PATH_IN_ROOT,
    SBOM_SPDX_PATH_IN_ROOT,
    SBOM_CYCLONEDX_PATH_IN_ROOT,
    LOCAL_DB,
  ]);
  for (const file of appPackage.files) {
    if (!isDirectoryPath(file)) upper.add(file);
    else if (!dirsOfOthers.has(file)) upper.add(file.slice(0, -1));
  }
  const buildDates = others.map((entry) => entry.buildDate).filter((date) => date > 0);
  return {
    inAppLayer: (relative) => upper.has(relative) || relative.startsWith(`${LOCAL_DB}/`),
    mtimeClamp: buildDates.length > 0 ? Math.min(epoch, Math.max(...buildDates)) : epoch,
    appPaths: appPackage.files.length,
  };
}

function isDirectoryPath(file: string): boolean {
  return file.endsWith('/');
}
