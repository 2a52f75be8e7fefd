import { describe, expect, test } from '@jest/globals';
import {
  defaultFlagsMakepkgConf,
  i686MakepkgConf,
  makepkgArgs,
  buildUserEnv,
  makepkgEnv,
  pacmanArch,
  resolveArch,
  wrapCommand,
  type MakepkgPlan,
} from '../../actions/build-package/src/makepkg.js';
import type { ArchInput } from '../../actions/build-package/src/inputs.js';

describe('resolveArch', () => {
  test.each<[ArchInput, string[], string, object]>([
    ['auto', ['x86_64'], 'x86_64', { carch: undefined, packageArch: 'x86_64', multilib: false }],
    [
      'auto',
      ['i686'],
      'x86_64',
      { carch: 'i686', packageArch: 'i686', setarchI686: true, multilib: true },
    ],
    ['auto', ['x86_64', 'i686'], 'x86_64', { carch: undefined, packageArch: 'x86_64' }],
    [
      'auto',
      ['x86_64', 'i686'],
      'i686',
      { carch: undefined, packageArch: 'i686', multilib: false },
    ],
    ['auto', ['any'], 'x86_64', { packageArch: 'any', setarchI686: false }],
    ['i686', ['x86_64', 'i686'], 'x86_64', { carch: 'i686', setarchI686: true, multilib: true }],
    ['x86_64', ['x86_64', 'i686'], 'x86_64', { carch: 'x86_64', setarchI686: false }],
    ['any', ['any'], 'x86_64', { packageArch: 'any', carch: 'x86_64' }],
    ['i686', ['any'], 'x86_64', { packageArch: 'any', carch: 'i686' }],
  ])('%s with arch=(%j) on %s', (input, arches, native, expected) => {
    expect(resolveArch(input, arches, native)).toMatchObject(expected);
  });

  test('in a build root no multilib cross build', () => {
    expect(resolveArch('i686', ['i686'], 'i686', { inBuildRoot: true })).toMatchObject({
      setarchI686: true,
      multilib: false,
    });
  });

  test.each<[ArchInput, string[], RegExp]>([
    ['any', ['x86_64'], /^Input "arch": any needs a PKGBUILD with arch=\('any'\)/],
    ['i686', ['x86_64'], /^Input "arch": i686 is not in the PKGBUILD's arch=\(x86_64\)/],
  ])('%s with arch=(%j) is refused', (input, arches, message) => {
    expect(() => resolveArch(input, arches, 'x86_64')).toThrow(message);
  });

  test('--ignorearch lets any arch through', () => {
    expect(resolveArch('i686', ['x86_64'], 'x86_64', { ignoreArch: true }).carch).toBe('i686');
  });

  test.each([
    ['x64', 'x86_64'],
    ['ia32', 'i686'],
    ['arm64', 'aarch64'],
  ])('pacmanArch(%s) = %s', (node, pacman) => {
    expect(pacmanArch(node)).toBe(pacman);
  });
});

const plan: MakepkgPlan = {
  buildDir: '/w/tree',
  home: '/w/home',
  pkgdest: '/w/pkgdest',
  srcdest: '/w/srcdest',
  pkgext: '.pkg.tar.zst',
  arch: { carch: 'i686', packageArch: 'i686', setarchI686: true, multilib: true },
  config: '/w/makepkg-i686.conf',
  extraArgs: [],
};

describe('makepkg arguments and environment', () => {
  test.each<[string[], string[]]>([
    [[], ['--config', '/w/makepkg-i686.conf', '--nodeps', '--noconfirm', '--noprogressbar']],
    [
      ['--skippgpcheck'],
      [
        '--config',
        '/w/makepkg-i686.conf',
        '--nodeps',
        '--noconfirm',
        '--noprogressbar',
        '--skippgpcheck',
      ],
    ],
    [
      ['--syncdeps'],
      ['--config', '/w/makepkg-i686.conf', '--noconfirm', '--noprogressbar', '--syncdeps'],
    ],
    [['-si'], ['--config', '/w/makepkg-i686.conf', '--noconfirm', '--noprogressbar', '-si']],
    [['-d'], ['--config', '/w/makepkg-i686.conf', '--noconfirm', '--noprogressbar', '-d']],
  ])('extra %j', (extraArgs, expected) => {
    expect(makepkgArgs({ ...plan, extraArgs })).toEqual(expected);
  });

  test('environment', () => {
    expect(makepkgEnv({ ...plan, noPacman: true })).toEqual([
      'HOME=/w/home',
      'PKGDEST=/w/pkgdest',
      'SRCDEST=/w/srcdest',
      'PKGEXT=.pkg.tar.zst',
      'CARCH=i686',
      'PACMAN=/usr/bin/true',
    ]);
  });

  test('the i686 makepkg.conf builds 32-bit', () => {
    const conf = i686MakepkgConf('/etc/makepkg.conf');
    expect(conf).toMatch(/^source '\/etc\/makepkg.conf'$/m);
    expect(conf).toMatch(/^CARCH="i686"$/m);
    expect(conf).toMatch(/^CFLAGS="-m32 /m);
    expect(conf).toMatch(/^LDFLAGS="-m32 /m);
  });
});

describe('defaultFlagsMakepkgConf', () => {
  test("fills only the flags the system's makepkg.conf leaves empty", () => {
    const conf = defaultFlagsMakepkgConf('/etc/makepkg.conf', 'x86_64') as string;
    expect(conf).toMatch(/^source '\/etc\/makepkg.conf'$/m);
    expect(conf).toMatch(/^\[\[ -n \$\{CFLAGS-\} \]\] \|\| CFLAGS="-march=x86-64 .* -O2 /m);
    expect(conf).toMatch(/^\[\[ -n \$\{LDFLAGS-\} \]\] \|\| LDFLAGS="-Wl,-O1 /m);
    expect(defaultFlagsMakepkgConf('/etc/makepkg.conf', 'i686')).toContain('-march=i686 ');
  });

  test('gives nothing for an arch without Arch defaults', () => {
    expect(defaultFlagsMakepkgConf('/etc/makepkg.conf', 'aarch64')).toBeUndefined();
  });
});

describe('wrapCommand', () => {
  test.each([
    [{ setarchI686: false }, ['env', '-i', '-C', '/b', 'A=1', 'makepkg', '-x']],
    [
      { user: 'builder', setarchI686: false },
      ['runuser', '-u', 'builder', '--', 'env', '-i', '-C', '/b', 'A=1', 'makepkg', '-x'],
    ],
    [
      { user: 'builder', setarchI686: true },
      [
        'setarch',
        'i686',
        'runuser',
        '-u',
        'builder',
        '--',
        'env',
        '-i',
        '-C',
        '/b',
        'A=1',
        'makepkg',
        '-x',
      ],
    ],
    [
      { user: 'builder', root: '/r', setarchI686: true },
      [
        'setarch',
        'i686',
        'chroot',
        '/r',
        '/usr/bin/env',
        '-i',
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'runuser',
        '-u',
        'builder',
        '--',
        'env',
        '-i',
        '-C',
        '/b',
        'A=1',
        'makepkg',
        '-x',
      ],
    ],
  ])('%j', (runner, expected) => {
    expect(wrapCommand(runner, '/b', ['A=1'], 'makepkg', ['-x'])).toEqual(expected);
  });
});

describe('buildUserEnv', () => {
  const parent = {
    PATH: '/runner/bin:/usr/bin',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    SOURCE_DATE_EPOCH: '1700000000',
    https_proxy: 'http://proxy:3128',
    ACTIONS_RUNTIME_TOKEN: 'secret',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'secret',
    ACTIONS_ID_TOKEN_REQUEST_URL: 'https://token',
    GITHUB_TOKEN: 'secret',
    INPUT_PATH: '.',
    LC_not_a_locale: 'x',
    HOME: '/root',
  };
  test('on the host: its PATH, the allow-listed variables, then the own ones', () => {
    expect(buildUserEnv(parent, false, ['HOME=/w/home'])).toEqual([
      'PATH=/runner/bin:/usr/bin',
      'LANG=C.UTF-8',
      'LC_ALL=C.UTF-8',
      'SOURCE_DATE_EPOCH=1700000000',
      'https_proxy=http://proxy:3128',
      'HOME=/w/home',
    ]);
  });
  test("in a build root: the root's PATH", () => {
    expect(buildUserEnv({ PATH: '/runner/bin' }, true, [])).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ]);
  });
});
