// make-iso against the bare reference tool, measured in the same run: the whole action (dist bundle
// run as the runner runs it: inputs, rendering, the lock-down audit, two config-drive ISOs) versus
// xorriso alone making the same two ISOs from ready-made trees, and genisoimage for comparison.
// Median of several runs; prints ratios. Not part of the test suite (npm run bench make-iso).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const runs = Number(process.env.BENCH_RUNS ?? 7);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-make-iso-'));
const key =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAng9LZAeeOPNwbZppn72ntCPDL/DVLRhwNjiL+8ReE0 ops@example';

function timed(command, args, env = process.env) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) {
    throw new Error(`${command} failed: ${result.stderr.toString()}${result.stdout.toString()}`);
  }
  return seconds;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

try {
  const inputs = {
    'ssh-authorized-keys': key,
    'master-address': '10.0.0.10',
    'fleet-sha256': '0'.repeat(64),
    format: 'config-drive',
    'image-base-url': 'http://127.0.0.1:9/x',
  };
  const defaults = {
    role: 'both',
    'ssh-port': '2222',
    'allow-default-ports': 'false',
    'etcd-client-port': '12379',
    'registry-port': '15000',
    channel: 'stable',
    'download-image': 'false',
  };
  const actionEnv = (output) => {
    const env = { ...process.env, RUNNER_TEMP: work, SOURCE_DATE_EPOCH: '1764000000' };
    for (const [name, value] of Object.entries({ ...defaults, ...inputs, output })) {
      env[`INPUT_${name.toUpperCase()}`] = value;
    }
    env.GITHUB_OUTPUT = path.join(work, 'github-output');
    fs.writeFileSync(env.GITHUB_OUTPUT, '');
    return env;
  };

  // Trees for the reference tools: the cloud-configs the action wrote, at the config-drive path.
  const first = path.join(work, 'first');
  timed(process.execPath, [path.join(root, 'dist', 'make-iso', 'index.js')], actionEnv(first));
  const trees = ['master', 'slave'].map((role) => {
    const tree = path.join(work, `tree-${role}`);
    fs.mkdirSync(path.join(tree, 'openstack', 'latest'), { recursive: true });
    fs.copyFileSync(
      path.join(first, `${role}.cloud-config.yml`),
      path.join(tree, 'openstack', 'latest', 'user_data'),
    );
    return tree;
  });

  const measure = (label, once) => {
    const times = [];
    for (let index = 0; index < runs; index++) times.push(once(index));
    const value = median(times);
    console.log(`${label.padEnd(44)} median ${(value * 1000).toFixed(0)} ms of ${runs}`);
    return value;
  };
  const action = measure('make-iso (render, audit, 2 ISOs, node start)', (index) =>
    timed(
      process.execPath,
      [path.join(root, 'dist', 'make-iso', 'index.js')],
      actionEnv(path.join(work, `out-${index}`)),
    ),
  );
  const xorriso = measure('xorriso -as mkisofs, 2 ISOs', (index) =>
    trees.reduce(
      (sum, tree, role) =>
        sum +
        timed(
          'xorriso',
          [
            '-as',
            'mkisofs',
            '-o',
            path.join(work, `x-${index}-${role}.iso`),
            '-V',
            'config-2',
            '-R',
            '-J',
            tree,
          ],
          { ...process.env, SOURCE_DATE_EPOCH: '1764000000' },
        ),
      0,
    ),
  );
  const genisoimage = measure('genisoimage, 2 ISOs', (index) =>
    trees.reduce(
      (sum, tree, role) =>
        sum +
        timed('genisoimage', [
          '-quiet',
          '-o',
          path.join(work, `g-${index}-${role}.iso`),
          '-V',
          'config-2',
          '-R',
          '-J',
          '-input-charset',
          'utf-8',
          tree,
        ]),
      0,
    ),
  );
  console.log(`ratio make-iso / xorriso alone:     ${(action / xorriso).toFixed(2)}`);
  console.log(`ratio make-iso / genisoimage alone: ${(action / genisoimage).toFixed(2)}`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
