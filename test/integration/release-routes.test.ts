import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { runActionLocally } from '../../actions/cli/src/local-runner.js';
import { readPackageInfo } from '../../actions/core/src/pkginfo.js';
import { bundleNode, projectRoot } from '../helpers/bundle.js';
import { i686BuildRoot } from '../helpers/i686-root.js';
import { startSshd } from '../helpers/sshd.js';
import { readWorkflow, type Step } from '../helpers/workflows-lint.js';

// The build job of workflows-examples/release.yml, run step by step as the runner would, on an
// app made of examples/hello's sources and workflows-examples/samples/no-pkgver/PKGBUILD (no
// pkgver() of its own), tagged v1.0. Its checkout comes two ways: the Mercurial step's own
// script cloning from `hg serve` on loopback (and over ssh from the project's real sshd, its
// host key checked), or — in place of actions/checkout, which cannot
// run here — a full clone of a local git remote at the tag. Then the build-package step's bundle
// runs with the step's inputs, for i686 in the test's i686 build root, which has neither hg nor
// git: the version comes from the VCS read on the host.

jest.setTimeout(600_000);

const workflow = readWorkflow(path.join(projectRoot, 'workflows-examples', 'release.yml'));
const buildSteps: Step[] = workflow.jobs.build?.steps ?? [];
const SECRET = 'hg-password-never-printed';
let tmp = '';
let buildRoot = '';
let server: ChildProcess | undefined;

function stepNamed(pattern: RegExp): Step {
  const step = buildSteps.find((candidate) => pattern.test(candidate.name ?? ''));
  if (!step) throw new Error(`release.yml build: no step named ${String(pattern)}`);
  return step;
}

/** `${{ a || 'b' }}` and `${{ x.y }}` of a step's value, from `context` (a missing name is ''). */
function evaluate(value: string, context: Record<string, string>): string {
  return value.replace(/\$\{\{\s*(.+?)\s*\}\}/g, (_, expression: string) => {
    for (const part of expression.split('||').map((text) => text.trim())) {
      const literal = /^'(.*)'$/.exec(part);
      const found = literal ? literal[1] : context[part];
      if (found) return found;
    }
    return '';
  });
}

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
}

/** The app's sources in `dir`: hello.c and the Makefile of examples/hello, the no-pkgver sample. */
function writeApp(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const file of ['hello.c', 'Makefile']) {
    fs.copyFileSync(path.join(projectRoot, 'examples', 'hello', file), path.join(dir, file));
  }
  fs.copyFileSync(
    path.join(projectRoot, 'workflows-examples', 'samples', 'no-pkgver', 'PKGBUILD'),
    path.join(dir, 'PKGBUILD'),
  );
}

function hgRepository(dir: string): string {
  writeApp(dir);
  const hg = (...args: string[]) =>
    run('hg', ['--config', 'ui.username=Test <t@e.invalid>', ...args], dir);
  hg('init');
  hg('commit', '--addremove', '-m', 'hello');
  hg('tag', 'v1.0');
  fs.appendFileSync(path.join(dir, 'hello.c'), '/* after the tag */\n');
  hg('commit', '-m', 'after the release');
  return run('hg', ['log', '-r', 'v1.0', '--template', '{node|short}'], dir);
}

function gitRepository(dir: string): string {
  writeApp(dir);
  const git = (...args: string[]) =>
    run('git', ['-c', 'user.name=Test', '-c', 'user.email=t@e.invalid', ...args], dir);
  git('init', '--quiet', '--initial-branch=main');
  git('add', '.');
  git('commit', '--quiet', '-m', 'hello');
  git('tag', 'v1.0');
  fs.appendFileSync(path.join(dir, 'hello.c'), '/* after the tag */\n');
  git('commit', '--quiet', '-am', 'after the release');
  return run('git', ['rev-parse', '--short', 'v1.0'], dir);
}

/** `hg serve` of `repo` on a free loopback port; its URL. */
async function serveHg(repo: string): Promise<string> {
  server = spawn('hg', ['serve', '-R', repo, '--address', '127.0.0.1', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let said = '';
  return new Promise((resolve, reject) => {
    server?.stdout?.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      const url = /listening at (http:\/\/\S+)/.exec(said);
      if (url?.[1]) resolve(url[1].replace('//localhost', '//127.0.0.1'));
    });
    server?.on('exit', (code) => reject(new Error(`hg serve exited (${code}): ${said}`)));
  });
}

/** The Mercurial step's script, with its env as the runner gives it; in `workspace`. */
function runHgStep(workspace: string, values: Record<string, string>) {
  const step = stepNamed(/Mercurial server/);
  expect(Object.keys(step.env ?? {}).sort()).toEqual(
    ['HG_KNOWN_HOSTS', 'HG_PASSWORD', 'HG_SOURCE', 'HG_SSH_KEY', 'HG_TAG', 'HG_USER'].sort(),
  );
  const env: Record<string, string> = {};
  for (const name of Object.keys(step.env ?? {})) env[name] = values[name] ?? '';
  const result = spawnSync('bash', ['-e', '-c', step.run as string], {
    cwd: workspace,
    env: { PATH: process.env.PATH, HOME: tmp, TMPDIR: path.join(tmp, 'runner-tmp'), ...env },
    encoding: 'utf8',
  });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The build-package step's bundle with the step's inputs, in `workspace`. */
async function runBuildStep(workspace: string) {
  const step = stepNamed(/Build the .* package/);
  const runnerTemp = path.join(workspace, '..', 'runner-temp');
  const outer: Record<string, string> = {
    ...(workflow.env as Record<string, string>),
    'runner.temp': runnerTemp,
    'vars.I686_BUILD_ROOT': buildRoot,
  };
  // The matrix's i686 leg, its values evaluated as the runner does (they name vars too).
  const legs = workflow.jobs.build?.strategy?.matrix?.include ?? [];
  const i686 = legs.find((leg) => leg.arch === 'i686') ?? {};
  const context: Record<string, string> = {
    ...outer,
    ...Object.fromEntries(
      Object.entries(i686).map(([key, value]) => [`matrix.${key}`, evaluate(value, outer)]),
    ),
  };
  const inputs: Record<string, string> = {};
  for (const [name, value] of Object.entries(step.with ?? {})) {
    inputs[name] = evaluate(String(value), {
      ...context,
      ...Object.fromEntries(Object.entries(context).map(([key, v]) => [`env.${key}`, v])),
    });
  }
  expect(inputs.path).toBe('app/.');
  return runActionLocally({
    actionDir: path.join(projectRoot, 'actions', 'build-package'),
    bundle: path.join(projectRoot, 'dist', 'build-package', 'index.js'),
    inputs,
    cwd: workspace,
    env: { GITHUB_WORKSPACE: workspace, RUNNER_TEMP: runnerTemp },
    node: bundleNode(),
  });
}

/** hg numbers revisions from 0, git counts commits (`git rev-list --count`): the first is 1. */
async function expectI686Release(workspace: string, vcs: 'hg' | 'git', hash: string) {
  const revision = vcs === 'hg' ? '0' : '1';
  const result = await runBuildStep(workspace);
  expect(result.log).not.toContain('::error');
  expect(result.code).toBe(0);
  expect(result.outputs.revision).toBe(revision);
  expect(result.outputs.hash).toBe(hash);
  expect(result.outputs.version).toBe(`1.0.r${revision}.${hash}-1`);
  expect(result.log).toContain(
    `pkgver 1.0.r${revision}.${hash} (from ${vcs}; the PKGBUILD has no pkgver())`,
  );
  const [file] = (result.outputs.packages ?? '').split('\n');
  const info = await readPackageInfo(file as string);
  expect(info).toMatchObject({
    name: 'hello',
    arch: 'i686',
    version: `1.0.r${revision}.${hash}-1`,
  });
  const binary = run('bsdtar', ['-xOf', file as string, 'usr/bin/hello'], tmp);
  expect(binary.length).toBeGreaterThan(0);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-release-routes-'));
  fs.mkdirSync(path.join(tmp, 'runner-tmp'));
  buildRoot = await i686BuildRoot();
  for (const tool of ['hg', 'git']) {
    expect(fs.existsSync(path.join(buildRoot, 'usr', 'bin', tool))).toBe(false);
  }
});

afterAll(() => {
  server?.kill();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('release.yml build job', () => {
  test('Mercurial: the tag cloned from hg serve builds in the i686 root, versioned r<rev>.<hash>', async () => {
    const hash = hgRepository(path.join(tmp, 'hg-server', 'hello'));
    const url = await serveHg(path.join(tmp, 'hg-server', 'hello'));
    const workspace = path.join(tmp, 'hg-job', 'workspace');
    fs.mkdirSync(workspace, { recursive: true });

    const missing = runHgStep(workspace, { HG_SOURCE: url, HG_TAG: 'v9.9' });
    expect(missing.code).not.toBe(0);

    const clone = runHgStep(workspace, {
      HG_SOURCE: url,
      HG_TAG: 'v1.0',
      HG_USER: 'release',
      HG_PASSWORD: SECRET,
    });
    expect(clone.output).not.toContain(SECRET);
    expect(clone.code).toBe(0);
    expect(clone.output).toContain(`Cloned 0:${hash}, tag v1.0`);
    expect(fs.readdirSync(path.join(tmp, 'runner-tmp'))).toEqual([]); // the hgrc is gone
    await expectI686Release(workspace, 'hg', hash);
  });

  test('Mercurial: a name that is not a tag (a revset) is refused', () => {
    const workspace = path.join(tmp, 'hg-job', 'workspace');
    const result = runHgStep(workspace, {
      HG_SOURCE: path.join(tmp, 'hg-server', 'hello'),
      HG_TAG: 'tip',
    });
    expect(result.code).toBe(1);
    expect(result.output).toContain('::error::tip is not a tag of');
  });

  test('Mercurial over ssh: the host key is verified, a wrong one refused', async () => {
    const sshd = await startSshd();
    try {
      const repo = path.join(sshd.home, 'hg-hello');
      const hash = hgRepository(repo);
      run('chown', ['-R', `${sshd.uid}:${sshd.gid}`, repo], tmp);
      const workspace = path.join(tmp, 'ssh-job', 'workspace');
      fs.mkdirSync(workspace, { recursive: true });
      const source = `ssh://${sshd.user}@${sshd.host}:${sshd.port}/${repo}`;
      const other = await sshd.makeKeyPair();
      const wrongHost = sshd.knownHosts.replace(
        /ssh-ed25519 \S+/g,
        other.publicKey.split(' ').slice(0, 2).join(' '),
      );
      const refused = runHgStep(workspace, {
        HG_SOURCE: source,
        HG_TAG: 'v1.0',
        HG_SSH_KEY: sshd.privateKey,
        HG_KNOWN_HOSTS: wrongHost,
      });
      expect(refused.code).not.toBe(0);
      expect(refused.output).toMatch(/host key verification failed/i);
      const clone = runHgStep(workspace, {
        HG_SOURCE: source,
        HG_TAG: 'v1.0',
        HG_SSH_KEY: sshd.privateKey,
        HG_KNOWN_HOSTS: sshd.knownHosts,
      });
      expect(clone.output).not.toContain('PRIVATE KEY');
      expect(clone.code).toBe(0);
      expect(clone.output).toContain(`Cloned 0:${hash}, tag v1.0`);
      expect(fs.readdirSync(path.join(tmp, 'runner-tmp'))).toEqual([]); // the key is gone
    } finally {
      await sshd.stop();
    }
  });

  test('git: a full clone of the remote at the tag builds in the i686 root, versioned from git', async () => {
    const remote = path.join(tmp, 'git-remote', 'hello');
    const hash = gitRepository(remote);
    const workspace = path.join(tmp, 'git-job', 'workspace');
    fs.mkdirSync(workspace, { recursive: true });
    const checkout = stepNamed(/Check out the tagged commit/);
    expect(checkout.uses).toMatch(/^actions\/checkout@/);
    expect(checkout.with).toMatchObject({ path: 'app', 'fetch-depth': 0 });
    run('git', ['clone', '--quiet', '--branch', 'v1.0', remote, 'app'], workspace);
    await expectI686Release(workspace, 'git', hash);
  });
});
