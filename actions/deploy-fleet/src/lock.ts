import * as core from '../../core/src/runner.js';
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import { UserError, messageOf } from '../../core/src/errors.js';
import type { HostPort } from '../../core/src/host-port.js';
import { hold, release } from '../../core/src/post.js';
import { sleep } from '../../core/src/retry.js';
import { EtcdUnreachableError, type EtcdClient, type EtcdNode } from './etcd.js';

/**
 * The deploy lock (docs/dev/deploy-lock.md): one etcd key per unit, created only if absent
 * (prevExist=false) with a short TTL that this run refreshes while it deploys, and deleted at
 * the end only if it still holds the value this run wrote (prevValue), so that one run never
 * removes another's lock. A run that finds it taken watches the key until its deadline. A lock
 * lost while deploying stops the deploy before its next change to the cluster.
 */

/** The state name of a lock this run holds, for the post step. */
export const LOCK_STATE = 'deploy-lock';
export const LOCK_TTL_SECONDS = 30;
/** A third of the TTL: two refreshes may fail before the lock expires. */
const REFRESH_EVERY_MS = (LOCK_TTL_SECONDS * 1000) / 3;
/** The wait between tries while etcd does not answer yet. */
const POLL_INTERVAL_MS = 500;
/** How long one watch of a held lock lasts before the key is read again (and the holder named). */
const WATCH_MS = 10_000;
/**
 * After a release, how long the releasing run watches for another run taking the lock (a waiter
 * watching the key takes it within milliseconds).
 */
const HANDOVER_MS = 1000;

export function lockKey(unit: string): string {
  return `/arch-core/deploy-fleet/locks/${unit}`;
}

/** Who runs this deploy: the workflow run when on a runner, else user@host and pid. */
export interface RunIdentity {
  owner: string;
  run: string;
  /** The run's page, when the runner says where it is. */
  runUrl?: string;
}

export function thisRun(env: NodeJS.ProcessEnv = process.env): RunIdentity {
  const { GITHUB_ACTOR, GITHUB_REPOSITORY, GITHUB_SERVER_URL, GITHUB_RUN_ID } = env;
  const owner = GITHUB_ACTOR
    ? `${GITHUB_ACTOR}${GITHUB_REPOSITORY ? ` (${GITHUB_REPOSITORY})` : ''}`
    : `${os.userInfo().username}@${os.hostname()}`;
  if (!GITHUB_RUN_ID) return { owner, run: `pid ${process.pid}` };
  const attempt = env.GITHUB_RUN_ATTEMPT ? ` attempt ${env.GITHUB_RUN_ATTEMPT}` : '';
  const runUrl =
    GITHUB_SERVER_URL && GITHUB_REPOSITORY
      ? `${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}`
      : undefined;
  return { owner, run: `run ${GITHUB_RUN_ID}${attempt}`, runUrl };
}

/** What the lock key holds (JSON); `token` makes each run's value unique. */
export interface LockHolder extends RunIdentity {
  unit: string;
  image: string;
  since: string;
  token: string;
}

/** The holder as one phrase: "alice (org/app), run 42 <url>, since …, expires in 25 s". */
export function holderText(node: EtcdNode): string {
  let holder: Partial<LockHolder> = {};
  try {
    holder = JSON.parse(node.value ?? '') as Partial<LockHolder>;
  } catch {
    return `"${(node.value ?? '').slice(0, 120)}" (not written by deploy-fleet)`;
  }
  const run = holder.runUrl ? `${holder.run} ${holder.runUrl}` : holder.run;
  const parts = [
    holder.owner ?? 'an unknown owner',
    run,
    holder.image && `deploying ${holder.image}`,
  ];
  if (holder.since) parts.push(`since ${holder.since}`);
  if (node.ttl !== undefined) parts.push(`expires in ${node.ttl} s unless renewed`);
  return parts.filter(Boolean).join(', ');
}

/** The lock stayed another run's until the deadline. */
export class LockHeldError extends UserError {
  override name = 'LockHeldError';
}

/** The lock stopped being this run's while it deployed: no change may be made after that. */
export class LockLostError extends UserError {
  override name = 'LockLostError';
}

/** What the post step needs to release a lock this run still holds. */
export interface HeldLock {
  host: string;
  port: number;
  user: string;
  etcd: HostPort;
  key: string;
  value: string;
}

export interface LockRequest {
  unit: string;
  image: string;
  /** Remove a lock someone else holds (once, with a warning), then take it. */
  forceUnlock: boolean;
  /** Date.now() value until which to wait for the lock. */
  deadline: number;
  /** Where the post step finds it again. */
  where: Omit<HeldLock, 'key' | 'value'>;
  /**
   * Told when etcd stops answering after it did: the run this one waited for closed the update
   * window as it finished, and it has to be opened again.
   */
  reopenWindow: () => Promise<void>;
}

/** A lock this run holds: refreshed on a timer until released. */
export interface DeployLock {
  /**
   * Before a change to the cluster (`change`, e.g. "PUT /units/x"): renews the lock, and throws
   * a LockLostError when it is no longer this run's, or could not be renewed for a whole TTL.
   */
  ensureHeld(change: string): Promise<void>;
  release(): Promise<void>;
}

/** Takes the unit's lock, waiting while another run holds it; fails at the deadline naming it. */
export async function acquireLock(etcd: EtcdClient, request: LockRequest): Promise<DeployLock> {
  const key = lockKey(request.unit);
  const value = JSON.stringify({
    ...thisRun(),
    unit: request.unit,
    image: request.image,
    since: new Date().toISOString(),
    token: randomUUID(),
  } satisfies LockHolder);
  const startedAt = Date.now();
  let forced = false;
  let lastSeen: string | undefined;
  for (;;) {
    if (await untilReachable(() => etcd.create(key, value, LOCK_TTL_SECONDS), etcd, request)) {
      hold(LOCK_STATE, { ...request.where, key, value } satisfies HeldLock);
      core.info(
        `deploy lock: ${key} taken in etcd at ${etcd.where} (TTL ${LOCK_TTL_SECONDS} s, renewed while deploying).`,
      );
      return heldLock(etcd, key, value);
    }
    const current = await untilReachable(() => etcd.get(key), etcd, request);
    if (!current) continue; // released or expired between the two requests
    if (request.forceUnlock && !forced) {
      forced = true;
      core.warning(
        `force-unlock: removing the deploy lock of ${request.unit} held by ${holderText(current)}.`,
      );
      await etcd.compareAndDelete(key, current.value ?? '');
      continue;
    }
    if (current.value !== lastSeen) {
      core.info(`deploy lock: ${request.unit} is held by ${holderText(current)}; waiting.`);
      lastSeen = current.value;
    }
    const left = request.deadline - Date.now();
    if (left <= 0) {
      const waited = ((Date.now() - startedAt) / 1000).toFixed(1);
      throw new LockHeldError(
        `deploy lock: ${request.unit} is held by ${holderText(current)}; gave up after waiting ${waited} s (timeout). If that run is gone, rerun with force-unlock: true.`,
      );
    }
    // Woken by the release or the expiry as it happens, not at the next poll.
    const after = current.modifiedIndex + 1;
    await untilReachable(() => etcd.watch(key, after, Math.min(left, WATCH_MS)), etcd, request);
  }
}

/** The clients whose etcd answered the last request. */
const answered = new WeakSet<EtcdClient>();

/** Runs an etcd request, retrying while etcd does not answer yet (it may be starting). */
async function untilReachable<T>(
  attempt: () => Promise<T>,
  etcd: EtcdClient,
  request: Pick<LockRequest, 'deadline' | 'reopenWindow'>,
): Promise<T> {
  let said = false;
  for (;;) {
    try {
      const answer = await attempt();
      answered.add(etcd);
      return answer;
    } catch (error) {
      if (!(error instanceof EtcdUnreachableError)) throw error;
      if (answered.delete(etcd)) {
        core.info(
          `deploy lock: etcd at ${etcd.where} stopped answering; starting update-services again.`,
        );
        await request.reopenWindow();
        continue;
      }
      if (Date.now() + POLL_INTERVAL_MS > request.deadline) {
        throw new UserError(
          `deploy lock: ${messageOf(error)} until the timeout. Is etcd among update-services, and is etcd-endpoint where it listens?`,
        );
      }
      if (!said) core.info(`deploy lock: etcd at ${etcd.where} does not answer yet; waiting.`);
      said = true;
      await sleep(POLL_INTERVAL_MS);
    }
  }
}

function heldLock(etcd: EtcdClient, key: string, value: string): DeployLock {
  let lost: string | undefined;
  /** When the last renewal that etcd took was sent: the lease lasts a TTL from then at least. */
  let renewedAt = Date.now();
  const renew = async (): Promise<void> => {
    const sentAt = Date.now();
    if (await etcd.refresh(key, value, LOCK_TTL_SECONDS)) renewedAt = sentAt;
    else if (!lost) {
      const now = await etcd.get(key).catch(() => undefined);
      lost = now ? `now held by ${holderText(now)}` : 'expired, or removed by force-unlock';
      core.warning(
        `deploy lock: ${key} is no longer this run's (${lost}): the deploy stops before its next change to the cluster.`,
      );
    }
  };
  const timer = setInterval(() => {
    renew().catch((error: unknown) =>
      core.warning(`deploy lock: renewing ${key} failed: ${messageOf(error)}`),
    );
  }, REFRESH_EVERY_MS);
  timer.unref();
  const lostError = (change: string, why: string) =>
    new LockLostError(
      `deploy lock: ${key} is no longer this run's (${why}): stopped before ${change}, without a rollback, since another deploy may be changing the unit now. Each machine's unit is listed below as it was left.`,
    );
  return {
    async ensureHeld(change) {
      if (!lost) {
        try {
          await renew();
        } catch (error) {
          // etcd may be briefly out of reach: the lease still runs a TTL from the last renewal.
          if (Date.now() - renewedAt >= LOCK_TTL_SECONDS * 1000) {
            throw lostError(
              change,
              `not renewed for ${LOCK_TTL_SECONDS} s, so it may have expired: ${messageOf(error)}`,
            );
          }
        }
      }
      if (lost) throw lostError(change, lost);
    },
    async release() {
      clearInterval(timer);
      await releaseLock(etcd, key, value);
      release(LOCK_STATE);
    },
  };
}

/** Deletes the lock if it still holds `value` (compare-and-delete); says what it found. */
export async function releaseLock(etcd: EtcdClient, key: string, value: string): Promise<void> {
  if (await etcd.compareAndDelete(key, value)) {
    core.info(`deploy lock: ${key} released.`);
    return;
  }
  const now = await etcd.get(key);
  core.warning(
    now
      ? `deploy lock: ${key} is held by ${holderText(now)} now, not by this run: left as it is.`
      : `deploy lock: ${key} was already gone (expired, or removed by force-unlock).`,
  );
}

/**
 * After a release: the run that took the lock since, which then needs the update window this run
 * would otherwise close. Watches the key from the release on, for HANDOVER_MS at most.
 */
export async function nextHolder(etcd: EtcdClient, unit: string): Promise<string | undefined> {
  const key = lockKey(unit);
  const releasedAt = etcd.index;
  const changed = await etcd.watch(key, releasedAt + 1, HANDOVER_MS).catch(() => true);
  if (!changed) return undefined;
  const node = await etcd.get(key).catch(() => undefined);
  return node ? holderText(node) : undefined;
}
