import { describe, expect, test } from '@jest/globals';
import type { AppInfo } from '../../actions/core/src/manifest.js';
import {
  appOf,
  checkPrivileges,
  makeManifest,
  tarOwners,
} from '../../actions/make-chroot/src/main.js';

describe('manifest', () => {
  const installed = [
    { name: 'hello', version: '1.2.r14.0a1b2c3d4e5f-1', arch: 'i686', installedSize: 10 },
    { name: 'lib', version: '1-1', arch: 'i686', installedSize: 20 },
  ];
  const record: AppInfo = {
    name: 'hello',
    version: '1.2.r14.0a1b2c3d4e5f-1',
    vcs: 'hg',
    revision: '14',
    hash: '0a1b2c3d4e5f',
    commitTime: '2026-11-25T10:00:00Z',
  };
  const files = [
    { file: '/p/hello.pkg.tar.xz', name: 'hello', version: record.version, app: record },
  ];

  test('app from the record build-package left beside the package file', () => {
    expect(appOf(undefined, files, installed)).toEqual(record);
  });
  test('app named, with the record found beside its file in a local repository', () => {
    expect(appOf('hello', [], installed, record)).toEqual(record);
    expect(appOf('lib', [], installed, record)).toEqual({
      name: 'lib',
      version: '1-1',
      vcs: 'none',
    });
  });
  test('app named without a record: name and installed version', () => {
    expect(appOf('lib', [], installed)).toEqual({ name: 'lib', version: '1-1', vcs: 'none' });
  });
  test('no app without a record or a name', () => {
    expect(appOf(undefined, [{ ...files[0]!, app: undefined }], installed)).toBeUndefined();
  });
  test('an app that is not installed is an input error', () => {
    expect(() => appOf('nothere', [], installed)).toThrow(/Input "app"/);
  });
  test('schema 1, created in whole seconds, packages as installed', () => {
    const manifest = makeManifest('i686', record, installed, new Date(1_700_000_000_000));
    expect(manifest).toEqual({
      schemaVersion: 1,
      arch: 'i686',
      app: record,
      packages: installed,
      created: '2023-11-14T22:13:20Z',
    });
  });
  test('each package with the file it came from and its sha256, where found', () => {
    const found = { file: 'lib-1-1-i686.pkg.tar.zst', sha256: 'ab'.repeat(32) };
    const manifest = makeManifest(
      'i686',
      record,
      installed,
      new Date(0),
      new Map([['lib', found]]),
    );
    expect(manifest.packages).toEqual([installed[0], { ...installed[1], ...found }]);
  });
});

test('not root: fails at once naming what is needed', () => {
  expect(() => checkPrivileges(1000)).toThrow(/must run as root \(uid 0\).*fakeroot/);
  expect(() => checkPrivileges(0)).not.toThrow();
});

test('tarball owners: preserved, or all root under fakeroot', () => {
  expect(tarOwners({})).toBe('preserve');
  expect(tarOwners({ FAKEROOTKEY: '12345' })).toBe('root');
});
