import * as path from 'node:path';
import { UserError } from './errors.js';
import { execQuiet } from './exec.js';

/**
 * Reading pacman package files (`*.pkg.tar.xz`, `*.pkg.tar.zst`, `*.pkg.tar.gz`, ...).
 *
 * A package is a tar archive whose `.PKGINFO` holds `key = value` lines (a key repeats for list
 * fields such as `depend`). bsdtar (package libarchive-tools) reads every compression pacman
 * writes, so it is the one reader used here.
 */

export interface PackageInfo {
  /** `pkgname`. */
  name: string;
  /** `pkgbase` (the PKGBUILD's name for split packages); defaults to the name. */
  base: string;
  /** `pkgver` as pacman stores it: `[epoch:]pkgver-pkgrel`. */
  version: string;
  description?: string;
  url?: string;
  arch: string;
  /** `size`: the installed size in bytes. */
  installedSize: number;
  packager?: string;
  /** `builddate`, seconds since the epoch. */
  buildDate?: number;
  licenses: string[];
  groups: string[];
  depends: string[];
  optDepends: string[];
  makeDepends: string[];
  checkDepends: string[];
  provides: string[];
  conflicts: string[];
  replaces: string[];
  backup: string[];
  /** Every `key = value` of `.PKGINFO`, values in order (for fields not named above). */
  fields: Record<string, string[]>;
}

/** Package file extensions pacman reads (and makepkg can write). */
const PACKAGE_FILE_PATTERN = /\.pkg\.tar(\.(xz|zst|gz|bz2|lz4|lzo|lz|Z))?$/;

export function isPackageFileName(name: string): boolean {
  return PACKAGE_FILE_PATTERN.test(path.basename(name)) && !name.endsWith('.sig');
}

/** Parses the text of a `.PKGINFO`; `origin` names it in errors. */
export function parsePkginfo(text: string, origin = '.PKGINFO'): PackageInfo {
  const fields: Record<string, string[]> = {};
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf(' = ');
    // An empty value is written as "key = " and trimmed to "key =".
    const key = at >= 0 ? line.slice(0, at) : line.replace(/\s*=$/, '');
    const value = at >= 0 ? line.slice(at + 3) : '';
    if (at < 0 && !line.endsWith('=')) {
      throw new UserError(`${origin}: "${line}" is not a "key = value" line.`);
    }
    (fields[key] ??= []).push(value);
  }
  const one = (key: string): string | undefined => fields[key]?.[0];
  const list = (key: string): string[] => (fields[key] ?? []).filter((value) => value !== '');
  const name = one('pkgname');
  const version = one('pkgver');
  const arch = one('arch');
  if (!name || !version || !arch) {
    throw new UserError(`${origin} lacks pkgname, pkgver or arch: it is not a pacman package.`);
  }
  const size = Number(one('size') ?? '0');
  const buildDate = one('builddate');
  return {
    name,
    base: one('pkgbase') || name,
    version,
    description: one('pkgdesc') || undefined,
    url: one('url') || undefined,
    arch,
    installedSize: Number.isFinite(size) ? size : 0,
    packager: one('packager') || undefined,
    buildDate: buildDate && /^\d+$/.test(buildDate) ? Number(buildDate) : undefined,
    licenses: list('license'),
    groups: list('group'),
    depends: list('depend'),
    optDepends: list('optdepend'),
    makeDepends: list('makedepend'),
    checkDepends: list('checkdepend'),
    provides: list('provides'),
    conflicts: list('conflict'),
    replaces: list('replaces'),
    backup: list('backup'),
    fields,
  };
}

const BSDTAR_HINT = 'install the Debian package libarchive-tools (bsdtar)';

/** Reads the `.PKGINFO` of a package file. */
export async function readPackageInfo(packageFile: string): Promise<PackageInfo> {
  const result = await execQuiet('bsdtar', ['-xOf', packageFile, '.PKGINFO'], {
    silent: true,
    allowFailure: true,
    missingHint: BSDTAR_HINT,
  });
  if (result.code !== 0 || result.stdout.trim() === '') {
    const why = result.stderr.trim().split('\n')[0] || 'it has no .PKGINFO';
    throw new UserError(`${packageFile} is not a readable pacman package: ${why}`);
  }
  return parsePkginfo(result.stdout, `${packageFile}: .PKGINFO`);
}
