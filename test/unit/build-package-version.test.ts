import { describe, expect, test } from '@jest/globals';
import {
  hgDefaultPath,
  isoUtc,
  parseHgLog,
  sanitizePkgver,
  vcsPkgver,
  withoutCredentials,
} from '../../actions/build-package/src/version.js';

describe('pkgver from VCS facts', () => {
  test.each([
    [{ revision: '14', hash: '0a1b2c3d4e5f' }, 'r14.0a1b2c3d4e5f'],
    [{ revision: '14', hash: '0a1b2c3d4e5f', tag: '1.2' }, '1.2.r14.0a1b2c3d4e5f'],
    [{ revision: '14', hash: '0a1b2c3d4e5f', tag: 'v1.2' }, '1.2.r14.0a1b2c3d4e5f'],
    [{ revision: '3', hash: 'abc1234', tag: 'V2.0-rc1' }, '2.0.rc1.r3.abc1234'],
    [{ revision: '3', hash: 'abc1234', tag: 'release/2.0 beta' }, 'release.2.0.beta.r3.abc1234'],
    [{ revision: '3', hash: 'abc1234', tag: 'version' }, 'version.r3.abc1234'],
  ])('%j → %s', (facts, expected) => {
    expect(vcsPkgver(facts)).toBe(expected);
  });

  test.each([
    ['1.0-rc1', '1.0.rc1'],
    ['a:b/c d', 'a.b.c.d'],
    ['x--y', 'x.y'],
    ['-lead', 'lead'],
  ])('sanitizePkgver(%s) = %s', (text, expected) => {
    expect(sanitizePkgver(text)).toBe(expected);
  });
});

describe('Mercurial output', () => {
  test('a tagged revision', () => {
    const node = '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567';
    expect(parseHgLog(`/r\n14\n0a1b2c3d4e5f\nv1.2\n1795600800 -3600\n${node}\n`)).toEqual({
      vcs: 'hg',
      root: '/r',
      revision: '14',
      hash: '0a1b2c3d4e5f',
      commit: node,
      tag: 'v1.2',
      commitTime: '2026-11-25T10:00:00Z',
    });
  });

  test('no tag is "null"; several tags are joined by ":"', () => {
    expect(parseHgLog('/r\n0\n0a1b2c3d4e5f\nnull\n0 0\n').tag).toBeUndefined();
    expect(parseHgLog('/r\n2\n0a1b2c3d4e5f\n1.0:stable\n0 0\n').tag).toBe('1.0');
  });

  test('a repository without a commit is refused', () => {
    expect(() => parseHgLog('/r\n-1\n000000000000\nnull\n0 0\n')).toThrow(/has no commit yet/);
  });

  test('the default path of an hgrc', () => {
    expect(hgDefaultPath('[ui]\ndefault = no\n[paths]\ndefault = https://u:p@h/r\n')).toBe(
      'https://u:p@h/r',
    );
    expect(hgDefaultPath('[ui]\nusername = x\n')).toBeUndefined();
  });
});

test.each([
  ['https://user:secret@example.invalid/repo', 'https://example.invalid/repo'],
  ['ssh://hg@example.invalid/repo', 'ssh://example.invalid/repo'],
  ['/local/path', '/local/path'],
])('withoutCredentials(%s)', (url, expected) => {
  expect(withoutCredentials(url)).toBe(expected);
});

test('isoUtc gives whole seconds in UTC', () => {
  expect(isoUtc(0)).toBe('1970-01-01T00:00:00Z');
});
