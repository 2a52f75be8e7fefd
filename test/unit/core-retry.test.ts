import { TransientError, withRetries } from '../../actions/core/src/retry.js';

const fast = { firstDelayMs: 1, maxDelayMs: 4 };

test('a transient failure is retried until an attempt succeeds', async () => {
  const seen: number[] = [];
  const result = await withRetries(
    async (number) => {
      seen.push(number);
      if (number < 3) throw new TransientError('hiccup');
      return 'done';
    },
    { ...fast, retries: 5 },
  );
  expect(result).toBe('done');
  expect(seen).toEqual([1, 2, 3]);
});

test('retries are bounded, and giveUp says how many attempts were made', async () => {
  const retried: Array<[number, number]> = [];
  await expect(
    withRetries(
      async () => {
        throw new TransientError('down');
      },
      {
        ...fast,
        retries: 2,
        onRetry: (_error, retry, delay) => retried.push([retry, delay]),
        giveUp: (error, attempts, retryable) =>
          new Error(`${(error as Error).message} after ${attempts} (${retryable})`),
      },
    ),
  ).rejects.toThrow('down after 3 (true)');
  expect(retried).toEqual([
    [1, 1],
    [2, 2],
  ]);
});

test('a failure that is not retryable is thrown at once', async () => {
  let attempts = 0;
  await expect(
    withRetries(
      async () => {
        attempts++;
        throw new Error('wrong password');
      },
      { ...fast, retries: 5 },
    ),
  ).rejects.toThrow('wrong password');
  expect(attempts).toBe(1);
});

test('a deadline ends the retries before a wait would pass it', async () => {
  let attempts = 0;
  const started = Date.now();
  await expect(
    withRetries(
      async () => {
        attempts++;
        throw new TransientError('still 503');
      },
      { firstDelayMs: 20, maxDelayMs: 20, deadline: started + 70 },
    ),
  ).rejects.toThrow('still 503');
  expect(attempts).toBeGreaterThanOrEqual(2);
  expect(Date.now() - started).toBeLessThan(70 + 20);
});
