import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { projectRoot } from '../../scripts/lib/project-root.js';

/**
 * A small monorepo shaped like this one, for the release tool's tests: the real
 * scripts/release.ts (with scripts/lib) and scripts/build.mjs, the real core library, the
 * project's tsconfig files and node_modules (a symlink), and one action, `greet`, whose bundle is
 * built with the real ncc. Its `npm test` runs the committed bundle the way the runner does and
 * checks the greeting — so a test can make it fail for real by changing what it expects.
 */
export interface Monorepo {
  dir: string;
  /** `git` in the monorepo; returns stdout. */
  git(...args: string[]): string;
  write(file: string, text: string): void;
  read(file: string): string;
  /** Sets actions/greet's version and adds a CHANGELOG heading for it. */
  bump(version: string, note?: string): void;
  /** Bundles actions/greet with scripts/build.mjs. */
  build(): void;
  commit(message: string): void;
  /** Runs scripts/release.ts; returns exit code and what it printed. */
  release(args: string[], env?: NodeJS.ProcessEnv): { code: number; output: string };
}

const ACTION_YML = `name: arch-core greet
description: Greets someone; the release tool's test fixture.
author: arch-core
branding:
  icon: gift
  color: green
inputs:
  name:
    description: Who to greet.
    required: false
    default: world
outputs:
  greeting:
    description: The greeting.
runs:
  using: node24
  # The monorepo's bundle; the mirror's action.yml points at dist/index.js.
  main: ../../dist/greet/index.js
`;

export const INDEX_TS = `import { runAction } from '../../core/src/run.js';
import { run } from './main.js';

void runAction(run);
`;

export function mainTs(greeting: string): string {
  return `import { inputReader, rawInputsFromEnv } from '../../core/src/inputs.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';

export async function run(): Promise<void> {
  const name = inputReader(rawInputsFromEnv()).required('name');
  const greeting = \`${greeting}, \${name}!\`;
  console.log(greeting);
  setOutputs({ greeting });
  await writeSummary('greet', [['greeting', greeting]]);
}
`;
}

/** The fixture's test: runs dist/greet/index.js as the runner does and checks its output. */
export function checkMjs(greeting: string): string {
  return `import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'greet-check-'));
const output = path.join(dir, 'output');
fs.writeFileSync(output, '');
const result = spawnSync(process.execPath, ['dist/greet/index.js'], {
  env: { ...process.env, INPUT_NAME: 'tests', GITHUB_OUTPUT: output },
  encoding: 'utf8',
});
const written = fs.readFileSync(output, 'utf8');
fs.rmSync(dir, { recursive: true, force: true });
if (result.status !== 0 || !written.includes(${JSON.stringify(`${greeting}, tests!`)})) {
  console.error('greet test failed:', result.status, result.stdout, result.stderr, written);
  process.exit(1);
}
console.log('greet test passed');
`;
}

/** A README with links of every kind: leaving the folder, inside it, absolute, anchors. */
export const FIXTURE_README = `# greet

Input \`name\`, output \`greeting\`. See [the example](../../workflows-examples/greet.yml#L3),
[the core library](../core/src/) and ![a picture](../../docs/greet.png "Greet").
Unchanged: [changes](CHANGELOG.md), [inputs](#inputs), [site](https://example.invalid/greet),
[source](./src/main.ts).

[reference]: ../../docs/greet.md
`;

/** The files copied from this project into the fixture as they are. */
const COPIED_FILES = [
  'scripts/release.ts',
  'scripts/lib/mirror-links.ts',
  'scripts/lib/project-root.ts',
  'scripts/lib/run.ts',
  'scripts/build.mjs',
  'tsconfig.base.json',
  'LICENSE',
  'actions/tsconfig.json',
  // All of core, so the fixture action's imports keep resolving as core changes.
  ...fs
    .readdirSync(path.join(projectRoot, 'actions', 'core', 'src'))
    .map((file) => `actions/core/src/${file}`),
];

/**
 * How a monorepo's checkout (this project's clone or the fixture) runs the release tool: with
 * tsx, as `npm run release` does. Arguments for process.execPath.
 */
export function releaseCommand(dir: string, args: string[]): string[] {
  return [path.join(dir, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'scripts/release.ts', ...args];
}

function fixtureGitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Fixture',
    GIT_AUTHOR_EMAIL: 'fixture@example.invalid',
    GIT_COMMITTER_NAME: 'Fixture',
    GIT_COMMITTER_EMAIL: 'fixture@example.invalid',
    // The fixture's `npm test` runs a local script: npm must not look for its own updates.
    npm_config_update_notifier: 'false',
  };
  // The fixture is not the repository a runner checked out: its source URL is the default.
  for (const name of ['ARCH_CORE_SOURCE_URL', 'GITHUB_SERVER_URL', 'GITHUB_REPOSITORY']) {
    delete env[name];
  }
  return env;
}

/** The Monorepo handle on `dir` (its files are written by writeFixtureFiles). */
function monorepoAt(dir: string): Monorepo {
  const gitEnv = fixtureGitEnv();
  const repo: Monorepo = {
    dir,
    git: (...args) => execFileSync('git', args, { cwd: dir, env: gitEnv, encoding: 'utf8' }),
    write(file, text) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    },
    read: (file) => fs.readFileSync(path.join(dir, file), 'utf8'),
    bump(version, note = 'changes') {
      repo.write(
        'actions/greet/package.json',
        `${JSON.stringify({ name: '@arch-core/greet', version, private: true, type: 'module' }, null, 2)}\n`,
      );
      const changelog = repo.read('actions/greet/CHANGELOG.md');
      repo.write(
        'actions/greet/CHANGELOG.md',
        changelog.replace(/^# Changelog\n\n/, `# Changelog\n\n## ${version}\n\n- ${note}\n\n`),
      );
    },
    build() {
      execFileSync(process.execPath, ['scripts/build.mjs', 'greet'], { cwd: dir, stdio: 'pipe' });
    },
    commit(message) {
      repo.git('add', '--all');
      repo.git('commit', '--quiet', '-m', message);
    },
    release(args, env = {}) {
      const result = spawnSync(process.execPath, releaseCommand(dir, args), {
        cwd: dir,
        env: { ...gitEnv, ...env },
        encoding: 'utf8',
      });
      return { code: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
    },
  };
  return repo;
}

/** The project's files the fixture shares, and its own package.json, test and `greet` action. */
function writeFixtureFiles(repo: Monorepo): void {
  for (const file of COPIED_FILES) {
    repo.write(file, fs.readFileSync(path.join(projectRoot, file), 'utf8'));
  }
  fs.symlinkSync(path.join(projectRoot, 'node_modules'), path.join(repo.dir, 'node_modules'));
  repo.write('.gitignore', 'node_modules\n.ncc-out/\n');
  repo.write(
    'package.json',
    `${JSON.stringify(
      {
        name: 'fixture-monorepo',
        private: true,
        type: 'module',
        scripts: { test: 'node test/check.mjs' },
      },
      null,
      2,
    )}\n`,
  );
  repo.write('test/check.mjs', checkMjs('Hello'));
  repo.write('actions/greet/action.yml', ACTION_YML);
  repo.write('actions/greet/README.md', FIXTURE_README);
  repo.write('actions/greet/CHANGELOG.md', '# Changelog\n\n');
  repo.write('actions/greet/src/index.ts', INDEX_TS);
  repo.write('actions/greet/src/main.ts', mainTs('Hello'));
}

export function makeMonorepo(): Monorepo {
  const repo = monorepoAt(fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-release-fixture-')));
  writeFixtureFiles(repo);
  repo.bump('1.0.0', 'first release');
  repo.git('init', '--quiet', '--initial-branch=main');
  repo.build();
  repo.commit('fixture monorepo');
  return repo;
}

/**
 * A new empty bare repository, `<temp dir>/<name>.git`: the mirror, made as `git init --bare`
 * makes it without configuration, with HEAD on master (the release pushes main).
 */
export function makeBareMirror(name: string): string {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-release-mirrors-'));
  const mirror = path.join(parent, `${name}.git`);
  execFileSync('git', ['-c', 'init.defaultBranch=master', 'init', '--quiet', '--bare', mirror]);
  return mirror;
}

/** `git` in any repository (e.g. the bare mirror); returns trimmed stdout, '' on failure. */
export function gitIn(dir: string, ...args: string[]): string {
  const result = spawnSync('git', args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  return result.status === 0 ? result.stdout.trim() : '';
}
