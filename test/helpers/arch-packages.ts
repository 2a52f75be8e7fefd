import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../scripts/lib/run.js';

/**
 * Test fixtures: small Arch packages built with the REAL makepkg (as an unprivileged build user,
 * since makepkg refuses root) and put into a local pacman repository with the real repo-add.
 *
 *   const repo = await buildFixtureRepo({
 *     dir, arch: 'x86_64', repoName: 'fixtures',
 *     packages: [
 *       { name: 'hello', depends: ['libgreet'], program: { prints: 'Hello from hello' } },
 *       { name: 'libgreet', files: { 'usr/share/greet/words': 'hi\n' } },
 *     ],
 *   });
 *   repo.repoDir            // DIR with fixtures.db(.tar.gz) and the package files
 *   repo.packageFiles.hello // absolute path of hello-1.0-1-x86_64.pkg.tar.xz
 *
 * Build once per test file (beforeAll): each package takes about a second.
 */

/** The unprivileged user makepkg runs as (created when missing). */
export const BUILD_USER = 'archcore-test';

export type FixtureArch = 'x86_64' | 'i686';

export interface FixturePackage {
  name: string;
  /** pkgver (default `1.0`). */
  version?: string;
  /** pkgrel (default `1`). */
  release?: string;
  /** Package arch (default: the repository's arch; `any` for data-only packages if you like). */
  arch?: FixtureArch | 'any';
  depends?: string[];
  /** The PKGBUILD's `license` entries (default `MIT`). */
  licenses?: string[];
  /** Files to ship: path inside the package (no leading `/`) → content (text or bytes). */
  files?: Record<string, string | Uint8Array>;
  /** Modes of some of `files` (default 0644), e.g. `{ 'lib64/ld-linux-x86-64.so.2': 0o755 }`. */
  modes?: Record<string, number>;
  /**
   * A static C program installed as `/usr/bin/<name ?? package name>` that prints `prints` and a
   * newline. Compiled by makepkg's build() with gcc (`-m32` for i686), statically linked so it
   * runs in a root without libc.
   */
  program?: { name?: string; prints: string };
  /** Text of an install scriptlet (`post_install() { ... }`); written as `<name>.install`. */
  install?: string;
  /** A whole PKGBUILD instead of the generated one (files, program and install are ignored). */
  pkgbuild?: string;
  /** Extra files written beside a custom PKGBUILD (name → content). */
  sources?: Record<string, string>;
}

export interface FixtureRepoOptions {
  /** A directory of the test's own; the repository goes to `<dir>/repo`. */
  dir: string;
  arch: FixtureArch;
  /** Repository name (not `local`: pacman reserves it). */
  repoName: string;
  packages: FixturePackage[];
  /** Default `.pkg.tar.xz`; `.pkg.tar.zst` works too. */
  pkgext?: '.pkg.tar.xz' | '.pkg.tar.zst';
}

export interface FixtureRepo {
  /** The repository directory: `<repoName>.db` and the package files. */
  repoDir: string;
  /** `<repoDir>/<repoName>.db.tar.gz`. */
  dbFile: string;
  /** Package name → absolute path of its package file. */
  packageFiles: Record<string, string>;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function userIds(user: string): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(
      execFileSync('id', ['-u', user], { encoding: 'utf8', stdio: 'pipe' }).trim(),
    );
    const gid = Number(
      execFileSync('id', ['-g', user], { encoding: 'utf8', stdio: 'pipe' }).trim(),
    );
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** The build user's ids; creates the system user when it does not exist (root only). */
export function ensureBuildUser(): { uid: number; gid: number } {
  const existing = userIds(BUILD_USER);
  if (existing) return existing;
  try {
    execFileSync(
      'useradd',
      ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', BUILD_USER],
      { stdio: 'pipe' },
    );
  } catch {
    // Another test file may have created it at the same moment: checked below.
  }
  const created = userIds(BUILD_USER);
  if (!created) throw new Error(`cannot create the build user ${BUILD_USER}`);
  return created;
}

const NAME = /^[a-z0-9@_+][a-z0-9@._+-]*$/;

function bashArray(values: readonly string[]): string {
  return `(${values.map((value) => `'${value.replace(/'/g, `'\\''`)}'`).join(' ')})`;
}

function cString(text: string): string {
  if (!/^[\x20-\x7e]*$/.test(text))
    throw new Error(`program text must be printable ASCII: ${text}`);
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}\\n"`;
}

/** The PKGBUILD makepkg builds for one fixture package (pure; exported for reading in tests). */
export function fixturePkgbuild(spec: FixturePackage, repoArch: FixtureArch): string {
  const arch = spec.arch ?? repoArch;
  const lines = [
    `pkgname=${spec.name}`,
    `pkgver=${spec.version ?? '1.0'}`,
    `pkgrel=${spec.release ?? '1'}`,
    `pkgdesc='arch-core test fixture ${spec.name}'`,
    `arch=('${arch}')`,
    `license=${bashArray(spec.licenses ?? ['MIT'])}`,
    `depends=${bashArray(spec.depends ?? [])}`,
    // Keep man pages and locales as given (no zipman), so strip tests see the exact paths.
    `options=('!debug' '!zipman')`,
  ];
  if (spec.install) lines.push(`install=${spec.name}.install`);
  if (spec.program) {
    const flags = repoArch === 'i686' ? '-m32 -march=i686' : '-m64';
    lines.push(
      'build() {',
      `  gcc ${flags} -static -O2 -o "$srcdir/program" "$startdir/program.c"`,
      '}',
    );
  }
  lines.push('package() {');
  lines.push('  cp -a "$startdir/payload/." "$pkgdir/"');
  if (spec.program) {
    const programName = spec.program.name ?? spec.name;
    lines.push(`  install -Dm755 "$srcdir/program" "$pkgdir/usr/bin/${programName}"`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

async function writePackageSources(
  spec: FixturePackage,
  repoArch: FixtureArch,
  dir: string,
): Promise<void> {
  await fs.mkdir(path.join(dir, 'payload'), { recursive: true });
  if (spec.pkgbuild !== undefined) {
    await fs.writeFile(path.join(dir, 'PKGBUILD'), spec.pkgbuild);
    for (const [name, content] of Object.entries(spec.sources ?? {})) {
      await fs.writeFile(path.join(dir, name), content);
    }
    return;
  }
  await fs.writeFile(path.join(dir, 'PKGBUILD'), fixturePkgbuild(spec, repoArch));
  for (const [relative, content] of Object.entries(spec.files ?? {})) {
    if (relative.startsWith('/') || relative.split('/').includes('..')) {
      throw new Error(`fixture file path must be relative and inside the package: ${relative}`);
    }
    const target = path.join(dir, 'payload', relative);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, content);
    await fs.chmod(target, spec.modes?.[relative] ?? 0o644);
  }
  if (spec.program) {
    const source = `#include <stdio.h>\nint main(void) { fputs(${cString(spec.program.prints)}, stdout); return 0; }\n`;
    await fs.writeFile(path.join(dir, 'program.c'), source);
  }
  if (spec.install) await fs.writeFile(path.join(dir, `${spec.name}.install`), spec.install);
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await fs.chown(dir, uid, gid);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, uid, gid);
    else await fs.lchown(full, uid, gid);
  }
}

/** Runs the real makepkg on `buildDir` (as the build user when root); returns the package file. */
function makepkg(buildDir: string, outDir: string, arch: FixtureArch, pkgext: string): string {
  const settings = [
    `HOME=${buildDir}`,
    `PKGEXT=${pkgext}`,
    `CARCH=${arch}`,
    `PKGDEST=${outDir}`,
    `SRCDEST=${buildDir}`,
    `BUILDDIR=${buildDir}`,
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    // Reproducible package timestamps (makepkg honours it).
    `SOURCE_DATE_EPOCH=${process.env.SOURCE_DATE_EPOCH ?? '1700000000'}`,
  ];
  const makepkgArgs = ['makepkg', '--nodeps', '--noconfirm', '--force', '--noprogressbar'];
  if (isRoot()) {
    run('runuser', ['-u', BUILD_USER, '--', 'env', '-i', ...settings, ...makepkgArgs], {
      cwd: buildDir,
    });
  } else {
    run('env', ['-i', ...settings, ...makepkgArgs], { cwd: buildDir });
  }
  return outDir;
}

/**
 * Builds every package with makepkg and makes `<dir>/repo` a pacman repository named `repoName`
 * with repo-add. Throws with makepkg's output when a build fails.
 */
export async function buildFixtureRepo(options: FixtureRepoOptions): Promise<FixtureRepo> {
  const pkgext = options.pkgext ?? '.pkg.tar.xz';
  if (options.repoName === 'local')
    throw new Error('the repository name "local" is reserved by pacman');
  const ids = isRoot() ? ensureBuildUser() : undefined;
  const base = path.resolve(options.dir);
  // The build user must reach its build directory, and the test's own dir may be 0700 (mkdtemp):
  // build in a directory of its own under the system temp dir.
  const buildRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'arch-core-fixture-build-'));
  await fs.chmod(buildRoot, 0o755);
  const packageFiles: Record<string, string> = {};
  try {
    const outDir = path.join(buildRoot, 'out');
    const repoDir = path.join(base, 'repo');
    await fs.mkdir(outDir, { recursive: true });
    await fs.mkdir(repoDir, { recursive: true });

    for (const spec of options.packages) {
      if (!NAME.test(spec.name)) throw new Error(`bad fixture package name: ${spec.name}`);
      await writePackageSources(spec, options.arch, path.join(buildRoot, spec.name));
    }
    if (ids) await chownTree(buildRoot, ids.uid, ids.gid);

    for (const spec of options.packages) {
      const before = new Set(await fs.readdir(outDir));
      makepkg(path.join(buildRoot, spec.name), outDir, options.arch, pkgext);
      const made = (await fs.readdir(outDir)).filter(
        (name) => !before.has(name) && name.endsWith(pkgext),
      );
      const file = made.find((name) => name.startsWith(`${spec.name}-`));
      if (!file)
        throw new Error(`makepkg made no package for ${spec.name} (saw ${made.join(', ')})`);
      const target = path.join(repoDir, file);
      await fs.copyFile(path.join(outDir, file), target);
      await fs.chmod(target, 0o644);
      packageFiles[spec.name] = target;
    }

    const dbFile = path.join(repoDir, `${options.repoName}.db.tar.gz`);
    run('repo-add', ['-q', dbFile, ...Object.values(packageFiles)]);
    return { repoDir, dbFile, packageFiles };
  } finally {
    await fs.rm(buildRoot, { recursive: true, force: true });
  }
}

/** `name version` of a package file, read by pacman itself (`pacman -Qp`). */
export function packageFileVersion(file: string): { name: string; version: string } {
  const [name, version] = run('pacman', ['-Qp', file]).trim().split(/\s+/);
  if (!name || !version) throw new Error(`pacman -Qp ${file} printed nothing`);
  return { name, version };
}

/**
 * A `glibc` fixture package holding this machine's own x86_64 loader and libc (no Arch mirror is
 * reachable): enough for a dynamically linked program of the host to run in a root.
 */
export async function hostGlibcPackage(): Promise<FixturePackage> {
  const loader = 'lib64/ld-linux-x86-64.so.2';
  const libc = 'lib/x86_64-linux-gnu/libc.so.6';
  return {
    name: 'glibc',
    version: '2.36',
    files: { [loader]: await fs.readFile(`/${loader}`), [libc]: await fs.readFile(`/${libc}`) },
    modes: { [loader]: 0o755, [libc]: 0o755 },
  };
}
