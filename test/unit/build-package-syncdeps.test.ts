import { describe, expect, test } from '@jest/globals';
import { parseInputs } from '../../actions/build-package/src/inputs.js';
import { parseIntrospection } from '../../actions/build-package/src/pkgbuild.js';
import { dependencyTargets, syncdepsCommand } from '../../actions/build-package/src/syncdeps.js';
import { actionInputs } from '../helpers/action-inputs.js';

const facts = {
  depends: ['glibc', 'libgreet>=1.0'],
  makedepends: ['gcc', 'glibc'],
  checkdepends: ['python'],
};

describe('dependencyTargets', () => {
  test('depends, makedepends and checkdepends, each once', () => {
    expect(dependencyTargets(facts, [])).toEqual(['glibc', 'libgreet>=1.0', 'gcc', 'python']);
  });
  test('--nocheck leaves checkdepends out', () => {
    expect(dependencyTargets(facts, ['-f', '--nocheck'])).toEqual([
      'glibc',
      'libgreet>=1.0',
      'gcc',
    ]);
  });
  test('the introspection reads each kind, with the arch-specific ones', () => {
    const parsed = parseIntrospection(
      'pkgbase=x\npkgname=x\ndepends=a\ndepends=b>=2\ndepends=c\nmakedepends=m\ncheckdepends=\n',
    );
    expect(parsed).toMatchObject({
      depends: ['a', 'b>=2', 'c'],
      makedepends: ['m'],
      checkdepends: [],
    });
  });
});

test('syncdepsCommand: pacman chrooted into the root, under setarch i686 when asked', () => {
  expect(syncdepsCommand('/roots/i686', '/tmp/cache', ['a', 'b>=2'], true)).toEqual([
    'setarch',
    'i686',
    'pacman',
    '--sysroot',
    '/roots/i686',
    '--noconfirm',
    '--noprogressbar',
    '--cachedir',
    '/tmp/cache',
    '-Sy',
    '--needed',
    '--asdeps',
    'a',
    'b>=2',
  ]);
  expect(syncdepsCommand('/r', '/c', ['a'], false)[0]).toBe('pacman');
});

describe('syncdeps and pgp-keys inputs', () => {
  const parse = (given: Record<string, string>) => () =>
    parseInputs(actionInputs('build-package', given));
  const key =
    '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----';

  test('syncdeps defaults to false and needs build-root', () => {
    expect(parseInputs(actionInputs('build-package', {})).syncdeps).toBe(false);
    expect(parse({ syncdeps: 'true' })).toThrow(/^Input "syncdeps": .* needs build-root/);
    expect(parse({ syncdeps: 'maybe' })).toThrow(/^Input "syncdeps": "maybe" is not a boolean/);
    expect(
      parseInputs(actionInputs('build-package', { syncdeps: 'true', 'build-root': '/r' })).syncdeps,
    ).toBe(true);
  });
  test('pgp-keys takes one or more public key blocks', () => {
    expect(
      parseInputs(actionInputs('build-package', { 'pgp-keys': `${key}\n${key}\n` })).pgpKeys,
    ).toContain('mDMEZ');
  });
  test.each([
    ['a fingerprint', '0123456789ABCDEF0123456789ABCDEF01234567', /armored public key blocks/],
    ['text around a block', `see:\n${key}`, /and nothing else/],
    ['an unterminated block', key.replace(/-----END.*$/, ''), /armored public key blocks/],
    [
      'a private key',
      '-----BEGIN PGP PRIVATE KEY BLOCK-----\nx\n-----END PGP PRIVATE KEY BLOCK-----',
      /holds a private key; give only public keys/,
    ],
  ])('pgp-keys with %s is refused', (_what, value, message) => {
    expect(parse({ 'pgp-keys': value })).toThrow(message);
    expect(parse({ 'pgp-keys': value })).toThrow(/^Input "pgp-keys": /);
  });
});
