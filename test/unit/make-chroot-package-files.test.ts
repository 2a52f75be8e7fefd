import { describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { installedPackageFiles } from '../../actions/make-chroot/src/package-files.js';

const hex = (text: string) => createHash('sha256').update(text).digest('hex');
const pkg = (name: string, version: string, arch = 'x86_64') => ({
  name,
  version,
  arch,
  installedSize: 1,
});

describe('the file each installed package came from', () => {
  test("pacman's cache first, then a local repository; a missing file is left out", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'package-files-'));
    const cache = path.join(dir, 'cache');
    const repo = path.join(dir, 'repo');
    await fs.mkdir(cache);
    await fs.mkdir(repo);
    const write = (where: string, name: string) =>
      fs.writeFile(path.join(where, name), name + where);
    await write(cache, 'foo-1.0-1-x86_64.pkg.tar.zst');
    await write(repo, 'foo-1.0-1-x86_64.pkg.tar.zst');
    await write(repo, 'foo-1.0-1-x86_64.pkg.tar.zst.sig');
    await write(repo, 'foo-bar-2-1-any.pkg.tar.xz');
    await write(repo, 'lib-1:2.0-3-x86_64.pkg.tar.xz');
    try {
      const found = await installedPackageFiles(
        [
          pkg('foo', '1.0-1'),
          pkg('foo-bar', '2-1', 'any'),
          pkg('lib', '1:2.0-3'),
          pkg('gone', '1-1'),
        ],
        [cache, repo, path.join(dir, 'absent')],
      );
      expect(Object.fromEntries(found)).toEqual({
        foo: {
          file: 'foo-1.0-1-x86_64.pkg.tar.zst',
          sha256: hex(`foo-1.0-1-x86_64.pkg.tar.zst${cache}`),
        },
        'foo-bar': {
          file: 'foo-bar-2-1-any.pkg.tar.xz',
          sha256: hex(`foo-bar-2-1-any.pkg.tar.xz${repo}`),
        },
        lib: {
          file: 'lib-1:2.0-3-x86_64.pkg.tar.xz',
          sha256: hex(`lib-1:2.0-3-x86_64.pkg.tar.xz${repo}`),
        },
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
