import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { runActionLocally } from '../../actions/cli/src/local-runner.js';
import { bundleNode, errorLines, projectRoot } from '../helpers/bundle.js';
import { gitIn, makeBareMirror, releaseCommand } from '../helpers/release-fixture.js';

// The release of a real action of this project: a clone of the monorepo at its current commit
// (only what is committed) releases make-iso to a local bare mirror. The stale-bundle check
// rebuilds the real bundle in the clone; the mirror, checked out, runs as an action: its
// action.yml names dist/index.js and the bundle starts, reads its inputs and fails a missing
// required input with the action's own one-line error. (The project's tests are not run a second
// time inside the test suite: --skip-tests with ARCH_CORE_RELEASE_SELF_TEST=1.)

jest.setTimeout(300_000);

const ACTION = 'make-iso';
let clone = '';
let mirror = '';
let checkout = '';

beforeAll(() => {
  clone = fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-release-clone-'));
  execFileSync('git', ['clone', '--quiet', '--no-hardlinks', projectRoot, clone]);
  // A copy of node_modules inside the clone (hard links: instant, no space): webpack names
  // modules by their path from the project, so a symlink to another tree changes the bundle.
  const modules = path.join(clone, 'node_modules');
  try {
    execFileSync('cp', ['-al', path.join(projectRoot, 'node_modules'), modules], { stdio: 'pipe' });
  } catch {
    fs.rmSync(modules, { recursive: true, force: true });
    execFileSync('cp', ['-a', path.join(projectRoot, 'node_modules'), modules]);
  }
  mirror = makeBareMirror(ACTION);
});

afterAll(() => {
  for (const dir of [clone, mirror && path.dirname(mirror), checkout]) {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(`the committed ${ACTION} releases to its mirror, which runs as an action`, async () => {
  const { version } = JSON.parse(
    fs.readFileSync(path.join(clone, 'actions', ACTION, 'package.json'), 'utf8'),
  ) as { version: string };
  const output = execFileSync(
    process.execPath,
    releaseCommand(clone, [
      ACTION,
      version,
      '--mirror',
      mirror,
      '--source-url',
      'https://git.example.invalid/arch-core',
      '--skip-tests',
    ]),
    { cwd: clone, env: { ...process.env, ARCH_CORE_RELEASE_SELF_TEST: '1' }, encoding: 'utf8' },
  );
  expect(output).toContain(`release: ${ACTION} v${version}`);
  const major = `v${version.split('.')[0]}`;
  expect(gitIn(mirror, 'tag', '--list').split('\n').sort()).toEqual([major, `v${version}`]);

  const tree = gitIn(mirror, 'ls-tree', '-r', '--name-only', `v${version}`).split('\n');
  const bundle = gitIn(clone, 'ls-files', `dist/${ACTION}`)
    .split('\n')
    .map((file) => file.replace(`dist/${ACTION}/`, 'dist/'));
  expect(tree.sort()).toEqual(
    ['CHANGELOG.md', 'LICENSE', 'README.md', 'action.yml', ...bundle].sort(),
  );

  checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-release-checkout-'));
  execFileSync('git', ['clone', '--quiet', '--branch', major, mirror, checkout], { stdio: 'pipe' });
  const released = parseYaml(fs.readFileSync(path.join(checkout, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { required?: boolean }>;
    runs: { using: string; main: string };
  };
  const original = parseYaml(
    fs.readFileSync(path.join(projectRoot, 'actions', ACTION, 'action.yml'), 'utf8'),
  ) as typeof released;
  expect(released.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
  expect(released.inputs).toEqual(original.inputs);

  const required = Object.entries(released.inputs)
    .filter(([, spec]) => spec.required === true)
    .map(([name]) => name);
  expect(required.length).toBeGreaterThan(0);
  // Nothing given: the bundle must start from the mirror's layout and refuse, as on a runner.
  const run = await runActionLocally({ actionDir: checkout, inputs: {}, node: bundleNode() });
  expect(run.code).toBe(1);
  expect(errorLines(run.log)).toEqual([expect.stringMatching(/^Input "[a-z-]+": /)]);
  expect(required.some((name) => errorLines(run.log)[0]?.startsWith(`Input "${name}"`))).toBe(true);

  // make-iso's README links ../../workflows-examples/samples/: in the mirror it points into the
  // monorepo at the released commit.
  const readme = fs.readFileSync(path.join(checkout, 'README.md'), 'utf8');
  const commit = gitIn(clone, 'rev-parse', 'HEAD');
  expect(readme).not.toMatch(/\]\(\.\.\//);
  expect(readme).toContain(
    `(https://git.example.invalid/arch-core/tree/${commit}/workflows-examples/samples)`,
  );
});
