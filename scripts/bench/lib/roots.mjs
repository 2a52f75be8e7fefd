// The roots import-image is benchmarked on: real files copied from /usr (a prefix of /usr's
// sorted walk, so every machine with the same /usr gets the same root), or many 1 KiB files cut
// from them; each with a pacman local database and an arch-core manifest that say which files
// are the app's (package benchapp, one program) and which are its dependencies' (package
// base-files, all the rest), as make-chroot's roots do.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `50M`, `500M`, `2G` (bytes of /usr), or `100k` (files of 1 KiB). */
export const SIZES = {
  '50M': { bytes: 50e6 },
  '500M': { bytes: 500e6 },
  '2G': { bytes: 2e9 },
  '100k': { files: 100_000 },
};

const APP = 'benchapp';
const APP_PROGRAM = 'usr/bin/benchapp';
const DB = 'var/lib/pacman/local';

/** Regular files and symlinks of /usr in sorted depth-first order, with their sizes. */
export function* usrFiles(dir = '/usr') {
  let names;
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const name of names) {
    const full = path.join(dir, name);
    const stat = fs.lstatSync(full);
    if (stat.isDirectory()) yield* usrFiles(full);
    else if (stat.isFile() || stat.isSymbolicLink()) yield { full, stat };
  }
}

function copyFromUsr(root, bytes) {
  let total = 0;
  const owned = [];
  for (const { full, stat } of usrFiles()) {
    if (total >= bytes * 0.98) break;
    // A file that would overshoot the size by more than 2% is passed over for smaller ones.
    if (stat.isFile() && total + stat.size > bytes * 1.02) continue;
    const relative = full.slice(1);
    const target = path.join(root, relative);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (stat.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(full), target);
    else {
      fs.copyFileSync(full, target);
      total += stat.size;
    }
    owned.push(relative);
  }
  return owned;
}

/** `files` files of 1 KiB, their bytes cut in turn from /usr's files, 1000 to a directory. */
function smallFiles(root, files) {
  const owned = [];
  const source = usrFiles();
  let pending = Buffer.alloc(0);
  for (let index = 0; index < files; index++) {
    while (pending.length < 1024) {
      const next = source.next().value;
      if (next.stat.isFile()) pending = Buffer.concat([pending, fs.readFileSync(next.full)]);
    }
    const relative = `usr/share/bench/d${Math.floor(index / 1000)}/f${index % 1000}`;
    if (index % 1000 === 0)
      fs.mkdirSync(path.join(root, path.dirname(relative)), { recursive: true });
    fs.writeFileSync(path.join(root, relative), pending.subarray(0, 1024));
    pending = pending.subarray(1024);
    owned.push(relative);
  }
  return owned;
}

/** pacman's files list: every parent directory (with its `/`) then the files, sorted. */
function filesList(paths) {
  const entries = new Set();
  for (const file of paths) {
    const parts = file.split('/');
    for (let depth = 1; depth < parts.length; depth++)
      entries.add(`${parts.slice(0, depth).join('/')}/`);
    entries.add(file);
  }
  return [...entries].sort();
}

function writePackage(root, name, version, paths, installedSize) {
  const dir = path.join(root, DB, `${name}-${version}`);
  fs.mkdirSync(dir, { recursive: true });
  const desc = { NAME: name, VERSION: version, ARCH: 'x86_64', SIZE: String(installedSize) };
  fs.writeFileSync(
    path.join(dir, 'desc'),
    Object.entries(desc)
      .map(([key, value]) => `%${key}%\n${value}\n`)
      .join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'files'), `%FILES%\n${filesList(paths).join('\n')}\n`);
}

function sizeOf(root, paths) {
  return paths.reduce((sum, file) => sum + fs.lstatSync(path.join(root, file)).size, 0);
}

/**
 * Writes (or rewrites, for an app-only change) the app: its program, its database entry and the
 * manifest (listing `base`, the dependencies' package). Another version changes the program's
 * bytes, as a rebuilt app would.
 */
export function writeApp(root, version, base) {
  const program = path.join(root, APP_PROGRAM);
  fs.mkdirSync(path.dirname(program), { recursive: true });
  fs.writeFileSync(
    program,
    Buffer.concat([fs.readFileSync('/usr/bin/bash'), Buffer.from(`\nbuild ${version}\n`)]),
  );
  for (const entry of fs.readdirSync(path.join(root, DB))) {
    if (entry.startsWith(`${APP}-`)) fs.rmSync(path.join(root, DB, entry), { recursive: true });
  }
  const appSize = sizeOf(root, [APP_PROGRAM]);
  writePackage(root, APP, version, [APP_PROGRAM], appSize);
  const manifest = {
    schemaVersion: 1,
    arch: 'x86_64',
    app: { name: APP, version, vcs: 'none' },
    packages: [base, { name: APP, version, arch: 'x86_64', installedSize: appSize }],
    created: '2023-11-14T22:13:20Z',
  };
  const manifestFile = path.join(root, 'usr/share/arch-core/manifest.json');
  fs.mkdirSync(path.dirname(manifestFile), { recursive: true });
  fs.writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  return { appInstalledBytes: appSize };
}

/** Makes the root of `size` (a key of SIZES) in `root`; returns what it holds. */
export function makeRoot(root, size) {
  const spec = SIZES[size];
  fs.mkdirSync(root, { recursive: true });
  const owned = spec.bytes ? copyFromUsr(root, spec.bytes) : smallFiles(root, spec.files);
  const baseSize = sizeOf(root, owned);
  writePackage(root, 'base-files', '1-1', owned, baseSize);
  fs.writeFileSync(path.join(root, 'var/lib/pacman/local/ALPM_DB_VERSION'), '9\n');
  const base = { name: 'base-files', version: '1-1', arch: 'x86_64', installedSize: baseSize };
  const { appInstalledBytes } = writeApp(root, '1.0-1', base);
  const largest = owned.reduce(
    (max, file) => Math.max(max, fs.lstatSync(path.join(root, file)).size),
    0,
  );
  return {
    files: owned.length + 1,
    bytes: baseSize,
    largestFile: largest,
    base,
    appInstalledBytes,
  };
}
