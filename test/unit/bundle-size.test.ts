import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test } from '@jest/globals';
import { projectRoot } from '../../scripts/lib/project-root.js';

// Every bundle stays within 2 MB: dist/ is committed and every run of an action downloads it.
// scripts/test.sh rebuilds dist/ (the stale-bundle check) before the unit tests, so these are
// the sizes of what the sources make.

const LIMIT_KIB = 2048;

/** What scripts/build.mjs bundles: each actions/<name> with a src/index.ts. */
const bundled = fs
  .readdirSync(path.join(projectRoot, 'actions'))
  .filter((name) => fs.existsSync(path.join(projectRoot, 'actions', name, 'src', 'index.ts')))
  .sort();

function sizeKib(dir: string): number {
  let bytes = 0;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) bytes += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return bytes / 1024;
}

test('there are the five actions and the cli to measure', () => {
  expect(bundled).toEqual([
    'build-package',
    'cli',
    'deploy-fleet',
    'import-image',
    'make-chroot',
    'make-iso',
  ]);
});

test.each(bundled)(`dist/%s is at most ${LIMIT_KIB} KiB`, (name) => {
  const dir = path.join(projectRoot, 'dist', name);
  expect(fs.existsSync(path.join(dir, 'index.js'))).toBe(true);
  expect(sizeKib(dir)).toBeLessThanOrEqual(LIMIT_KIB);
});
