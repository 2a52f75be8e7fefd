import * as core from '@actions/core';
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
      if (result.code === 0) core.info(`stopped ${unit}`);
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
