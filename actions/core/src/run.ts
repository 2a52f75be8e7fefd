import * as core from './runner.js';
import { UserError, messageOf } from './errors.js';

const PLATFORM_NAMES: Partial<Record<NodeJS.Platform, string>> = {
  darwin: 'macOS',
  win32: 'Windows',
};

/**
 * The failure of a run on anything but Linux (the actions drive Linux tools: makepkg, pacman,
 * mount, ...), said before anything else is read or run; undefined on Linux.
 */
export function wrongPlatform(platform: NodeJS.Platform): string | undefined {
  if (platform === 'linux') return undefined;
  return `arch-core actions run on Linux runners (this is ${PLATFORM_NAMES[platform] ?? platform})`;
}

/**
 * The entry of every action: fails at once off Linux; otherwise runs `main`, turns any throw
 * into a failed step, and exits explicitly so that a stray socket or timer cannot keep the job
 * hanging. `platform` is there for the tests.
 *
 * A UserError fails with its message only; a bug also logs its stack at debug level; an
 * AggregateError reports each of its causes.
 */
export async function runAction(
  main: () => Promise<void>,
  platform: NodeJS.Platform = process.platform,
): Promise<never> {
  const wrong = wrongPlatform(platform);
  if (wrong) {
    core.setFailed(wrong);
    return process.exit(1);
  }
  try {
    await main();
  } catch (thrown) {
    reportFailure(thrown);
  }
  return process.exit(process.exitCode ?? 0);
}

/** Fails the step for `thrown`, logging the way runAction does. */
export function reportFailure(thrown: unknown): void {
  if (thrown instanceof AggregateError && thrown.errors.length > 0) {
    for (const cause of thrown.errors) core.error(messageOf(cause));
  }
  if (!(thrown instanceof UserError) && thrown instanceof Error && thrown.stack) {
    core.debug(thrown.stack);
  }
  core.setFailed(messageOf(thrown));
}
