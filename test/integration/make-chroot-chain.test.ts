import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { appInfoPathFor, parseManifest, type AppInfo } from '../../actions/core/src/manifest.js';
import { buildFixtureRepo, hostGlibcPackage, type FixtureRepo } from '../helpers/arch-packages.js';
import { EXAMPLE_APP, hgRepo } from '../helpers/build-package-repos.js';
import { runBundle } from '../helpers/bundle.js';

// The pipeline's first two steps, each bundle driven as the runner drives it (INPUT_*,
// GITHUB_OUTPUT): build-package builds the example app from a Mercurial repository, and
// make-chroot takes its outputs as they are. The app is dynamically linked against glibc, which
// comes from a second local repository: a package (built with makepkg) holding this machine's
// own loader and libc, so the app really runs in the root.
jest.setTimeout(300_000);

let work: string;
let runnerTemp: string;
let built: Record<string, string>;
let system: FixtureRepo;
let appRepo: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'make-chroot-chain-'));
  runnerTemp = path.join(work, 'runner-temp');
  await fs.mkdir(runnerTemp);
  const source = await hgRepo(EXAMPLE_APP, path.join(work, 'hello'), 'v1.2');
  appRepo = path.join(work, 'app-repo');
  const build = await runBundle(
    'build-package',
    { path: source, arch: 'x86_64', repo: appRepo, 'repo-name': 'app' },
    { RUNNER_TEMP: runnerTemp },
  );
  if (build.code !== 0) throw new Error(`build-package failed:\n${build.log}`);
  built = build.outputs;

  system = await buildFixtureRepo({
    dir: path.join(work, 'system'),
    arch: 'x86_64',
    repoName: 'system',
    packages: [
      await hostGlibcPackage(),
      { name: 'unrelated', files: { 'usr/share/unrelated': 'no\n' } },
    ],
  });
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function appRecord(): Promise<AppInfo> {
  const file = built.packages!.split('\n')[0]!;
  return JSON.parse(await fs.readFile(appInfoPathFor(file), 'utf8')) as AppInfo;
}

describe("make-chroot after build-package, through build-package's outputs", () => {
  test('package-files: the root holds the app and glibc, runs the app, and the manifest carries the app record', async () => {
    const root = path.join(work, 'root-files');
    const result = await runBundle(
      'make-chroot',
      {
        'package-files': built.packages!,
        repos: `system=${system.repoDir}`,
        mirror: 'none',
        arch: 'x86_64',
        root,
      },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(result.code).toBe(0);
    expect(result.outputs.packages).toBe(`glibc 2.36-1\nhello ${built.version}`);
    expect(execFileSync('chroot', [root, '/usr/bin/hello'], { encoding: 'utf8' })).toBe(
      'Hello from arch-core\n',
    );
    const manifest = parseManifest(await fs.readFile(result.outputs.manifest!, 'utf8'), 'manifest');
    const record = await appRecord();
    expect(record).toMatchObject({
      name: 'hello',
      vcs: 'hg',
      revision: built.revision,
      hash: built.hash,
    });
    expect(manifest.app).toEqual({ ...record, version: built.version });
    expect(manifest.app?.version).toMatch(/^1\.2\.r\d+\.[0-9a-f]{12}-1$/);
    expect(manifest.packages.map((entry) => entry.name)).toEqual(['glibc', 'hello']);
  });

  test("build-package's repo directory works as is; the app named is found with its record", async () => {
    const root = path.join(work, 'root-repo');
    const result = await runBundle(
      'make-chroot',
      {
        packages: 'hello',
        app: 'hello',
        repos: `app=${appRepo}\nsystem=${system.repoDir}`,
        mirror: 'none',
        arch: 'x86_64',
        root,
      },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(result.code).toBe(0);
    expect(execFileSync('pacman', ['-r', root, '-Q'], { encoding: 'utf8' })).toBe(
      `glibc 2.36-1\nhello ${built.version}\n`,
    );
    const manifest = parseManifest(await fs.readFile(result.outputs.manifest!, 'utf8'), 'manifest');
    expect(manifest.app).toEqual({ ...(await appRecord()), version: built.version });
    expect(execFileSync('chroot', [root, '/usr/bin/hello'], { encoding: 'utf8' })).toBe(
      'Hello from arch-core\n',
    );
  });
});
