import { describe, expect, test } from '@jest/globals';
import {
  firstDifference,
  parseBashSyntaxError,
  parseIntrospection,
  replacePath,
  setPkgver,
  srcinfoWithVersion,
  withVersionOf,
} from '../../actions/build-package/src/pkgbuild.js';

const SRCINFO = [
  'pkgbase = hello',
  '\tpkgdesc = x',
  '\tpkgver = 0.r0.000000000000',
  '\tpkgrel = 1',
  '\tarch = x86_64',
  '',
  'pkgname = hello',
  '',
].join('\n');

describe('introspection output', () => {
  test('lists and single values', () => {
    expect(
      parseIntrospection(
        'pkgbase=hello\npkgname=hello\npkgname=hello-doc\narch=x86_64\narch=i686\npkgver=1\npkgrel=2\nepoch=\npkgverfunc=1\n',
      ),
    ).toEqual({
      pkgbase: 'hello',
      pkgnames: ['hello', 'hello-doc'],
      arches: ['x86_64', 'i686'],
      pkgver: '1',
      pkgrel: '2',
      epoch: undefined,
      hasPkgverFunction: true,
      depends: [],
      makedepends: [],
      checkdepends: [],
    });
  });
});

describe('bash syntax errors', () => {
  test.each([
    ["PKGBUILD: line 12: syntax error near unexpected token `}'\nPKGBUILD: line 12: `}'", 12],
    ['PKGBUILD: line 30: syntax error: unexpected end of file', 30],
  ])('%s → line %d', (stderr, line) => {
    expect(parseBashSyntaxError(stderr)?.line).toBe(line);
  });
  test('no line number', () => {
    expect(parseBashSyntaxError('something else')).toBeUndefined();
  });
});

describe('pkgver in the build copy', () => {
  test('replaces the top-level pkgver= line only', () => {
    const text = 'pkgname=a\npkgver=1.0 # x\n  pkgver=inner\npkgrel=1\n';
    expect(setPkgver(text, 'r3.abc')).toBe(
      'pkgname=a\npkgver=r3.abc # x\n  pkgver=inner\npkgrel=1\n',
    );
  });
  test('appends when there is none', () => {
    expect(setPkgver('pkgname=a', 'r3.abc')).toBe('pkgname=a\npkgver=r3.abc\n');
  });
  test('the .SRCINFO version after pkgver() ran', () => {
    const text = srcinfoWithVersion(SRCINFO.replace('pkgrel = 1', 'pkgrel = 3'), '1.2.r1.abc', '1');
    expect(text).toContain('\tpkgver = 1.2.r1.abc\n\tpkgrel = 1\n');
  });
});

describe('.SRCINFO comparison', () => {
  test('equal texts (trailing blank lines aside)', () => {
    expect(firstDifference(SRCINFO, `${SRCINFO}\n\n`)).toBeUndefined();
  });
  test('names the first differing line', () => {
    expect(firstDifference(SRCINFO, SRCINFO.replace('arch = x86_64', 'arch = i686'))).toEqual({
      line: 5,
      expected: '\tarch = x86_64',
      actual: '\tarch = i686',
    });
  });
  test('a missing line', () => {
    expect(firstDifference('a\nb', 'a')).toEqual({ line: 2, expected: 'b', actual: undefined });
  });
  test('the pkgver and pkgrel lines can be exempted', () => {
    const other = SRCINFO.replace('0.r0.000000000000', '9.9').replace('pkgrel = 1', 'pkgrel = 4');
    expect(firstDifference(SRCINFO, withVersionOf(other, SRCINFO))).toBeUndefined();
  });
  test('the copy path is mapped back to the checkout', () => {
    expect(replacePath('source = a::hg+file:///tmp/b/tree', '/tmp/b/tree', '/home/u/app')).toBe(
      'source = a::hg+file:///home/u/app',
    );
  });
});
