import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { BUILD_USER, buildFixtureRepo, type FixtureRepo } from '../helpers/arch-packages.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { spawn } from 'node:child_process';
import { inputVariable, readActionMetadata } from '../../actions/cli/src/local-runner.js';
import {
  bundleCopyIn,
  bundleNode,
  bundleNodeIn,
  errorLines,
  projectRoot,
  runBundle,
} from '../helpers/bundle.js';

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
      // Big enough that writing the tarball takes a while: a kill lands in the middle of it.
      { name: 'bulky', files: { 'usr/share/bulky/blob': new Uint8Array(96 * 1024 * 1024) } },
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

  test.each([
    [
      'a directory',
      'tarball-dir',
      /^Input "tarball": ".*tarball-dir" is a directory; give the path of a file to write\.$/,
    ],
    [
      'under a file',
      'tarball-file/root.tar',
      /^Input "tarball": ".*tarball-file" is a file, so ".*root\.tar" cannot be made in it\.$/,
    ],
  ])(
    'a tarball path that is %s is refused before any root is made',
    async (_what, name, message) => {
      await fs.mkdir(path.join(work, 'tarball-dir'), { recursive: true });
      await fs.writeFile(path.join(work, 'tarball-file'), 'mine');
      const root = path.join(work, 'root-for-bad-tarball');
      const tarball = path.join(work, name);
      await expectFailure(
        { packages: 'hello', repos: fixtures(), mirror: 'none', arch: 'x86_64', root, tarball },
        message,
      );
      await expect(fs.access(root)).rejects.toThrow();
      expect(await fs.readFile(path.join(work, 'tarball-file'), 'utf8')).toBe('mine');
    },
  );

  test('a repos directory that is not a repository of that name', async () => {
    const root = path.join(work, 'root-not-a-repo');
    await expectFailure(
      { packages: 'hello', repos: `other=${repo.repoDir}`, mirror: 'none', arch: 'x86_64', root },
      /^Input "repos": .* has no other\.db: it is not a pacman repository named other/,
    );
    await expect(fs.access(root)).rejects.toThrow();
  });
});

describe('privileges', () => {
  // The bundle run by the unprivileged build user, the way a runner would start it (INPUT_*,
  // with the action.yml defaults). The inputs are set after the wrapper: fakeroot is a dash
  // script, and dash drops variables whose names are no shell names (INPUT_SIGNATURE-LEVEL).
  async function asUser(given: Record<string, string>, wrapper: string[] = []) {
    const env = [
      `HOME=${work}`,
      `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
      `RUNNER_TEMP=${path.join(work, 'user-temp')}`,
    ];
    const inputs = Object.entries(actionInputs('make-chroot', given)).map(
      ([name, value]) => `INPUT_${name.toUpperCase()}=${value}`,
    );
    await fs.chmod(work, 0o755); // mkdtemp made it 0700: the user must reach its directory
    const bundle = await bundleCopyIn('make-chroot', work);
    const node = await bundleNodeIn(work);
    return spawnSync(
      'runuser',
      [
        ...['-u', BUILD_USER, '--', 'env', '-i', ...env, ...wrapper],
        ...['env', ...inputs, node, bundle],
      ],
      { encoding: 'utf8' },
    );
  }

  test('as an unprivileged user it fails at once, naming what is needed', async () => {
    const root = path.join(work, 'user-root');
    const result = await asUser({
      packages: 'hello',
      repos: fixtures(),
      mirror: 'none',
      arch: 'x86_64',
      root,
    });
    expect(result.status).toBe(1);
    expect(errorLines(result.stdout)).toEqual([
      expect.stringMatching(/^make-chroot must run as root \(uid 0\).*fakeroot\.$/),
    ]);
    await expect(fs.access(root)).rejects.toThrow();
  });

  test('under fakeroot it works, and the tarball is owned by root', async () => {
    const userTemp = path.join(work, 'user-temp');
    await fs.mkdir(userTemp, { recursive: true });
    const dir = path.join(work, 'fakeroot');
    await fs.mkdir(dir);
    execFileSync('chown', [BUILD_USER, userTemp, dir]);
    const result = await asUser(
      {
        packages: 'hello',
        repos: fixtures(),
        mirror: 'none',
        arch: 'x86_64',
        root: path.join(dir, 'root'),
        tarball: path.join(dir, 'root.tar'),
      },
      ['fakeroot'],
    );
    expect({ status: result.status, errors: errorLines(result.stdout) }).toEqual({
      status: 0,
      errors: [],
    });
    expect(
      execFileSync('chroot', [path.join(dir, 'root'), '/usr/bin/hello'], { encoding: 'utf8' }),
    ).toBe('hello\n');
    const listing = execFileSync('tar', ['-tvf', path.join(dir, 'root.tar'), '--numeric-owner'], {
      encoding: 'utf8',
    });
    expect(listing).toMatch(/-rwxr-xr-x 0\/0 .* usr\/bin\/hello\n/);
    expect(listing).not.toMatch(/ [1-9]\d*\/\d+ /);
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

describe('a stopped run, and runs that race', () => {
  /** The pid of a process that has exited: what a killed run's temporaries are named after. */
  function deadPid(): number {
    const child = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
    return Number(child.stdout.trim());
  }

  /** Starts the bundle in a process group of its own; resolves when its log matches `line`. */
  async function startUntil(inputs: Record<string, string>, line: RegExp) {
    const metadata = await readActionMetadata(
      path.join(projectRoot, 'actions/make-chroot/action.yml'),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, RUNNER_TEMP: runnerTemp, GITHUB_OUTPUT: '' };
    for (const [name, spec] of Object.entries(metadata.inputs)) {
      env[inputVariable(name)] = inputs[name] ?? spec.default ?? '';
    }
    const child = spawn(bundleNode(), [path.join(projectRoot, 'dist/make-chroot/index.js')], {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        if (line.test(log)) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('close', () => reject(new Error(`exited before ${line}:\n${log}`)));
    });
    return {
      kill: async () => {
        process.kill(-(child.pid as number), 'SIGKILL');
        await exited;
      },
    };
  }

  test('killed while writing the tarball: nothing published, and a rerun cleans up and succeeds', async () => {
    const dir = path.join(work, 'killed');
    await fs.mkdir(dir);
    const inputs = {
      packages: 'bulky',
      repos: fixtures(),
      mirror: 'none',
      arch: 'x86_64',
      root: path.join(dir, 'root'),
      tarball: path.join(dir, 'root.tar'),
    };
    const run = await startUntil(inputs, /::group::Write the tarball/);
    await run.kill();
    const left = await fs.readdir(dir);
    expect(left).not.toContain('root');
    expect(left).not.toContain('root.tar');
    expect(left.length).toBeGreaterThan(0); // the killed run's temporaries

    const rerun = await runBundle('make-chroot', inputs, { RUNNER_TEMP: runnerTemp });
    expect(errorLines(rerun.log)).toEqual([]);
    expect(rerun.code).toBe(0);
    expect(rerun.log).toMatch(
      /Removed .*\/\.root\.tmp-\d+\.\S+, left by an earlier run that was stopped/,
    );
    expect((await fs.readdir(dir)).sort()).toEqual(['root', 'root.tar']);
  });

  test("a dead run's temporaries are removed, a live run's are kept", async () => {
    const dir = path.join(work, 'leftovers');
    const pid = deadPid();
    const dead = [
      path.join(dir, `.root.tmp-${pid}.abc`),
      path.join(dir, `.root.tar.tmp-${pid}.def.d`),
    ];
    const live = path.join(dir, `.root.tmp-${process.pid}.live`);
    for (const leftover of [...dead, live]) {
      await fs.mkdir(path.join(leftover, 'usr'), { recursive: true });
    }
    const result = await runBundle(
      'make-chroot',
      {
        packages: 'hello',
        repos: fixtures(),
        mirror: 'none',
        arch: 'x86_64',
        root: path.join(dir, 'root'),
        tarball: path.join(dir, 'root.tar'),
      },
      { RUNNER_TEMP: runnerTemp },
    );
    expect(result.code).toBe(0);
    expect((await fs.readdir(dir)).sort()).toEqual([path.basename(live), 'root', 'root.tar']);
    for (const leftover of dead) expect(result.log).toContain(`Removed ${leftover}`);
  });

  test("two runs into one root: the loser says so and leaves the winner's root", async () => {
    const dir = path.join(work, 'race');
    await fs.mkdir(dir);
    const inputs = {
      packages: 'hello',
      repos: fixtures(),
      mirror: 'none',
      arch: 'x86_64',
      root: path.join(dir, 'root'),
    };
    const results = await Promise.all([
      runBundle('make-chroot', inputs, { RUNNER_TEMP: runnerTemp }),
      runBundle('make-chroot', inputs, { RUNNER_TEMP: runnerTemp }),
    ]);
    // Started together, both find the root absent; the second to finish loses the rename. (Should
    // one finish before the other starts, the check up front refuses the second instead.)
    expect(results.map((result) => result.code).sort()).toEqual([0, 1]);
    const loser = results.find((result) => result.code === 1) as (typeof results)[number];
    expect(errorLines(loser.log)).toEqual([
      expect.stringMatching(
        /root (was made by another run while this one was building it: this run's root is discarded and .* is left as the other run made it\.|is not empty)/,
      ),
    ]);
    expect(await fs.readdir(dir)).toEqual(['root']);
    expect(await fs.readdir(path.join(dir, 'root', 'usr/bin'))).toContain('hello');
  });
});
