import * as core from './runner.js';
import { messageOf } from './errors.js';
import { signalRunningCommands } from './exec.js';
import { runAction } from './run.js';

/**
 * Post steps (`runs.post` in action.yml, docs/dev/contracts.md "Post steps"): the same bundle
 * runs twice. The main step saves `isPost` in GITHUB_STATE first thing, so the second run — the
 * post step, which the runner gives each saved name as STATE_<name> — knows it is the post step.
 * What the main step holds (an open update window, mounts, a build copy, temporaries) it records
 * with `hold` as soon as it holds it and clears with `release` once it gave it back, so the post
 * step cleans up only after a cancelled or failed run.
 */

const POST_FLAG = 'isPost';

/** How long a cancelled main step waits for the commands it runs to stop before it exits. */
const COMMANDS_GRACE_MS = 5_000;

export function isPostStep(): boolean {
  return core.getState(POST_FLAG) === 'true';
}

/** Records that the main step holds `value` under `name` (JSON in GITHUB_STATE). */
export function hold(name: string, value: unknown): void {
  core.saveState(name, JSON.stringify(value));
}

/** Records that the main step gave back what it held under `name`. */
export function release(name: string): void {
  core.saveState(name, '');
}

/** In the post step: what the main step still held under `name` when it ended. */
export function held<T>(name: string): T | undefined {
  const text = core.getState(name);
  return text ? (JSON.parse(text) as T) : undefined;
}

/**
 * The entry of an action with a post step: `main` in the main step, `post` in the post step.
 * A cancelled main step (SIGINT, SIGTERM) stops at once: it passes the signal on to the
 * commands it runs, waits for them briefly, and exits 130 / 143, leaving what it holds recorded
 * for the post step.
 */
export function runActionWithPost(main: () => Promise<void>, post: () => Promise<void>): void {
  if (isPostStep()) {
    void runAction(async () => {
      try {
        await post();
      } catch (error) {
        core.setFailed(`Cleaning up failed: ${messageOf(error)}`);
      }
    });
    return;
  }
  core.saveState(POST_FLAG, 'true');
  process.once('SIGINT', () => void stopCancelled('SIGINT', 130));
  process.once('SIGTERM', () => void stopCancelled('SIGTERM', 143));
  void runAction(main);
}

async function stopCancelled(signal: NodeJS.Signals, code: number): Promise<void> {
  // A second signal while waiting below should not kill the process before it says so.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  core.warning(`Cancelled (${signal}): stopping; the post step releases what this step holds.`);
  await signalRunningCommands(signal, COMMANDS_GRACE_MS);
  process.exit(code);
}
