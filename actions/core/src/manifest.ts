import * as fs from 'node:fs/promises';
import { UserError } from './errors.js';

/**
 * The contracts between actions (docs/dev/contracts.md).
 *
 * AppInfo: what build-package knows about the app it built. It is written beside each package
 * file as `<package file>.arch-core.json`, where make-chroot finds it.
 *
 * Manifest: the one record of what a root holds. make-chroot writes it into the root at
 * MANIFEST_PATH_IN_ROOT and as an output; import-image turns it into labels.
 */

export type Vcs = 'hg' | 'git' | 'none';

export interface AppInfo {
  name: string;
  /** pacman's `[epoch:]pkgver-pkgrel`. */
  version: string;
  vcs: Vcs;
  /** VCS revision number (hg rev, git commit count); absent without a VCS. */
  revision?: string;
  /** Short VCS hash. */
  hash?: string;
  /** Full VCS hash (absent in records made before it was added). */
  commit?: string;
  /** The commit time, ISO 8601 UTC. */
  commitTime?: string;
  /** Where the source came from (a repository URL), when known. */
  source?: string;
}

export interface ManifestPackage {
  name: string;
  version: string;
  arch: string;
  installedSize: number;
  /** The package file it was installed from (`NAME-VERSION-ARCH.pkg.tar.*`), when found. */
  file?: string;
  /** That file's sha256 (hex), hashed by make-chroot after pacman installed it. */
  sha256?: string;
}

export interface Manifest {
  schemaVersion: 1;
  arch: string;
  app?: AppInfo;
  /** Sorted by name; equals `pacman -r ROOT -Q`. */
  packages: ManifestPackage[];
  created: string;
}

export const MANIFEST_PATH_IN_ROOT = 'usr/share/arch-core/manifest.json';
export const APP_INFO_SUFFIX = '.arch-core.json';
/** make-chroot's bills of materials of the root, beside the manifest (docs/dev/sbom.md). */
export const SBOM_SPDX_PATH_IN_ROOT = 'usr/share/arch-core/sbom.spdx.json';
export const SBOM_CYCLONEDX_PATH_IN_ROOT = 'usr/share/arch-core/sbom.cdx.json';

export function appInfoPathFor(packageFile: string): string {
  return `${packageFile}${APP_INFO_SUFFIX}`;
}

/** Reads the AppInfo beside a package file, or undefined when build-package did not make it. */
export async function readAppInfo(packageFile: string): Promise<AppInfo | undefined> {
  let text: string;
  try {
    text = await fs.readFile(appInfoPathFor(packageFile), 'utf8');
  } catch {
    return undefined;
  }
  const info = JSON.parse(text) as AppInfo;
  if (typeof info.name !== 'string' || typeof info.version !== 'string') {
    throw new UserError(`${appInfoPathFor(packageFile)} is not an arch-core app record.`);
  }
  return info;
}

/** Parses and checks a manifest; the error names the file. */
export function parseManifest(text: string, origin: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UserError(`${origin} is not valid JSON: ${(error as Error).message}`);
  }
  const manifest = value as Partial<Manifest>;
  if (manifest.schemaVersion !== 1) {
    throw new UserError(`${origin} is not an arch-core manifest of schemaVersion 1.`);
  }
  if (typeof manifest.arch !== 'string' || !Array.isArray(manifest.packages)) {
    throw new UserError(`${origin} lacks "arch" or "packages".`);
  }
  for (const entry of manifest.packages) {
    if (typeof entry?.name !== 'string' || typeof entry.version !== 'string') {
      throw new UserError(`${origin} has a package without a name or version.`);
    }
  }
  return manifest as Manifest;
}

export async function readManifest(file: string): Promise<Manifest> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new UserError(`The manifest ${file} cannot be read.`);
  }
  return parseManifest(text, file);
}
