import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { pacmanInfo, run } from '../helpers/build-package-repos.js';
import { i686BuildRoot } from '../helpers/i686-root.js';

// makepkg, and so the PKGBUILD, sees an allow-listed environment only: a PKGBUILD that writes
// its environment into the package (from build() and package()) and, each time it is sourced
// (the action's own reading, the .SRCINFO, makepkg), into a directory the test gave it. None of
// the planted secrets may show up there; the allow-listed variables must.

const secret = `s3cret-${randomBytes(8).toString('hex')}`;
const PLANTED: NodeJS.ProcessEnv = {
  ACTIONS_RUNTIME_TOKEN: `runtime-${secret}`,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: `id-${secret}`,
  ACTIONS_ID_TOKEN_REQUEST_URL: `https://token.invalid/${secret}`,
  GITHUB_TOKEN: `gh-${secret}`,
  INPUT_PLANTED: `input-${secret}`,
  ARCH_CORE_RANDOM_VARIABLE: `random-${secret}`,
};
const ALLOWED: NodeJS.ProcessEnv = {
  SOURCE_DATE_EPOCH: '1700000000',
  MAKEFLAGS: '-j1',
  LC_MESSAGES: 'C',
  https_proxy: 'http://127.0.0.1:9',
  PACKAGER: 'Env Test <env@example.org>',
};

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-env-'));
  await fs.chmod(work, 0o755); // the build user writes into a directory below
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** A PKGBUILD dumping its environment; `sourcedDump` is where its top level appends it. */
function envPkgbuild(sourcedDump: string): string {
  return [
    'pkgname=env-app',
    'pkgver=1',
    'pkgrel=1',
    "pkgdesc='arch-core test app that records its environment'",
    "arch=('any')",
    "license=('MIT')",
    `env >> '${sourcedDump}'`,
    'build() { env > "$srcdir/build.env"; }',
    'package() {',
    '  install -Dm644 "$srcdir/build.env" "$pkgdir/usr/share/env-app/build.env"',
    '  env > "$pkgdir/usr/share/env-app/package.env"',
    '}',
    '',
  ].join('\n');
}

/** The variable names of `env` output (multi-line values' continuation lines dropped). */
function names(dump: string): Set<string> {
  return new Set(dump.split('\n').flatMap((line) => /^([A-Za-z_]\w*)=/.exec(line)?.[1] ?? []));
}

function expectContained(dump: string, where: string): void {
  const seen = names(dump);
  for (const name of Object.keys(PLANTED)) expect([where, seen.has(name)]).toEqual([where, false]);
  expect([where, [...seen].filter((name) => name.startsWith('INPUT_'))]).toEqual([where, []]);
  expect([where, dump.includes(secret)]).toEqual([where, false]);
  for (const [name, value] of Object.entries(ALLOWED)) {
    expect([where, dump]).toEqual([where, expect.stringContaining(`${name}=${value}\n`)]);
  }
}

async function buildAndCheck(dumpDir: string, dumpInBuild: string, inputs: Record<string, string>) {
  const dir = path.join(work, `app-${path.basename(dumpDir)}`);
  await fs.mkdir(dir);
  await fs.writeFile(
    path.join(dir, 'PKGBUILD'),
    envPkgbuild(path.join(dumpInBuild, 'sourced.env')),
  );
  const out = path.join(work, `out-${path.basename(dumpDir)}`);
  const result = await runBundle(
    'build-package',
    { path: dir, vcs: 'none', 'output-dir': out, ...inputs },
    { ...PLANTED, ...ALLOWED },
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  expect(result.log).not.toContain(secret);

  const file = result.outputs.packages as string;
  expect(pacmanInfo(file)).toMatchObject({ Packager: ALLOWED.PACKAGER });
  const extracted = path.join(work, `x-${path.basename(dumpDir)}`);
  await fs.mkdir(extracted);
  run('bsdtar', ['-xf', file, '-C', extracted]);
  const pkginfo = await fs.readFile(path.join(extracted, '.PKGINFO'), 'utf8');
  expect(pkginfo).toContain(`builddate = ${ALLOWED.SOURCE_DATE_EPOCH}\n`);
  for (const name of ['build.env', 'package.env']) {
    expectContained(
      await fs.readFile(path.join(extracted, 'usr/share/env-app', name), 'utf8'),
      name,
    );
  }
  const sourced = await fs.readFile(path.join(dumpDir, 'sourced.env'), 'utf8');
  // Sourced by the action's introspection, its .SRCINFO, and makepkg (once more under fakeroot).
  expect(sourced.match(/^PATH=/gm)?.length).toBeGreaterThanOrEqual(3);
  expectContained(sourced, 'sourced.env');
  return { build: await fs.readFile(path.join(extracted, 'usr/share/env-app/build.env'), 'utf8') };
}

describe('the build sees only the allow-listed environment', () => {
  test('on the host, as the build user', async () => {
    const dumpDir = path.join(work, 'host');
    await fs.mkdir(dumpDir, { mode: 0o777 });
    await fs.chmod(dumpDir, 0o777);
    const { build } = await buildAndCheck(dumpDir, dumpDir, {});
    expect(build).toMatch(/^HOME=.*\/arch-core-build[^/\n]*\/home$/m);
  }, 300_000);

  test('inside a build root', async () => {
    const root = await i686BuildRoot((line) => console.log(line));
    const inRoot = `/tmp/bp-env-${randomBytes(4).toString('hex')}`;
    const dumpDir = path.join(root, inRoot);
    await fs.mkdir(dumpDir, { mode: 0o777 });
    await fs.chmod(dumpDir, 0o777);
    try {
      const { build } = await buildAndCheck(dumpDir, inRoot, {
        'build-root': root,
        'build-user': 'rootbuilder',
        pkgext: '.pkg.tar.zst',
      });
      expect(build).toContain(
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n',
      );
    } finally {
      await fs.rm(dumpDir, { recursive: true, force: true });
    }
  }, 900_000);
});

test('an abbreviated reserved option is refused before anything is built', async () => {
  const dir = path.join(work, 'reserved');
  await fs.mkdir(dir);
  const dump = path.join(work, 'reserved-dump');
  await fs.mkdir(dump, { mode: 0o777 });
  await fs.chmod(dump, 0o777);
  await fs.writeFile(path.join(dir, 'PKGBUILD'), envPkgbuild(path.join(dump, 'sourced.env')));
  const evil = path.join(work, 'evil.conf');
  await fs.writeFile(evil, `touch '${path.join(dump, 'evil-sourced')}'\n`);
  for (const [args, message] of [
    [
      `--confi=${evil}`,
      `Input "makepkg-args": "--confi=${evil}" cannot be given: makepkg takes it as --config, which the action sets itself.`,
    ],
    [
      '-cfpPKGBUILD',
      'Input "makepkg-args": "-cfpPKGBUILD" cannot be given: makepkg takes it as -p, which the action sets itself.',
    ],
    [
      '--no',
      'Input "makepkg-args": "--no" is ambiguous to makepkg (--noarchive, --nobuild, --nocolor, --nocheck, --nodeps, --noextract, --noprepare, --nosign, --noconfirm, --noprogressbar); see makepkg --help for what it takes.',
    ],
  ]) {
    const out = path.join(work, 'reserved-out');
    const result = await runBundle('build-package', {
      path: dir,
      vcs: 'none',
      'output-dir': out,
      'makepkg-args': args as string,
    });
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([message]);
    expect(result.log).not.toMatch(/^\s+at .*\.js:\d+/m);
    await expect(fs.readdir(out)).rejects.toThrow(/ENOENT/);
  }
  // Nothing read the PKGBUILD or the configuration file.
  expect(await fs.readdir(dump)).toEqual([]);
}, 120_000);
