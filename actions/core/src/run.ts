import * as core from '@actions/core';
import { UserError, messageOf } from './errors.js';

/**
 * The entry of every action: runs `main`, turns any throw into a failed step, and exits
 * explicitly so that a stray socket or timer cannot keep the job hanging.
 *
 * A UserError fails with its message only; a bug also logs its stack at debug level; an
 * AggregateError reports each of its causes.
 */
export async function runAction(main: () => Promise<void>): Promise<never> {
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
