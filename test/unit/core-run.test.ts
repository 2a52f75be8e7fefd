import { afterEach, expect, jest, test } from '@jest/globals';
import { runAction, wrongPlatform } from '../../actions/core/src/run.js';

afterEach(() => {
  jest.restoreAllMocks();
  process.exitCode = undefined;
});

test('off Linux the one line names the platform', () => {
  expect(wrongPlatform('linux')).toBeUndefined();
  expect(wrongPlatform('darwin')).toBe('arch-core actions run on Linux runners (this is macOS)');
  expect(wrongPlatform('win32')).toBe('arch-core actions run on Linux runners (this is Windows)');
  expect(wrongPlatform('freebsd')).toBe('arch-core actions run on Linux runners (this is freebsd)');
});

/** Runs runAction on `platform` with process.exit and stdout caught; gives what it did. */
async function runOn(platform: NodeJS.Platform) {
  const written: string[] = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
  const exit = jest.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
  const main = jest.fn(async () => undefined);
  await runAction(main, platform);
  jest.restoreAllMocks();
  return {
    mainCalls: main.mock.calls.length,
    exitCodes: exit.mock.calls.map(([code]) => code),
    written,
  };
}

test.each([
  ['darwin', 'macOS'],
  ['win32', 'Windows'],
] as const)('on %s the action fails at once, before main runs', async (platform, name) => {
  const run = await runOn(platform);
  expect(run.mainCalls).toBe(0);
  expect(run.exitCodes).toEqual([1]);
  expect(run.written.join('')).toBe(
    `::error::arch-core actions run on Linux runners (this is ${name})\n`,
  );
});

test('on Linux main runs', async () => {
  const run = await runOn('linux');
  expect(run.mainCalls).toBe(1);
  expect(run.exitCodes).toEqual([0]);
  expect(run.written.join('')).toBe('');
});
