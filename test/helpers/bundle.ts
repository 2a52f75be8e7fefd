import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  runActionLocally,
  type LocalRunOptions,
  type LocalRunResult,
} from '../../actions/cli/src/local-runner.js';
import { projectRoot } from '../../scripts/lib/project-root.js';

/** Re-exported for the tests, which import it beside runBundle. */
export { projectRoot };

/**
 * Runs dist/<action>/index.js the way the runner does: INPUT_* variables (with the action.yml
 * defaults), GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY files, then the post step.
 * Returns exit code, log and outputs (and the post step's code and log).
 */
export function runBundle(
  action: string,
  inputs: Record<string, string>,
  env: NodeJS.ProcessEnv = {},
  cancellation: Pick<LocalRunOptions, 'cancel' | 'onOutput'> = {},
): Promise<LocalRunResult> {
  return runActionLocally({
    actionDir: path.join(projectRoot, 'actions', action),
    bundle: path.join(projectRoot, 'dist', action, 'index.js'),
    inputs,
    env,
    node: bundleNode(),
    ...cancellation,
  });
}

/**
 * For runBundle: cancels the run as the runner does (SIGINT to the main step, or `signal`) as soon
 * as its log matches `pattern`, i.e. while it holds what that line says it holds.
 */
export function cancelWhenLogged(
  pattern: RegExp,
  signal: 'SIGINT' | 'SIGTERM' = 'SIGINT',
): Pick<LocalRunOptions, 'cancel' | 'onOutput'> {
  const controller = new AbortController();
  let log = '';
  return {
    cancel: controller.signal,
    onOutput: (text) => {
      log += text;
      if (pattern.test(log)) controller.abort(signal);
    },
  };
}

/**
 * The node binary the bundle tests run the bundles with: ARCH_CORE_TEST_NODE when set (scripts/test.sh
 * sets it to the Node 24 that scripts/setup.sh installs, for the second pass), else this one.
 */
export function bundleNode(): string {
  return process.env.ARCH_CORE_TEST_NODE || process.execPath;
}

/** The `::error::` lines of a run's log (what the runner shows as the step's failure). */
export function errorLines(log: string): string[] {
  return log
    .split('\n')
    .filter((line) => line.startsWith('::error'))
    .map((line) => line.replace(/^::error[^:]*::/, ''));
}

/**
 * A copy of dist/<action> in `dir`, for a test that runs the bundle as an unprivileged user: the
 * checkout may sit under a directory only root can enter (a clone into mkdtemp's 0700 directory),
 * and the user must still read the bundle. `dir` must be reachable by that user. Returns the copy's
 * index.js.
 */
export async function bundleCopyIn(action: string, dir: string): Promise<string> {
  const copy = path.join(dir, `dist-${action}`);
  await fs.cp(path.join(projectRoot, 'dist', action), copy, { recursive: true });
  await fs.chmod(copy, 0o755);
  return path.join(copy, 'index.js');
}

/**
 * The node of bundleNode(), where an unprivileged user can run it: the Node 24 that setup installs
 * sits in the checkout, which may be under a directory only root can enter, so it is copied into
 * `dir` (which that user must reach); the system's node is used as it is.
 */
export async function bundleNodeIn(dir: string): Promise<string> {
  const node = bundleNode();
  if (!node.startsWith(`${projectRoot}${path.sep}`)) return node;
  const copy = path.join(dir, 'node');
  await fs.copyFile(node, copy);
  await fs.chmod(copy, 0o755);
  return copy;
}
