import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { actionInputs } from '../helpers/action-inputs.js';
import { projectRoot } from '../helpers/bundle.js';

// Each action run from its TypeScript source by @github/local-action, as its README says:
// `local-action run <action dir> <entrypoint exporting run()> <dotenv file of INPUT_*>`. It runs
// the sources under tsx with plain Node ESM loading (which the bundles and ts-jest hide). It
// stands in for @actions/core, which the actions no longer import: they speak the runner protocol
// themselves (actions/core/src/runner.ts), and with no GITHUB_OUTPUT in the environment they
// print each output as a `::set-output` command. Nothing here needs a network.

const LOCAL_ACTION = path.join(
  projectRoot,
  'node_modules/@github/local-action/bin/local-action.js',
);
let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-local-action-'));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

/** One dotenv line; local-action's dotenv reads '…' literally and turns \n into a line break in "…". */
function dotenvLine(name: string, value: string): string {
  const variable = `INPUT_${name.toUpperCase()}`;
  if (!value.includes('\n') && !value.includes("'")) return `${variable}='${value}'`;
  if (/["\\]/.test(value)) throw new Error(`input ${name} cannot be written to a .env file`);
  return `${variable}="${value.replace(/\n/g, '\\n')}"`;
}

/** Runs `action` with local-action and the action.yml defaults plus `given`; gives its exit code and log. */
function localAction(action: string, given: Record<string, string>) {
  const dotenv = path.join(work, `${action}.env`);
  const inputs = actionInputs(action, given);
  const lines = Object.entries(inputs).map(([name, value]) => dotenvLine(name, value ?? ''));
  lines.push(`RUNNER_TEMP='${work}'`);
  fs.writeFileSync(dotenv, `${lines.join('\n')}\n`);
  const result = spawnSync(
    process.execPath,
    [LOCAL_ACTION, 'run', path.join('actions', action), 'src/main.ts', dotenv],
    { cwd: projectRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
  );
  return { code: result.status, log: `${result.stdout}${result.stderr}` };
}

/**
 * The outputs the action set, from its `::set-output` lines (local-action's closing "Action
 * Outputs" table lists only what went through its own @actions/core).
 */
function outputsIn(log: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const match of log.matchAll(/^::set-output name=([^:]+)::(.*)$/gm)) {
    outputs[match[1] as string] = match[2] as string;
  }
  return outputs;
}

test('import-image (it loads ssh2) writes an OCI layout from a tarball', () => {
  const root = path.join(work, 'root');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc', 'hello'), 'hello\n');
  const tarball = path.join(work, 'root.tar');
  spawnSync('tar', ['-cf', tarball, '-C', root, '.']);
  const layout = path.join(work, 'layout');
  const run = localAction('import-image', {
    tarball,
    image: 'local/app:1.0',
    push: 'false',
    output: layout,
  });
  expect(run.log).not.toMatch(/SyntaxError/);
  const outputs = outputsIn(run.log);
  expect(outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(fs.existsSync(path.join(layout, 'index.json'))).toBe(true);
  expect(run.code).toBe(0);
}, 120_000);

test('make-iso writes and audits the cloud-configs', () => {
  const output = path.join(work, 'make-iso');
  const run = localAction('make-iso', {
    'ssh-authorized-keys':
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example',
    'master-address': '10.0.0.1',
    'fleet-sha256': '0'.repeat(64),
    format: 'user-data',
    output,
    // Nothing listens there: the Flatcar version is not read (a warning), and no network is used.
    'image-base-url': 'http://127.0.0.1:9/current',
  });
  const outputs = outputsIn(run.log);
  expect(outputs['master-cloud-config']).toBe(path.join(output, 'master.cloud-config.yml'));
  expect(fs.readFileSync(outputs['slave-cloud-config'] as string, 'utf8')).toMatch(
    /^#cloud-config\n/,
  );
  expect(JSON.parse(outputs.audit as string)).toMatchObject({ master: { passed: true } });
  expect(run.code).toBe(0);
}, 120_000);

// The others cannot run here without root, a cluster or a mirror: a bad input shows that their
// own code was loaded (deploy-fleet's loads ssh2) and ran up to their input checks.
test.each([
  [
    'build-package',
    { path: '.', pkgext: '.pkg.tar.gz' },
    /^InputError: Input "pkgext": ".pkg.tar.gz" is not one of/m,
  ],
  [
    'make-chroot',
    { packages: 'hello', arch: 'armv7' },
    /^InputError: Input "arch": "armv7" is not one of i686, x86_64\.$/m,
  ],
  [
    'deploy-fleet',
    { host: '127.0.0.1', 'ssh-key': 'k', 'known-hosts': 'k', image: 'NOT A REF' },
    /^InputError: Input "image": reference "NOT A REF"/m,
  ],
])(
  '%s refuses a bad input from its own code',
  (action, given, refusal) => {
    const run = localAction(action, given);
    expect(run.log).not.toMatch(/SyntaxError/);
    expect(run.log).toMatch(refusal);
    expect(run.code).toBe(1);
  },
  120_000,
);
