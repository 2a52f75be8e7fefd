import { afterAll, beforeAll, expect, test } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBundle } from '../helpers/bundle.js';

// Each bundle on a macOS or Windows runner, as far as its own code can tell: process.platform is
// set before the bundle loads (a preload module). It must fail with the one line and nothing
// else: no input read, no tool looked for.

const ACTIONS = ['build-package', 'make-chroot', 'import-image', 'make-iso', 'deploy-fleet'];
const PLATFORMS = [
  ['darwin', 'macOS'],
  ['win32', 'Windows'],
] as const;
let preload: string;

beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arch-core-platform-'));
  preload = path.join(dir, 'platform.mjs');
  fs.writeFileSync(
    preload,
    "Object.defineProperty(process, 'platform', { value: process.env.FAKED_PLATFORM });\n",
  );
});

afterAll(() => {
  fs.rmSync(path.dirname(preload), { recursive: true, force: true });
});

test.each(
  ACTIONS.flatMap((action) => PLATFORMS.map(([platform, name]) => [action, platform, name])),
)('%s on %s fails at once', async (action, platform, name) => {
  const run = await runBundle(
    action,
    {},
    {
      NODE_OPTIONS: `--import=${preload}`,
      FAKED_PLATFORM: platform,
    },
  );
  expect(run.code).toBe(1);
  expect(run.log.trim()).toBe(`::error::arch-core actions run on Linux runners (this is ${name})`);
  expect(run.outputs).toEqual({});
});
