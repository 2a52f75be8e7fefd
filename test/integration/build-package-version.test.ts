import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectVcs, vcsPkgver } from '../../actions/build-package/src/version.js';
import { EXAMPLE_APP, gitRepo, hgRepo, run } from '../helpers/build-package-repos.js';

// Version computation against real Mercurial and git repositories made here.

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'bp-version-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('Mercurial', () => {
  test.each([
    ['no tag', undefined, (rev: string, hash: string) => `r${rev}.${hash}`],
    ['a tag', '1.2', (rev: string, hash: string) => `1.2.r${rev}.${hash}`],
    ['a v-prefixed tag', 'v1.3', (rev: string, hash: string) => `1.3.r${rev}.${hash}`],
    ['a tag with a hyphen', 'v2.0-rc1', (rev: string, hash: string) => `2.0.rc1.r${rev}.${hash}`],
  ])('%s', async (_what, tag, expected) => {
    const dir = await hgRepo(EXAMPLE_APP, path.join(work, `hg-${tag ?? 'none'}`), tag);
    const facts = await detectVcs(path.join(dir), 'auto');
    const rev = run('hg', ['id', '-n'], dir).trim();
    const hash = run('hg', ['id', '-i'], dir).trim();
    const node = run('hg', ['log', '-r', '.', '--template', '{node}'], dir).trim();
    expect(facts).toMatchObject({ vcs: 'hg', root: dir, revision: rev, hash, commit: node });
    expect(hash).toMatch(/^[0-9a-f]{12}$/);
    expect(node).toMatch(/^[0-9a-f]{40}$/);
    expect(vcsPkgver(facts!)).toBe(expected(rev, hash));
    expect(facts!.commitTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Math.abs(Date.parse(facts!.commitTime) - Date.now())).toBeLessThan(120_000);
    // The example PKGBUILD's own pkgver() gives the same version (run as makepkg would).
    const srcdir = path.join(work, `src-${tag ?? 'none'}`);
    await fs.mkdir(srcdir);
    await fs.symlink(dir, path.join(srcdir, 'hello'));
    const own = run(
      'bash',
      ['-c', 'source "$1/PKGBUILD"; srcdir=$2; pkgver', 'bash', dir, srcdir],
      dir,
    ).trim();
    expect(own).toBe(expected(rev, hash));
  });

  test('the revision is the working directory parent', async () => {
    const dir = await hgRepo(EXAMPLE_APP, path.join(work, 'hg-parent'), 'v1.0');
    await fs.appendFile(path.join(dir, 'hello.c'), '/* more */\n');
    run('hg', ['commit', '-q', '-m', 'second'], dir);
    run('hg', ['update', '-q', '-r', '0'], dir);
    const facts = await detectVcs(dir, 'hg');
    expect(facts?.revision).toBe('0');
    expect(facts?.tag).toBe('v1.0'); // rev 0 is the tagged one
    expect(vcsPkgver(facts!)).toBe(`1.0.r0.${run('hg', ['id', '-i'], dir).trim()}`);
  });

  test('the default path is the source, without credentials', async () => {
    const dir = await hgRepo(EXAMPLE_APP, path.join(work, 'hg-source'));
    await fs.appendFile(
      path.join(dir, '.hg/hgrc'),
      '[paths]\ndefault = https://someone:secret@example.invalid/hello\n',
    );
    expect((await detectVcs(dir, 'auto'))?.source).toBe('https://example.invalid/hello');
  });
});

describe('git', () => {
  test.each([
    ['no tag', undefined, (rev: string, hash: string) => `r${rev}.${hash}`],
    ['a tag', '1.2', (rev: string, hash: string) => `1.2.r${rev}.${hash}`],
    ['a v-prefixed tag', 'v1.3', (rev: string, hash: string) => `1.3.r${rev}.${hash}`],
  ])('%s', async (_what, tag, expected) => {
    const dir = await gitRepo(EXAMPLE_APP, path.join(work, `git-${tag ?? 'none'}`), tag);
    await fs.appendFile(path.join(dir, 'hello.c'), '/* more */\n');
    run('git', ['commit', '-q', '-am', 'second'], dir);
    const facts = await detectVcs(dir, 'git');
    const count = run('git', ['rev-list', '--count', 'HEAD'], dir).trim();
    const hash = run('git', ['rev-parse', '--short', 'HEAD'], dir).trim();
    expect(count).toBe('2');
    const commit = run('git', ['rev-parse', 'HEAD'], dir).trim();
    expect(facts).toMatchObject({ vcs: 'git', root: dir, revision: count, hash, commit });
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(vcsPkgver(facts!)).toBe(expected(count, hash));
  });
});

test('a shallow git clone is recognised (its count is not the whole history)', async () => {
  const full = await gitRepo(EXAMPLE_APP, path.join(work, 'git-full'));
  await fs.appendFile(path.join(full, 'hello.c'), '/* more */\n');
  run('git', ['commit', '-q', '-am', 'second'], full);
  const shallow = path.join(work, 'git-shallow');
  run('git', ['clone', '-q', '--depth', '1', `file://${full}`, shallow]);
  expect(await detectVcs(full, 'git')).toMatchObject({ revision: '2', shallow: false });
  expect(await detectVcs(shallow, 'git')).toMatchObject({ revision: '1', shallow: true });
});

describe('which repository', () => {
  test('auto takes the nearest: an hg repository inside a git one', async () => {
    const outer = await gitRepo(EXAMPLE_APP, path.join(work, 'outer'));
    const inner = await hgRepo(EXAMPLE_APP, path.join(outer, 'inner'));
    expect((await detectVcs(inner, 'auto'))?.vcs).toBe('hg');
    expect((await detectVcs(outer, 'auto'))?.vcs).toBe('git');
    expect((await detectVcs(inner, 'git'))?.root).toBe(outer);
  });

  test('none takes none; hg/git outside a repository are refused', async () => {
    const plain = path.join(work, 'plain');
    await fs.cp(EXAMPLE_APP, plain, { recursive: true });
    expect(await detectVcs(plain, 'auto')).toBeUndefined();
    expect(await detectVcs(plain, 'none')).toBeUndefined();
    await expect(detectVcs(plain, 'hg')).rejects.toThrow(
      `Input "vcs": hg was asked for, but ${plain} is not in a Mercurial repository.`,
    );
    await expect(detectVcs(plain, 'git')).rejects.toThrow(/^Input "vcs": git was asked for/);
  });
});
