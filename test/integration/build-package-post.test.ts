import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { cancelWhenLogged, errorLines, runBundle } from '../helpers/bundle.js';
import { FIXTURES, packageFilesIn } from '../helpers/build-package-repos.js';
import { i686BuildRoot, mountsUnder } from '../helpers/i686-root.js';

// build-package's post step: a build cancelled (SIGINT, as the runner cancels) while makepkg runs
// inside the i686 build root (test/helpers/i686-root.ts) leaves proc, dev and sys mounted there
// and the build directory behind; the post step unmounts and removes them.

let work: string;
let root: string;

beforeAll(async () => {
  root = await i686BuildRoot((line) => console.log(line));
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-post-'));
}, 900_000);
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** The processes whose root directory is the build root (a build still running in it). */
async function processesInRoot(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await fs.readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const link = await fs.readlink(`/proc/${pid}/root`).catch(() => '');
    if (link === root) found.push(pid);
  }
  return found;
}

test('cancelled during makepkg in the build root: no mount, no build copy, nothing running', async () => {
  const dir = path.join(work, 'sleeper');
  await fs.cp(path.join(FIXTURES, 'uname-app'), dir, { recursive: true });
  const text = await fs.readFile(path.join(dir, 'PKGBUILD'), 'utf8');
  // Prints "building-42" (not the text of the PKGBUILD), then holds the build root.
  await fs.writeFile(
    path.join(dir, 'PKGBUILD'),
    text.replace('\tuname -m > machine\n', '\techo "building-$((6 * 7))"; sleep 120\n'),
  );
  const out = path.join(work, 'out');
  expect(await mountsUnder(root)).toEqual([]);
  const started = Date.now();
  const result = await runBundle(
    'build-package',
    { path: dir, vcs: 'none', 'build-root': root, 'output-dir': out },
    {},
    cancelWhenLogged(/building-42/),
  );
  expect(Date.now() - started).toBeLessThan(60_000); // not the 120 s of the sleep
  expect(result.cancelledWith).toBe('SIGINT');
  expect(result.code).toBe(130);
  expect(result.log).toContain(`mounted ${root}/sys`);
  expect(result.log).toContain('Cancelled (SIGINT)');
  expect(result.post?.code).toBe(0);
  expect(errorLines(result.post?.log ?? '')).toEqual([]);
  expect(result.post?.log).toContain(`build-package post: still mounted in ${root}:`);
  expect(result.post?.log).toMatch(/build-package post: removing the build directory \S+/);
  expect(result.post?.log).toContain('nothing the build held is left');
  expect(
    (await fs.readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .filter((line) => line.includes(` ${root}/`)),
  ).toEqual([]);
  expect(
    (await fs.readdir(path.join(root, 'tmp'))).filter((name) => name.startsWith('arch-core-build')),
  ).toEqual([]);
  expect(await processesInRoot()).toEqual([]);
  expect(await packageFilesIn(out)).toEqual([]);
}, 300_000);

test('cancelled during makepkg on the host: the post step removes the build copy', async () => {
  const dir = path.join(work, 'host-sleeper');
  await fs.cp(path.join(FIXTURES, 'uname-app'), dir, { recursive: true });
  const text = await fs.readFile(path.join(dir, 'PKGBUILD'), 'utf8');
  await fs.writeFile(
    path.join(dir, 'PKGBUILD'),
    text
      .replace("arch=('i686')", "arch=('any')")
      .replace('\tuname -m > machine\n', '\techo "building-$((6 * 7))"; sleep 120\n'),
  );
  // Where the build user can reach it (work is mkdtemp's 0700), so the build copy goes there.
  const runnerTemp = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-post-temp-'));
  await fs.chmod(runnerTemp, 0o755);
  const result = await runBundle(
    'build-package',
    { path: dir, vcs: 'none', 'output-dir': path.join(work, 'host-out') },
    { RUNNER_TEMP: runnerTemp },
    cancelWhenLogged(/building-42/),
  );
  expect(result.code).toBe(130);
  expect(result.post?.code).toBe(0);
  expect(errorLines(result.post?.log ?? '')).toEqual([]);
  expect(result.post?.log).not.toContain('still mounted');
  expect(result.post?.log).toContain(`removing the build directory ${runnerTemp}/arch-core-build-`);
  const left = (await fs.readdir(runnerTemp)).filter((name) => name.startsWith('arch-core-build'));
  await fs.rm(runnerTemp, { recursive: true, force: true });
  expect(left).toEqual([]);
}, 300_000);

test('SIGTERM during makepkg on the host, then a rerun: it builds, nothing of the first is left', async () => {
  const dir = path.join(work, 'term-sleeper');
  await fs.cp(path.join(FIXTURES, 'uname-app'), dir, { recursive: true });
  const pkgbuild = path.join(dir, 'PKGBUILD');
  const text = (await fs.readFile(pkgbuild, 'utf8')).replace("arch=('i686')", "arch=('any')");
  await fs.writeFile(
    pkgbuild,
    text.replace('\tuname -m > machine\n', '\techo "building-$((6 * 7))"; sleep 120\n'),
  );
  const runnerTemp = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-term-temp-'));
  await fs.chmod(runnerTemp, 0o755);
  const out = path.join(work, 'term-out');
  try {
    const inputs = { path: dir, vcs: 'none', 'output-dir': out };
    const killed = await runBundle(
      'build-package',
      inputs,
      { RUNNER_TEMP: runnerTemp },
      cancelWhenLogged(/building-42/, 'SIGTERM'),
    );
    expect(killed.cancelledWith).toBe('SIGTERM');
    expect(killed.code).not.toBe(0);
    expect(killed.post?.code).toBe(0);
    expect(await packageFilesIn(out)).toEqual([]);

    await fs.writeFile(pkgbuild, text);
    const rerun = await runBundle('build-package', inputs, { RUNNER_TEMP: runnerTemp });
    expect(errorLines(rerun.log)).toEqual([]);
    expect(rerun.code).toBe(0);
    expect(await packageFilesIn(out)).toEqual(['uname-app-0.1-1-any.pkg.tar.xz']);
    // In the output only the package, its record and the .SRCINFO; no build copy anywhere.
    expect((await fs.readdir(out)).filter((name) => name.startsWith('.'))).toEqual([]);
    expect((await fs.readdir(runnerTemp)).filter((name) => name.startsWith('arch-core-'))).toEqual(
      [],
    );
  } finally {
    await fs.rm(runnerTemp, { recursive: true, force: true });
  }
}, 300_000);
