import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { sha256File } from '../../actions/core/src/files.js';
import type { AppInfo } from '../../actions/core/src/manifest.js';
import { withVersionOf } from '../../actions/build-package/src/pkgbuild.js';
import { parseOutputFile } from '../../actions/cli/src/local-runner.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { bundleCopyIn, bundleNodeIn, errorLines, runBundle } from '../helpers/bundle.js';
import {
  EXAMPLE_APP,
  FIXTURES,
  gitRepo,
  hgRepo,
  pacmanInfo,
  run,
  snapshot,
} from '../helpers/build-package-repos.js';

// Real makepkg builds through the bundle, run as the runner runs it (INPUT_*, GITHUB_OUTPUT,
// GITHUB_STEP_SUMMARY); the packages are read back with pacman -Qip.

let work: string;
let hello: string;
let runnerTemp: string;
let helloRev: string;
let helloHash: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-build-'));
  await fs.chmod(work, 0o755); // the build user reaches the reference copies below
  runnerTemp = path.join(work, 'runner-temp');
  await fs.mkdir(runnerTemp);
  hello = await hgRepo(EXAMPLE_APP, path.join(work, 'hello'), 'v1.2');
  // Read once here: hg itself writes caches into .hg, the action must not.
  helloRev = run('hg', ['id', '-n'], hello).trim();
  helloHash = run('hg', ['id', '-i'], hello).trim();
  run('hg', ['status'], hello);
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

function build(inputs: Record<string, string>) {
  return runBundle('build-package', inputs, { RUNNER_TEMP: runnerTemp });
}

/** Extracts one file of a package and returns its path. */
async function extract(pkg: string, member: string, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  run('bsdtar', ['-xf', pkg, '-C', dir, member]);
  return path.join(dir, member);
}

describe('the example app from a Mercurial repository', () => {
  const rev = () => helloRev;
  const hash = () => helloHash;

  test.each([
    ['x86_64', '.pkg.tar.xz', /ELF 64-bit/],
    ['x86_64', '.pkg.tar.zst', /ELF 64-bit/],
    ['i686', '.pkg.tar.xz', /ELF 32-bit .*Intel 80386/],
    ['i686', '.pkg.tar.zst', /ELF 32-bit .*Intel 80386/],
  ])(
    '%s %s',
    async (arch, pkgext, elfClass) => {
      const before = await snapshot(hello);
      const out = path.join(work, `out-${arch}${pkgext}`);
      const result = await build({ path: hello, arch, pkgext, 'output-dir': out });
      expect(errorLines(result.log)).toEqual([]);
      expect(result.code).toBe(0);

      const version = `1.2.r${rev()}.${hash()}-1`;
      const file = path.join(out, `hello-${version}-${arch}${pkgext}`);
      expect(result.outputs).toMatchObject({
        packages: file,
        version,
        pkgver: `1.2.r${rev()}.${hash()}`,
        revision: rev(),
        hash: hash(),
        'repo-db': '',
        srcinfo: path.join(out, 'hello.SRCINFO'),
      });
      const info = pacmanInfo(file);
      expect(info).toMatchObject({
        Name: 'hello',
        Version: version,
        Architecture: arch,
        'Depends On': 'glibc',
      });
      run('bsdtar', [pkgext.endsWith('zst') ? '--zstd' : '--xz', '-tf', file]);

      const binary = await extract(file, 'usr/bin/hello', path.join(work, `x-${arch}${pkgext}`));
      expect(run('file', ['-b', binary])).toMatch(elfClass);
      expect(run(binary, [])).toBe('Hello from arch-core\n');

      // The app record beside the package, for make-chroot.
      const record = JSON.parse(await fs.readFile(`${file}.arch-core.json`, 'utf8')) as AppInfo;
      expect(record).toMatchObject({
        name: 'hello',
        version,
        vcs: 'hg',
        revision: rev(),
        hash: hash(),
      });
      expect(record.commitTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      // The generated .SRCINFO names the checkout, with the version built.
      const srcinfo = await fs.readFile(path.join(out, 'hello.SRCINFO'), 'utf8');
      expect(srcinfo).toContain(`\tpkgver = 1.2.r${rev()}.${hash()}\n`);
      expect(srcinfo).toContain(`\tsource = hello::hg+file://${hello}\n`);
      expect(srcinfo).toContain(`\tarch = i686\n`);

      // The summary table: name, version, arch, size, sha256, depends.
      expect(result.summary).toContain(await sha256File(file));
      for (const header of ['name', 'version', 'arch', 'size', 'sha256', 'depends']) {
        expect(result.summary).toContain(`<th>${header}</th>`);
      }
      // The checkout is untouched, the build directory gone.
      expect(await snapshot(hello)).toEqual(before);
      expect(run('hg', ['status'], hello)).toBe('');
      expect(
        (await fs.readdir(runnerTemp)).filter((name) => name.startsWith('arch-core-build')),
      ).toEqual([]);
    },
    120_000,
  );

  test('into a pacman repository; the deprecated upload-artifact only warns', async () => {
    const repo = path.join(work, 'repo');
    const result = await build({
      path: hello,
      repo,
      'repo-name': 'apps',
      'upload-artifact': 'packages',
    });
    expect(result.code).toBe(0);
    const file = result.outputs.packages as string;
    expect(path.dirname(file)).toBe(repo);
    expect(result.outputs['repo-db']).toBe(path.join(repo, 'apps.db.tar.gz'));
    const db = run('bsdtar', ['-tf', path.join(repo, 'apps.db.tar.gz')]);
    expect(db).toContain(`hello-${result.outputs.version}/desc`);
    await expect(fs.access(`${file}.arch-core.json`)).resolves.toBeUndefined();
    expect(result.log).toMatch(
      /^::warning::upload-artifact is deprecated and ignored: "packages" was not uploaded\..*%0A {2}- uses: actions\/upload-artifact@v4%0A/m,
    );
  }, 120_000);
});

describe('other PKGBUILD shapes', () => {
  test('no pkgver(), reads $startdir, in git with a v-tag: the version comes from git', async () => {
    const dir = await gitRepo(
      path.join(FIXTURES, 'startdir-app'),
      path.join(work, 'startdir'),
      'v2.0',
    );
    const before = await snapshot(dir);
    const out = path.join(work, 'out-startdir');
    const result = await build({ path: dir, 'output-dir': out, pkgext: '.pkg.tar.zst' });
    expect(errorLines(result.log)).toEqual([]);
    const hash = run('git', ['rev-parse', '--short', 'HEAD'], dir).trim();
    expect(result.outputs.version).toBe(`2.0.r1.${hash}-1`);
    expect(result.outputs.revision).toBe('1');
    expect(pacmanInfo(result.outputs.packages as string).Version).toBe(`2.0.r1.${hash}-1`);
    // The user's PKGBUILD still says 0.1: makepkg ran on a copy.
    expect(await fs.readFile(path.join(dir, 'PKGBUILD'), 'utf8')).toMatch(/^pkgver=0\.1$/m);
    expect(await snapshot(dir)).toEqual(before);
    expect(run('git', ['status', '--porcelain'], dir)).toBe('');
  }, 120_000);

  test('a committed .SRCINFO is checked against makepkg --printsrcinfo', async () => {
    const dir = await gitRepo(path.join(FIXTURES, 'startdir-app'), path.join(work, 'srcinfo'));
    const first = await build({ path: dir, 'output-dir': path.join(work, 'out-srcinfo-1') });
    expect(first.code).toBe(0);
    await fs.copyFile(first.outputs.srcinfo as string, path.join(dir, '.SRCINFO'));
    run('git', ['add', '.SRCINFO'], dir);
    run('git', ['commit', '-q', '-m', 'srcinfo'], dir);
    // Its pkgver is one commit behind: the VCS sets it, so that line is not compared.
    const second = await build({ path: dir, 'output-dir': path.join(work, 'out-srcinfo-2') });
    expect(errorLines(second.log)).toEqual([]);
    expect(second.log).toContain('.SRCINFO matches makepkg --printsrcinfo');
  }, 120_000);

  test('git+file://$startdir source with its own pkgver(), arch any, epoch', async () => {
    const dir = await gitRepo(path.join(FIXTURES, 'gitsrc-app'), path.join(work, 'gitsrc'));
    const out = path.join(work, 'out-gitsrc');
    const result = await build({ path: dir, 'output-dir': out });
    expect(errorLines(result.log)).toEqual([]);
    const hash = run('git', ['rev-parse', '--short', 'HEAD'], dir).trim();
    // makepkg resets pkgrel to 1 when pkgver() changes the version.
    expect(result.outputs).toMatchObject({
      version: `1:r1.${hash}-1`,
      pkgver: `r1.${hash}`,
      revision: '1',
      hash,
    });
    const file = result.outputs.packages as string;
    expect(path.basename(file)).toBe(`gitsrc-app-1:r1.${hash}-1-any.pkg.tar.xz`);
    expect(pacmanInfo(file)).toMatchObject({
      Architecture: 'any',
      'Depends On': 'bash  coreutils>=9',
    });
  }, 120_000);

  test('vcs none keeps the PKGBUILD version; a missing build user is created', async () => {
    const dir = path.join(work, 'plain');
    await fs.cp(path.join(FIXTURES, 'startdir-app'), dir, { recursive: true });
    const user = `acbt${process.pid % 100000}`;
    try {
      const result = await build({
        path: dir,
        vcs: 'none',
        'build-user': user,
        'output-dir': path.join(work, 'out-plain'),
      });
      expect(errorLines(result.log)).toEqual([]);
      expect(result.outputs).toMatchObject({ version: '0.1-1', revision: '', hash: '' });
      expect(result.log).toContain(`Created the build user "${user}"`);
      expect(run('getent', ['passwd', user])).toMatch(new RegExp(`^${user}:`));
      const record = JSON.parse(
        await fs.readFile(`${result.outputs.packages}.arch-core.json`, 'utf8'),
      ) as AppInfo;
      expect(record).toEqual({ name: 'startdir-app', version: '0.1-1', vcs: 'none' });
    } finally {
      try {
        run('userdel', [user]);
      } catch {
        // not created
      }
    }
  }, 120_000);
});

test('i686 on the x86_64 host: the setarch i686 personality and a 32-bit compiler', async () => {
  const dir = path.join(work, 'uname-host');
  await fs.cp(path.join(FIXTURES, 'uname-app'), dir, { recursive: true });
  const result = await build({
    path: dir,
    vcs: 'none',
    'output-dir': path.join(work, 'out-uname'),
  });
  expect(errorLines(result.log)).toEqual([]);
  expect(result.log).toMatch(
    /\[command\]setarch i686 runuser -u builder -- env .*CARCH=i686 makepkg --config \S+makepkg-i686.conf /,
  );
  const file = result.outputs.packages as string;
  expect(pacmanInfo(file).Architecture).toBe('i686');
  const x = path.join(work, 'x-uname');
  await fs.mkdir(x);
  run('bsdtar', ['-xf', file, '-C', x]);
  expect(await fs.readFile(path.join(x, 'usr/share/uname-app/machine'), 'utf8')).toBe('i686\n');
  expect(await fs.readFile(path.join(x, 'usr/share/uname-app/user'), 'utf8')).toBe('builder\n');
  expect(run('file', ['-b', path.join(x, 'usr/bin/uname-app')])).toMatch(
    /ELF 32-bit .*Intel 80386/,
  );
}, 120_000);

test('not as root: makepkg runs as the invoking user', async () => {
  // The bundle run by the unprivileged user "builder" (made by the builds above), with the
  // runner's files it can write, and every input with its action.yml default as the runner
  // hands them over.
  const dir = path.join(work, 'unprivileged');
  await fs.mkdir(dir);
  const app = await hgRepo(EXAMPLE_APP, path.join(dir, 'hello'));
  const outputFile = path.join(dir, 'output');
  await fs.writeFile(outputFile, '');
  run('chown', ['-R', 'builder:', dir]);
  const inputs = actionInputs('build-package', {
    path: app,
    'output-dir': path.join(dir, 'out'),
    pkgext: '.pkg.tar.zst',
    'build-user': 'builder',
    'repo-name': 'arch-core',
  });
  const env = [
    `HOME=${dir}`,
    `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
    `GITHUB_OUTPUT=${outputFile}`,
    `RUNNER_TEMP=${dir}`,
    ...Object.entries(inputs).map(([name, value]) => `INPUT_${name.toUpperCase()}=${value}`),
  ];
  const bundle = await bundleCopyIn('build-package', dir);
  const node = await bundleNodeIn(dir);
  const log = run('runuser', ['-u', 'builder', '--', 'env', '-i', ...env, node, bundle]);
  expect(log).toContain('Not running as root: makepkg runs as this user');
  const outputs = parseOutputFile(await fs.readFile(outputFile, 'utf8'));
  const file = outputs.packages as string;
  expect(path.basename(file)).toMatch(/^hello-r0\.[0-9a-f]{12}-1-x86_64\.pkg\.tar\.zst$/);
  expect((await fs.stat(file)).uid).toBe(Number(run('id', ['-u', 'builder']).trim()));
  expect(pacmanInfo(file).Name).toBe('hello');
}, 120_000);

describe('the generated .SRCINFO', () => {
  test.each([
    ['startdir-app', 'none'],
    ['gitsrc-app', 'git'],
    ['uname-app', 'none'],
  ])(
    '%s equals makepkg --printsrcinfo in the checkout',
    async (fixture, vcs) => {
      const dir = path.join(work, `srcinfo-${fixture}`);
      if (vcs === 'git') await gitRepo(path.join(FIXTURES, fixture), dir);
      else await fs.cp(path.join(FIXTURES, fixture), dir, { recursive: true });
      const result = await build({
        path: dir,
        vcs,
        arch: fixture === 'uname-app' ? 'i686' : 'auto',
        'output-dir': path.join(work, `out-srcinfo-${fixture}`),
      });
      expect(errorLines(result.log)).toEqual([]);
      const generated = await fs.readFile(result.outputs.srcinfo as string, 'utf8');
      // The reference: makepkg itself, as the build user, in a copy of the checkout it owns
      // (paths mapped back), with the version that the build reached. The action made the
      // build user "builder" (its default) in the first build.
      const copy = path.join(work, `srcinfo-ref-${fixture}`);
      await fs.cp(dir, copy, { recursive: true });
      run('chown', ['-R', 'builder:', copy]);
      const reference = run(
        'runuser',
        ['-u', 'builder', '--', 'env', `HOME=${copy}`, 'makepkg', '--printsrcinfo'],
        copy,
      )
        .split(copy)
        .join(dir);
      expect(generated).toBe(vcs === 'none' ? reference : withVersionOf(reference, generated));
      expect(generated).toMatch(/^pkgbase = /);
    },
    120_000,
  );
});
