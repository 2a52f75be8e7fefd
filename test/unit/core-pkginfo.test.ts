import { describe, expect, test } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isPackageFileName, parsePkginfo } from '../../actions/core/src/pkginfo.js';
import { projectRoot } from '../helpers/bundle.js';

describe('parsePkginfo', () => {
  test('reads every field makepkg writes', async () => {
    const text = await fs.readFile(
      path.join(projectRoot, 'test/fixtures/build-package/demo.PKGINFO'),
      'utf8',
    );
    const info = parsePkginfo(text);
    expect(info).toMatchObject({
      name: 'demo',
      base: 'demo-base',
      version: '1:1.2.r3.0a1b2c3d4e5f-2',
      description: 'A demo = with an equals sign',
      url: undefined,
      arch: 'i686',
      installedSize: 12345,
      packager: 'Unknown Packager',
      buildDate: 1700000000,
      licenses: ['MIT', 'GPL-2.0-only'],
      depends: ['glibc', 'bash>=5'],
      optDepends: ['curl: for downloads'],
      makeDepends: ['mercurial'],
      provides: ['demo-bin=1.2'],
      backup: ['etc/demo.conf'],
      conflicts: [],
      groups: [],
    });
    expect(info.fields.url).toEqual(['']);
  });

  test('pkgbase defaults to the name', () => {
    expect(parsePkginfo('pkgname = a\npkgver = 1-1\narch = any\n').base).toBe('a');
  });

  test.each([
    ['no pkgname', 'pkgver = 1-1\narch = any\n', /lacks pkgname/],
    ['not key = value', 'pkgname = a\ngarbage line\n', /"garbage line" is not a "key = value"/],
  ])('%s is refused', (_what, text, message) => {
    expect(() => parsePkginfo(text, 'x.pkg.tar.zst')).toThrow(message);
  });
});

describe('package file names', () => {
  test.each([
    ['hello-1-1-x86_64.pkg.tar.zst', true],
    ['hello-1-1-i686.pkg.tar.xz', true],
    ['/a/b/hello-1-1-any.pkg.tar', true],
    ['hello-1-1-x86_64.pkg.tar.zst.sig', false],
    ['hello-1-1-x86_64.pkg.tar.zst.arch-core.json', false],
    ['arch-core.db.tar.gz', false],
  ])('%s is a package file: %s', (name, expected) => {
    expect(isPackageFileName(name)).toBe(expected);
  });
});
