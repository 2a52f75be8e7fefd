import * as core from '../../core/src/runner.js';
import { UserError, messageOf } from '../../core/src/errors.js';
import { rawInputsFromEnv } from '../../core/src/inputs.js';
import { held } from '../../core/src/post.js';
import { connectSsh } from '../../core/src/ssh-connect.js';
import { openEtcd } from './etcd.js';
import { parseInputs } from './inputs.js';
import { LOCK_STATE, LOCK_TTL_SECONDS, releaseLock, type HeldLock } from './lock.js';
import { stopServices } from './services.js';

/** The state name of the open update window: where, and which update-services run there. */
export const WINDOW_STATE = 'update-window';

interface UpdateWindow {
  host: string;
  port: number;
  user: string;
  services: string[];
}

/**
 * The post step: after a cancelled or failed run that left the update window open, connects to
 * the master again (same SSH inputs, host key verified) and stops the update-services still
 * running there; after a clean run there is nothing to do. Fails naming what is left running.
 */
export async function post(): Promise<void> {
  // First the lock: it lives in etcd, which closing the window stops.
  const lock = held<HeldLock>(LOCK_STATE);
  if (lock) await releaseLeftLock(lock);
  const window = held<UpdateWindow>(WINDOW_STATE);
  if (!window) {
    core.info('deploy-fleet post: no update window was left open; nothing to clean up.');
    return;
  }
  const where = `${window.user}@${window.host}:${window.port}`;
  const services = window.services.join(', ');
  core.info(`deploy-fleet post: the update window on ${where} is still open (${services}).`);
  const { ssh } = parseInputs(rawInputsFromEnv());
  let left: string[];
  try {
    const { host, port, user } = window;
    const connection = await connectSsh({ ...ssh, host, port, user, readyTimeoutMs: 20_000 });
    try {
      left = await stopServices(connection, window.services);
    } finally {
      await connection.close();
    }
  } catch (error) {
    throw new UserError(
      `Could not close the update window on ${where}: ${messageOf(error)}. Still running there: ${services}.`,
    );
  }
  if (left.length > 0) {
    throw new UserError(`Left running on ${where}: ${left.join(', ')}. Stop them by hand.`);
  }
  core.info(`deploy-fleet post: the update window on ${where} is closed.`);
}

/** Releases a deploy lock the main step still held (compare-and-delete: only if still its own). */
async function releaseLeftLock(lock: HeldLock): Promise<void> {
  const where = `${lock.user}@${lock.host}:${lock.port}`;
  core.info(`deploy-fleet post: the deploy lock ${lock.key} on ${where} is still held.`);
  const { ssh } = parseInputs(rawInputsFromEnv());
  try {
    const { host, port, user } = lock;
    const connection = await connectSsh({ ...ssh, host, port, user, readyTimeoutMs: 20_000 });
    try {
      const { etcd, close } = await openEtcd(connection, lock.etcd);
      await releaseLock(etcd, lock.key, lock.value).finally(close);
    } finally {
      await connection.close();
    }
  } catch (error) {
    core.warning(
      `Could not release the deploy lock ${lock.key} on ${where} (${messageOf(error)}); it expires by itself within ${LOCK_TTL_SECONDS} s.`,
    );
  }
}
