/**
 * One retry-with-backoff loop for every place that talks to something that can hiccup: the
 * registry, SSH connects, the fleet API. The caller says which failures are worth another
 * attempt, how many attempts or until when, and how giving up reads; the loop only waits and
 * counts.
 */

/** A failure worth another attempt (the network or the server hiccupped). */
export class TransientError extends Error {
  override name = 'TransientError';
}

export interface RetryPolicy {
  /** Retries after the first attempt; unbounded when only `deadline` bounds the loop. */
  retries?: number;
  /** Epoch milliseconds: no wait may end after it. */
  deadline?: number;
  /** The first wait; each next one doubles, up to `maxDelayMs`. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** Whether `error` is worth another attempt (default: it is a TransientError). */
  retryable?: (error: unknown) => boolean;
  /** Told before each wait, e.g. to log "retry 2 of 5 in 1.0 s". */
  onRetry?: (error: unknown, retry: number, delayMs: number) => void;
  /**
   * What to throw when no attempt is left (`attempts` made so far) or the error is not
   * retryable (`retryable` false); default: the error itself.
   */
  giveUp?: (error: unknown, attempts: number, retryable: boolean) => unknown;
}

export async function withRetries<T>(
  attempt: (number: number) => Promise<T>,
  policy: RetryPolicy,
): Promise<T> {
  const retryable = policy.retryable ?? ((error) => error instanceof TransientError);
  let delay = policy.firstDelayMs;
  for (let number = 1; ; number++) {
    try {
      return await attempt(number);
    } catch (error) {
      const worthIt = retryable(error);
      const outOfRetries = policy.retries !== undefined && number > policy.retries;
      const pastDeadline = policy.deadline !== undefined && Date.now() + delay > policy.deadline;
      if (!worthIt || outOfRetries || pastDeadline) {
        throw policy.giveUp ? policy.giveUp(error, number, worthIt) : error;
      }
      policy.onRetry?.(error, number, delay);
      await sleep(delay);
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}

export function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
