import * as core from '../../core/src/runner.js';
import { UserError } from '../../core/src/errors.js';
import type { SshConnection } from '../../core/src/ssh-connection.js';

/**
 * update-services: the units (etcd, the registry) that run on the master only during a deploy
 * (docs/update-window.md): `sudo systemctl start UNIT` before, `sudo systemctl stop UNIT` after.
 */
export function systemctlArgv(verb: 'start' | 'stop', unit: string): string[] {
  return ['sudo', 'systemctl', verb, unit];
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-3).join(' / ');
}

/**
 * Starts each unit in order; `started` records every unit a start was tried for, and `record`
 * is told each time before that start (so a cancel during it still knows the unit).
 */
export async function startServices(
  connection: SshConnection,
  units: string[],
  started: string[],
  record: (started: readonly string[]) => void = () => undefined,
): Promise<void> {
  if (units.length === 0) {
    core.info('update-services is empty: nothing to start.');
    return;
  }
  for (const unit of units) {
    started.push(unit);
    record(started);
    const result = await connection.exec(systemctlArgv('start', unit));
    if (result.code !== 0) {
      throw new UserError(
        `Could not start ${unit} on the master (sudo systemctl start exited ${result.code}): ${tail(result.stderr) || 'no message'}`,
      );
    }
    core.info(`started ${unit}`);
  }
}

/**
 * After a stop, a unit should be inactive. A failed one (say, a main process that exited non-zero
 * on SIGTERM) would leave the master degraded: its journal's last lines go into a warning and its
 * failed state is reset.
 */
async function checkStopped(connection: SshConnection, unit: string): Promise<void> {
  const state = (await connection.exec(['systemctl', 'is-active', unit])).stdout.trim();
  if (state === 'inactive') {
    core.info(`stopped ${unit}`);
    return;
  }
  const journal = await connection.exec([
    'sudo',
    'journalctl',
    '-u',
    unit,
    '-n',
    '20',
    '--no-pager',
  ]);
  const reset = await connection.exec(['sudo', 'systemctl', 'reset-failed', unit]);
  const done =
    reset.code === 0
      ? `its failed state was reset (systemctl reset-failed ${unit})`
      : `systemctl reset-failed ${unit} exited ${reset.code}: reset it by hand`;
  core.warning(
    `${unit} on the master ended ${state || 'in an unknown state'} after its stop, not inactive; ${done}. Its journal's last lines:\n${journal.stdout.trim() || journal.stderr.trim() || '(empty)'}`,
  );
}

/**
 * Stops the units in reverse order; a failure is a warning (the deploy's result stands).
 * Returns the units it could not stop.
 */
export async function stopServices(
  connection: SshConnection,
  units: readonly string[],
): Promise<string[]> {
  if (units.length === 0) {
    core.info('no update-services to stop.');
    return [];
  }
  const left: string[] = [];
  for (const unit of [...units].reverse()) {
    try {
      const result = await connection.exec(systemctlArgv('stop', unit));
      if (result.code === 0) await checkStopped(connection, unit);
      else {
        left.push(unit);
        core.warning(
          `Could not stop ${unit} on the master (sudo systemctl stop exited ${result.code}): ${tail(result.stderr) || 'no message'}. Stop it by hand.`,
        );
      }
    } catch (error) {
      left.push(unit);
      core.warning(
        `Could not stop ${unit} on the master: ${(error as Error).message}. Stop it by hand.`,
      );
    }
  }
  return left.reverse();
}
