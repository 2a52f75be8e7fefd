import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { runActionLocally } from '../../actions/cli/src/local-runner.js';
import {
  checkMjs,
  gitIn,
  mainTs,
  makeBareMirror,
  makeMonorepo,
  FIXTURE_README,
  type Monorepo,
} from '../helpers/release-fixture.js';

// scripts/release.ts against local bare git repositories: a fixture monorepo (the real release
// and build scripts, the real core, one small action bundled with the real ncc) releases to an
// empty bare mirror. The steps build on each other, in order: 1.0.0, a refused re-release, a
// refused stale bundle, 1.1.0, refused failing tests, a patch to the older line, 2.0.0.

jest.setTimeout(180_000);

let repo: Monorepo;
let mirror: string;
const scratch: string[] = [];

const tagsOf = (dir: string) => gitIn(dir, 'tag', '--list').split('\n').filter(Boolean).sort();
const commitOf = (dir: string, ref: string) => gitIn(dir, 'rev-parse', `${ref}^{commit}`);

function checkout(ref: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-release-checkout-'));
  scratch.push(dir);
  execFileSync('git', ['clone', '--quiet', '--branch', ref, mirror, dir], { stdio: 'pipe' });
  return dir;
}

beforeAll(() => {
  repo = makeMonorepo();
  mirror = makeBareMirror('greet');
});

afterAll(() => {
  for (const dir of [repo?.dir, mirror && path.dirname(mirror), ...scratch]) {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('release to a mirror repository', () => {
  let firstRelease = '';

  test('1.0.0: the mirror gets the action tree, an annotated v1.0.0 and v1', () => {
    const { code, output } = repo.release(['greet', '1.0.0', '--mirror', mirror]);
    expect(output).toContain('greet test passed'); // the fixture's npm test ran
    expect(code).toBe(0);
    expect(tagsOf(mirror)).toEqual(['v1', 'v1.0.0']);
    expect(gitIn(mirror, 'cat-file', '-t', 'v1.0.0')).toBe('tag');
    expect(gitIn(mirror, 'cat-file', '-t', 'v1')).toBe('tag');
    firstRelease = commitOf(mirror, 'v1.0.0');
    expect(commitOf(mirror, 'v1')).toBe(firstRelease);
    expect(commitOf(mirror, 'main')).toBe(firstRelease);

    const files = gitIn(mirror, 'ls-tree', '-r', '--name-only', 'v1.0.0').split('\n');
    const bundle = fs.readdirSync(path.join(repo.dir, 'dist', 'greet')).map((f) => `dist/${f}`);
    expect(files.sort()).toEqual(
      ['CHANGELOG.md', 'LICENSE', 'README.md', 'action.yml', ...bundle].sort(),
    );
    expect(bundle).toEqual(expect.arrayContaining(['dist/index.js', 'dist/package.json']));
    // The bundle files are the committed ones, byte for byte.
    for (const file of bundle) {
      expect(gitIn(mirror, 'show', `v1.0.0:${file}`)).toBe(
        gitIn(repo.dir, 'show', `HEAD:${file.replace(/^dist\//, 'dist/greet/')}`),
      );
    }
    const actionYml = parseYaml(gitIn(mirror, 'show', 'v1.0.0:action.yml')) as {
      runs: { main: string; using: string };
      inputs: Record<string, unknown>;
    };
    expect(actionYml.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
    expect(Object.keys(actionYml.inputs)).toEqual(['name']);
    expect(gitIn(mirror, 'show', 'v1.0.0:LICENSE')).toContain('arch-core developers');

    const monorepoCommit = repo.git('rev-parse', 'HEAD').trim();
    expect(gitIn(mirror, 'log', '-1', '--format=%B', 'v1.0.0')).toContain(monorepoCommit);
    expect(gitIn(mirror, 'cat-file', '-p', 'v1.0.0')).toContain(monorepoCommit);
  });

  test('a plain clone of the mirror checks out main: HEAD was moved off master', () => {
    expect(gitIn(mirror, 'symbolic-ref', 'HEAD')).toBe('refs/heads/main');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-release-clone-'));
    scratch.push(dir);
    execFileSync('git', ['clone', '--quiet', mirror, path.join(dir, 'greet')], { stdio: 'pipe' });
    expect(fs.readdirSync(path.join(dir, 'greet')).sort()).toEqual(
      ['.git', 'CHANGELOG.md', 'LICENSE', 'README.md', 'action.yml', 'dist'].sort(),
    );
  });

  test('README links that leave the action folder point at the monorepo commit', () => {
    const commit = repo.git('rev-parse', 'HEAD').trim();
    const base = `https://github.com/arch-core/arch-core`;
    const expected = FIXTURE_README.replace(
      '../../workflows-examples/greet.yml#L3',
      `${base}/blob/${commit}/workflows-examples/greet.yml#L3`,
    )
      .replace('../core/src/', `${base}/tree/${commit}/actions/core/src`)
      .replace('../../docs/greet.png', `${base}/blob/${commit}/docs/greet.png`)
      .replace('../../docs/greet.md', `${base}/blob/${commit}/docs/greet.md`);
    expect(gitIn(mirror, 'show', 'v1.0.0:README.md')).toBe(expected.trim());
    expect(gitIn(mirror, 'show', 'v1.0.0:README.md')).not.toContain('](../');
  });

  test('the mirror, checked out at v1, works as an action', async () => {
    const dir = checkout('v1');
    const { runs } = parseYaml(fs.readFileSync(path.join(dir, 'action.yml'), 'utf8')) as {
      runs: { main: string };
    };
    expect(fs.existsSync(path.join(dir, runs.main))).toBe(true);
    // No bundle argument: runActionLocally runs what the mirror's action.yml names.
    const named = await runActionLocally({ actionDir: dir, inputs: { name: 'mirror' } });
    expect(named.code).toBe(0);
    expect(named.outputs).toEqual({ greeting: 'Hello, mirror!' });
    const byDefault = await runActionLocally({ actionDir: dir, inputs: {} });
    expect(byDefault.outputs.greeting).toBe('Hello, world!');
  });

  test('re-releasing 1.0.0 is refused and leaves every tag where it was', () => {
    const before = gitIn(mirror, 'show-ref');
    const { code, output } = repo.release(['greet', '1.0.0', '--mirror', mirror]);
    expect(code).toBe(1);
    expect(output).toMatch(
      /release: refused: .* already has v1\.0\.0; a published version is never rewritten/,
    );
    expect(output).not.toContain('greet test passed'); // refused before the tests
    expect(gitIn(mirror, 'show-ref')).toBe(before);
  });

  test('a stale bundle is refused', () => {
    repo.write('actions/greet/src/main.ts', mainTs('Howdy'));
    repo.write('test/check.mjs', checkMjs('Howdy'));
    repo.bump('1.1.0', 'says Howdy');
    repo.commit('greet: Howdy (bundle not rebuilt)');
    const before = gitIn(mirror, 'show-ref');
    const { code, output } = repo.release(['greet', '1.1.0', '--mirror', mirror]);
    expect(code).toBe(1);
    expect(output).toContain('release: refused: dist/greet is stale');
    expect(output).toContain('dist/greet/index.js');
    expect(gitIn(mirror, 'show-ref')).toBe(before);
    // The rebuilt bundle is left in the work tree, ready to commit.
    expect(repo.git('status', '--porcelain', '--', 'dist/greet')).toContain('index.js');
  });

  test('uncommitted sources are refused', () => {
    const { code, output } = repo.release(['greet', '1.1.0', '--mirror', mirror]);
    expect(code).toBe(1);
    expect(output).toContain('release: refused: uncommitted changes');
  });

  test('1.1.0 with the rebuilt bundle: v1 moves forward, v1.0.0 stays, main advances', async () => {
    repo.commit('dist: rebuilt greet');
    const { code, output } = repo.release([
      'greet',
      '1.1.0',
      '--mirror',
      mirror,
      '--source-url',
      'https://git.example.invalid/arch/monorepo.git',
    ]);
    expect(output).toContain('greet test passed');
    expect(code).toBe(0);
    expect(tagsOf(mirror)).toEqual(['v1', 'v1.0.0', 'v1.1.0']);
    expect(commitOf(mirror, 'v1.0.0')).toBe(firstRelease);
    const second = commitOf(mirror, 'v1.1.0');
    expect(commitOf(mirror, 'v1')).toBe(second);
    expect(commitOf(mirror, 'main')).toBe(second);
    expect(gitIn(mirror, 'rev-parse', `${second}^`)).toBe(firstRelease);
    const run = await runActionLocally({ actionDir: checkout('v1'), inputs: { name: 'again' } });
    expect(run.outputs.greeting).toBe('Howdy, again!');
    const commit = repo.git('rev-parse', 'HEAD').trim();
    expect(gitIn(mirror, 'show', 'v1.1.0:README.md')).toContain(
      `[the core library](https://git.example.invalid/arch/monorepo/tree/${commit}/actions/core/src)`,
    );
  });

  test('failing tests are refused', () => {
    repo.write('test/check.mjs', checkMjs('Good day')); // the bundle still says Howdy
    repo.bump('1.2.0', 'stricter test');
    repo.commit('test expects Good day');
    const before = gitIn(mirror, 'show-ref');
    const { code, output } = repo.release(['greet', '1.2.0', '--mirror', mirror]);
    expect(output).toContain('greet test failed');
    expect(code).toBe(1);
    expect(output).toContain('release: refused: the tests failed (npm test exited 1)');
    expect(gitIn(mirror, 'show-ref')).toBe(before);
  });

  test.each([
    [['greet', '1.3.0'], 'package.json says version 1.2.0, not 1.3.0'],
    [['greet', '1.2'], 'version "1.2" is not X.Y.Z'],
    [['nothing', '1.0.0'], 'there is no action "nothing"'],
  ])('%j is refused', (args, message) => {
    const { code, output } = repo.release([...args, '--mirror', mirror]);
    expect(code).toBe(1);
    expect(output).toContain(message);
  });

  test('a version without a CHANGELOG heading is refused', () => {
    repo.write(
      'actions/greet/package.json',
      repo.read('actions/greet/package.json').replace('1.2.0', '1.3.0'),
    );
    repo.commit('version 1.3.0 without a changelog entry');
    const { code, output } = repo.release(['greet', '1.3.0', '--mirror', mirror]);
    expect(code).toBe(1);
    expect(output).toContain('CHANGELOG.md has no "## 1.3.0" heading');
  });

  test('--skip-tests is refused outside the release tool self-test', () => {
    const { code, output } = repo.release(['greet', '1.2.0', '--mirror', mirror, '--skip-tests']);
    expect(code).toBe(1);
    expect(output).toContain('--skip-tests is only for the release tool');
  });

  test('a patch to an older line (1.0.1 after 1.1.0) leaves v1 and main alone', () => {
    repo.write('test/check.mjs', checkMjs('Howdy'));
    repo.bump('1.0.1', 'a fix for 1.0');
    repo.commit('1.0.1');
    const v1 = commitOf(mirror, 'v1');
    const main = commitOf(mirror, 'main');
    const { code, output } = repo.release(['greet', '1.0.1', '--mirror', mirror, '--skip-tests'], {
      ARCH_CORE_RELEASE_SELF_TEST: '1',
    });
    expect(code).toBe(0);
    expect(output).toContain('tests skipped');
    expect(tagsOf(mirror)).toContain('v1.0.1');
    expect(commitOf(mirror, 'v1')).toBe(v1);
    expect(commitOf(mirror, 'main')).toBe(main);
  });

  test('2.0.0 makes v2 and leaves v1; the mirror URL may come from ARCH_CORE_MIRROR_URL', () => {
    repo.bump('2.0.0', 'breaking');
    repo.commit('2.0.0');
    const v1 = commitOf(mirror, 'v1');
    const { code } = repo.release(['greet', '2.0.0', '--skip-tests'], {
      ARCH_CORE_RELEASE_SELF_TEST: '1',
      ARCH_CORE_MIRROR_URL: path.join(path.dirname(mirror), '{action}.git'),
    });
    expect(code).toBe(0);
    expect(tagsOf(mirror)).toEqual(['v1', 'v1.0.0', 'v1.0.1', 'v1.1.0', 'v2', 'v2.0.0']);
    expect(commitOf(mirror, 'v1')).toBe(v1);
    expect(commitOf(mirror, 'v2')).toBe(commitOf(mirror, 'v2.0.0'));
    expect(commitOf(mirror, 'main')).toBe(commitOf(mirror, 'v2.0.0'));
  });
});
