import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { readPackageInfo } from '../../actions/core/src/pkginfo.js';
import { projectRoot } from '../helpers/bundle.js';

// Packages are assembled with bsdtar exactly as makepkg lays them out (.PKGINFO first, then the
// tree), and pacman itself (`pacman -Qip`) is the reference reader.

let work: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'pkginfo-test-'));
  const root = path.join(work, 'root');
  await fs.mkdir(path.join(root, 'usr/bin'), { recursive: true });
  await fs.writeFile(path.join(root, 'usr/bin/demo'), '#!/bin/sh\necho demo\n', { mode: 0o755 });
  await fs.copyFile(
    path.join(projectRoot, 'test/fixtures/build-package/demo.PKGINFO'),
    path.join(root, '.PKGINFO'),
  );
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

function pacmanField(file: string, field: string): string {
  const out = execFileSync('pacman', ['-Qip', file], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.startsWith(field));
  return (line ?? '').replace(/^[^:]*:\s*/, '').trim();
}

describe('reading real package files', () => {
  test.each([
    ['.pkg.tar.zst', '--zstd'],
    ['.pkg.tar.xz', '--xz'],
  ])('%s agrees with pacman -Qip', async (ext, flag) => {
    const file = path.join(work, `demo-1.2-2-i686${ext}`);
    execFileSync('bsdtar', [flag, '-cf', file, '-C', path.join(work, 'root'), '.PKGINFO', 'usr']);
    const info = await readPackageInfo(file);
    expect(info.name).toBe(pacmanField(file, 'Name'));
    expect(info.version).toBe(pacmanField(file, 'Version'));
    expect(info.arch).toBe(pacmanField(file, 'Architecture'));
    expect(info.depends.join('  ')).toBe(pacmanField(file, 'Depends On'));
  });

  test('a file that is not a package fails with one line naming it', async () => {
    const file = path.join(work, 'not-a-package.pkg.tar.zst');
    await fs.writeFile(file, 'plain text');
    await expect(readPackageInfo(file)).rejects.toThrow(
      /not-a-package\.pkg\.tar\.zst is not a readable pacman package/,
    );
  });
});
