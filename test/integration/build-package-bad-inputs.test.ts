import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorLines, runBundle } from '../helpers/bundle.js';
import {
  EXAMPLE_APP,
  FIXTURES,
  gitRepo,
  hgRepo,
  packageFilesIn,
} from '../helpers/build-package-repos.js';

// Every bad input of the issue, through the bundle: exit code 1, one error line that says what
// is wrong, no package file left behind (and no build directory either).

let work: string;
let runnerTemp: string;
let hello: string;
let counter = 0;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-bad-'));
  runnerTemp = path.join(work, 'runner-temp');
  await fs.mkdir(runnerTemp);
  hello = await hgRepo(EXAMPLE_APP, path.join(work, 'hello'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Runs the bundle with an output dir and a repo of its own; checks the common guarantees. */
async function fails(
  inputs: Record<string, string>,
  env: NodeJS.ProcessEnv = {},
): Promise<{ error: string; log: string }> {
  const out = path.join(work, `out-${++counter}`);
  const repo = path.join(work, `repo-${counter}`);
  const result = await runBundle(
    'build-package',
    { 'output-dir': out, repo, ...inputs },
    { RUNNER_TEMP: runnerTemp, ...env },
  );
  expect(result.code).toBe(1);
  const errors = errorLines(result.log);
  expect(errors).toHaveLength(1);
  expect(result.log).not.toMatch(/^\s+at .*\.js:\d+/m); // no stack trace
  expect(await packageFilesIn(out)).toEqual([]);
  expect(await packageFilesIn(repo)).toEqual([]);
  expect(result.outputs).toEqual({});
  expect(
    (await fs.readdir(runnerTemp)).filter((name) => name.startsWith('arch-core-build')),
  ).toEqual([]);
  return { error: errors[0] as string, log: result.log };
}

/** A directory with the example app whose PKGBUILD is replaced by `text`, in an hg repo. */
async function appWith(name: string, pkgbuild: string): Promise<string> {
  const dir = path.join(work, name);
  await fs.cp(EXAMPLE_APP, dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'PKGBUILD'), pkgbuild);
  return dir;
}

test('no PKGBUILD at path', async () => {
  const empty = path.join(work, 'empty');
  await fs.mkdir(empty);
  const { error } = await fails({ path: empty });
  expect(error).toBe(`Input "path": there is no PKGBUILD in ${empty}.`);
});

test('a PKGBUILD with a bash syntax error: an annotation at its file and line', async () => {
  const text = (await fs.readFile(path.join(EXAMPLE_APP, 'PKGBUILD'), 'utf8')).replace(
    'build() {\n',
    'build() {\n\tif [[ -n $x ]]; then\n',
  );
  const dir = await appWith('syntax', text);
  const line = text.split('\n').length; // bash reports the unexpected end at the last line
  const { log } = await fails({ path: dir, vcs: 'none' });
  const raw = log.split('\n').find((entry) => entry.startsWith('::error')) as string;
  expect(raw).toMatch(
    new RegExp(
      `^::error title=PKGBUILD syntax error,file=${path.join(dir, 'PKGBUILD')},line=\\d+::`,
    ),
  );
  const reported = Number(/line=(\d+)/.exec(raw)?.[1]);
  expect(reported).toBeGreaterThan(30);
  expect(reported).toBeLessThanOrEqual(line);
  expect(raw).toMatch(/syntax error/);
});

test('a syntax error names the exact line, the file relative to the workspace', async () => {
  const dir = await appWith(
    'syntax-line',
    'pkgname=x\npkgver=1\npkgrel=1\narch=(any)\nfoo() { ) }\n',
  );
  const { error, log } = await fails({ path: dir, vcs: 'none' }, { GITHUB_WORKSPACE: work });
  expect(log).toMatch(/^::error title=PKGBUILD syntax error,file=syntax-line\/PKGBUILD,line=5::/m);
  expect(error).toMatch(/PKGBUILD line 5: syntax error near unexpected token/);
});

test('vcs: hg where there is no Mercurial repository', async () => {
  const dir = await gitRepo(EXAMPLE_APP, path.join(work, 'git-only'));
  const { error } = await fails({ path: dir, vcs: 'hg' });
  expect(error).toBe(`Input "vcs": hg was asked for, but ${dir} is not in a Mercurial repository.`);
});

test.each([
  ['arch', 'arm', 'Input "arch": "arm" is not one of auto, i686, x86_64, any.'],
  [
    'pkgext',
    '.pkg.tar.gz',
    'Input "pkgext": ".pkg.tar.gz" is not one of .pkg.tar.xz, .pkg.tar.zst.',
  ],
  ['vcs', 'svn', 'Input "vcs": "svn" is not one of auto, hg, git, none.'],
  [
    'repo-name',
    'local',
    /^Input "repo-name": "local": the repository name "local" is reserved by pacman/,
  ],
  ['build-user', 'root', /^Input "build-user": makepkg refuses to run as root/],
  ['makepkg-args', '--printsrcinfo', /^Input "makepkg-args": "--printsrcinfo" cannot be given/],
  [
    'makepkg-args',
    '--nocheck --printsrcinfo',
    /^Input "makepkg-args": "--printsrcinfo" cannot be given/,
  ],
  [
    'makepkg-args',
    "--nocheck\n--holdver 'unclosed",
    `Input "makepkg-args": the ' opened on line 2 (--holdver 'unclosed) is never closed; close it, or write \\' for the character itself.`,
  ],
])('%s: %s', async (input, value, message) => {
  const { error } = await fails({ path: hello, [input]: value });
  if (typeof message === 'string') expect(error).toBe(message);
  else expect(error).toMatch(message);
});

test('arch any for a PKGBUILD that is not arch=(any)', async () => {
  const { error } = await fails({ path: hello, arch: 'any' });
  expect(error).toMatch(/^Input "arch": any needs a PKGBUILD with arch=\('any'\)/);
});

test('a failing build: the last lines of its log in the error, the whole log in a group', async () => {
  const text = (await fs.readFile(path.join(EXAMPLE_APP, 'PKGBUILD'), 'utf8')).replace(
    '\tmake\n',
    '\tfor step in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo "build step $step"; done\n\techo "the compiler exploded" >&2\n\tfalse\n',
  );
  const dir = await hgRepo(EXAMPLE_APP, path.join(work, 'failing'));
  await fs.writeFile(path.join(dir, 'PKGBUILD'), text);
  const { error, log } = await fails({ path: dir, vcs: 'hg' });
  const message = error.split('%0A');
  expect(message[0]).toMatch(/^The build of hello failed \(makepkg exited with code \d+\)/);
  expect(error).toContain('the compiler exploded');
  expect(error).toContain('build step 20');
  expect(error).not.toContain('build step 1%0A'); // only the tail
  const group = log.slice(log.indexOf('::group::makepkg: hello'));
  expect(group).toContain('build step 1\n');
  expect(group).toContain('build step 20\n');
  expect(group.indexOf('::endgroup::')).toBeGreaterThan(group.indexOf('the compiler exploded'));
}, 120_000);

test('a stale committed .SRCINFO: the first differing line is named', async () => {
  const dir = path.join(work, 'stale');
  await fs.cp(path.join(FIXTURES, 'startdir-app'), dir, { recursive: true });
  const srcinfo = [
    'pkgbase = startdir-app',
    '\tpkgdesc = arch-core test app built from $startdir',
    '\tpkgver = 0.1',
    '\tpkgrel = 1',
    '\tarch = x86_64',
    '\tarch = i686',
    '\tlicense = MIT',
    '\tdepends = glibc',
    '\tdepends = bash',
    '',
    'pkgname = startdir-app',
    '',
  ].join('\n');
  await fs.writeFile(path.join(dir, '.SRCINFO'), srcinfo);
  const { error, log } = await fails({ path: dir, vcs: 'none' });
  expect(error).toBe(
    `${dir}/.SRCINFO differs from makepkg --printsrcinfo at line 9: it has "depends = bash", the PKGBUILD gives (a blank line). Regenerate it with makepkg --printsrcinfo > .SRCINFO.`,
  );
  expect(log).toMatch(/^::error title=.SRCINFO is stale,file=[^,]*\.SRCINFO,line=9::/m);
});
