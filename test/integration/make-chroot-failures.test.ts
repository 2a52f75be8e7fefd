import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildFixtureRepo, type FixtureRepo } from '../helpers/arch-packages.js';
import { errorLines, runBundle } from '../helpers/bundle.js';

// Failures of make-chroot's bundle (real makepkg packages, real pacman): each says one clear
// line, exits 1 and leaves no root behind.
jest.setTimeout(240_000);

let work: string;
let runnerTemp: string;
let repo: FixtureRepo;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'make-chroot-failures-'));
  runnerTemp = path.join(work, 'runner-temp');
  await fs.mkdir(runnerTemp);
  repo = await buildFixtureRepo({
    dir: work,
    arch: 'x86_64',
    repoName: 'fixtures',
    packages: [
      { name: 'hello', program: { prints: 'hello' } },
      {
        name: 'scripted',
        depends: ['hello'],
        install: 'post_install() {\n  echo "configuring scripted"\n}\n',
        files: { 'etc/scripted.conf': 'x=1\n' },
      },
      { name: 'needy', depends: ['libnowhere>=2'], files: { 'usr/share/needy': 'n\n' } },
    ],
  });
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

function fixtures(): string {
  return `fixtures=${repo.repoDir}`;
}

async function expectFailure(
  inputs: Record<string, string>,
  message: RegExp,
): Promise<{ log: string; errors: string[] }> {
  const result = await runBundle('make-chroot', inputs, { RUNNER_TEMP: runnerTemp });
  const errors = errorLines(result.log);
  expect({ code: result.code, errors }).toEqual({
    code: 1,
    errors: [expect.stringMatching(message)],
  });
  expect(result.log).not.toMatch(/^\s+at /m); // no stack trace
  expect(result.outputs.root).toBeUndefined();
  return { log: result.log, errors };
}

async function leftovers(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter(
    (name) => name.includes('.tmp-') || name.startsWith('root'),
  );
}

describe('bad inputs: one clear line, exit 1, no root left', () => {
  test.each([
    [
      'unknown arch',
      { packages: 'hello', arch: 'armv7h' },
      /^Input "arch": "armv7h" is not one of i686, x86_64\.$/,
    ],
    [
      'unknown preset',
      { packages: 'hello', preset: 'desktop' },
      /^Input "preset": "desktop" is not one of minimal, base\.$/,
    ],
    [
      'a repos line without =',
      { packages: 'hello', repos: 'fixtures' },
      /^Input "repos": "fixtures" is not of the form name=location/,
    ],
    [
      'a repository named local',
      { packages: 'hello', repos: 'local=/srv/x' },
      /^Input "repos": "local=\/srv\/x": the repository name "local" is reserved by pacman/,
    ],
    ['no packages', { packages: '' }, /^Input "packages": is required/],
  ])('%s', async (_what, inputs, message) => {
    const root = path.join(work, 'root-bad-input');
    await expectFailure(
      { mirror: 'none', arch: 'x86_64', repos: fixtures(), ...inputs, root },
      message,
    );
    await expect(fs.access(root)).rejects.toThrow();
  });

  test('a non-empty root is refused and left as it was', async () => {
    const root = path.join(work, 'occupied');
    await fs.mkdir(root);
    await fs.writeFile(path.join(root, 'keep-me'), 'mine');
    await expectFailure(
      { packages: 'hello', repos: fixtures(), mirror: 'none', arch: 'x86_64', root },
      /^Input "root": .*occupied is not empty; give an empty or absent directory\.$/,
    );
    expect(await fs.readdir(root)).toEqual(['keep-me']);
  });

  test('a repos directory that is not a repository of that name', async () => {
    const root = path.join(work, 'root-not-a-repo');
    await expectFailure(
      { packages: 'hello', repos: `other=${repo.repoDir}`, mirror: 'none', arch: 'x86_64', root },
      /^Input "repos": .* has no other\.db: it is not a pacman repository named other/,
    );
    await expect(fs.access(root)).rejects.toThrow();
  });
});

describe('packages that cannot be installed', () => {
  test('unknown packages: every one named with the repositories searched, before installing', async () => {
    const root = path.join(work, 'root-unknown');
    const { log } = await expectFailure(
      {
        packages: 'hello\nnosuchpkg\nalsomissing',
        repos: fixtures(),
        mirror: 'none',
        arch: 'x86_64',
        root,
      },
      new RegExp(
        `^Packages not found in any repository: nosuchpkg, alsomissing \\(searched: fixtures \\(file://${repo.repoDir}\\)\\)\\.$`,
      ),
    );
    expect(log).not.toContain('installing hello');
    await expect(fs.access(root)).rejects.toThrow();
    expect(await leftovers(work)).toEqual([]);
  });

  test('an unresolvable dependency names the package that needs it', async () => {
    const root = path.join(work, 'root-needy');
    await expectFailure(
      { packages: 'needy', repos: fixtures(), mirror: 'none', arch: 'x86_64', root },
      /^The dependency "libnowhere>=2" of needy is in no repository \(searched: fixtures/,
    );
    await expect(fs.access(root)).rejects.toThrow();
  });

  test('a scriptlet that cannot run in a shell-less root is an error naming the package', async () => {
    const root = path.join(work, 'root-scripted');
    await expectFailure(
      { packages: 'scripted', repos: fixtures(), mirror: 'none', arch: 'x86_64', root },
      /^The install scriptlet of scripted could not run in the root .*call to execv failed.*allow-scriptlet-failures: true\.$/,
    );
    await expect(fs.access(root)).rejects.toThrow();
    expect(await leftovers(work)).toEqual([]);
  });

  test('allow-scriptlet-failures: true makes it a warning naming the package', async () => {
    const root = path.join(work, 'root-scripted-allowed');
    const result = await runBundle(
      'make-chroot',
      {
        packages: 'scripted',
        repos: fixtures(),
        mirror: 'none',
        arch: 'x86_64',
        root,
        'allow-scriptlet-failures': 'true',
      },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(result.code).toBe(0);
    expect(result.log).toMatch(/^::warning::The install scriptlet of scripted could not run/m);
    expect(result.outputs.packages).toBe('hello 1.0-1\nscripted 1.0-1');
    await fs.rm(root, { recursive: true, force: true });
  });
});
