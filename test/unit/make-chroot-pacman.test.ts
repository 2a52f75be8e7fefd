import { describe, expect, test } from '@jest/globals';
import { InputError, UserError } from '../../actions/core/src/errors.js';
import {
  STRIP_NO_EXTRACT,
  describeTargetProblems,
  pacmanArgv,
  pacmanConf,
  parseDesc,
  parseRepoLine,
  parseScriptletFailures,
  parseTargetProblems,
  parseFileProviders,
} from '../../actions/make-chroot/src/pacman.js';

describe('pacmanConf', () => {
  const conf = pacmanConf({
    rootDir: '/r',
    dbPath: '/r/var/lib/pacman',
    cacheDir: '/w/cache',
    hookDir: '/w/hooks',
    logFile: '/w/pacman.log',
    gpgDir: '/etc/pacman.d/gnupg',
    arch: 'i686',
    sigLevel: 'Required DatabaseOptional',
    noExtract: ['usr/share/man/*', '!usr/share/man/keep'],
    repos: [
      parseRepoLine('mine=/srv/repo', 'repos', 'Required'),
      { name: 'core', servers: ['https://m.example/$arch/$repo'], sigLevel: 'Required' },
    ],
  });

  test('its own paths: root, db inside the root, fresh cache, empty hook dir, log outside', () => {
    expect(conf).toContain('\nRootDir = /r\n');
    expect(conf).toContain('\nDBPath = /r/var/lib/pacman/\n');
    expect(conf).toContain('\nCacheDir = /w/cache/\n');
    expect(conf).toContain('\nHookDir = /w/hooks/\n');
    expect(conf).toContain('\nLogFile = /w/pacman.log\n');
    expect(conf).toContain('\nArchitecture = i686\n');
    expect(conf).toContain('\nNoExtract = usr/share/man/* !usr/share/man/keep\n');
  });

  test('repositories in order; a directory is a trusted file:// server', () => {
    expect(conf).toContain('[mine]\nSigLevel = Never\nServer = file:///srv/repo\n');
    expect(conf).toContain('[core]\nSigLevel = Required\nServer = https://m.example/$arch/$repo\n');
    expect(conf.indexOf('[mine]')).toBeLessThan(conf.indexOf('[core]'));
  });

  test('a value with a newline cannot inject configuration', () => {
    expect(() =>
      pacmanConf({
        rootDir: '/r\n[evil]',
        dbPath: '/d',
        cacheDir: '/c',
        hookDir: '/h',
        logFile: '/l',
        gpgDir: '/g',
        arch: 'x86_64',
        sigLevel: 'Never',
        noExtract: [],
        repos: [],
      }),
    ).toThrow(UserError);
  });

  test('the strip list drops docs, man pages and foreign locales but keeps English', () => {
    expect(STRIP_NO_EXTRACT).toEqual(
      expect.arrayContaining(['usr/share/man/*', 'usr/share/locale/*', '!*locale*/en*/*']),
    );
    // pacman applies the last matching pattern: every exception comes after what it excepts.
    expect(STRIP_NO_EXTRACT.indexOf('!*locale*/en*/*')).toBeGreaterThan(
      STRIP_NO_EXTRACT.indexOf('usr/share/locale/*'),
    );
  });
});

describe('parseRepoLine', () => {
  test.each([
    ['a=/srv/x', { name: 'a', servers: ['file:///srv/x'], sigLevel: 'Never' }],
    [
      'b = https://h.example/$repo',
      { name: 'b', servers: ['https://h.example/$repo'], sigLevel: 'Required' },
    ],
    ['c=file:///srv/y', { name: 'c', servers: ['file:///srv/y'], sigLevel: 'Required' }],
  ])('%s', (line, expected) => {
    expect(parseRepoLine(line, 'repos', 'Required')).toEqual(expected);
  });
  test.each(['noequals', '=/x', 'a=', 'local=/x', 'op tions=/x'])('%s is refused', (line) => {
    expect(() => parseRepoLine(line, 'repos', 'Required')).toThrow(InputError);
  });
});

test('pacman argv never goes through a shell and always has the config', () => {
  expect(pacmanArgv('/w/p.conf', ['-S', 'a b'])).toEqual([
    '--config',
    '/w/p.conf',
    '--noconfirm',
    '--noprogressbar',
    '-S',
    'a b',
  ]);
});

describe('pacman -Sp problems', () => {
  test('every missing target and each unsatisfied dependency with its owner', () => {
    const problems = parseTargetProblems(
      [
        'error: target not found: nosuch',
        'error: target not found: other',
        'error: failed to prepare transaction (could not satisfy dependencies)',
        ":: unable to satisfy dependency 'libmissing>=2' required by app",
      ].join('\n'),
    );
    expect(problems).toEqual({
      missing: ['nosuch', 'other'],
      unsatisfied: [{ dependency: 'libmissing>=2', requiredBy: 'app' }],
      other: [],
    });
    const message = describeTargetProblems(problems, ['fixtures (file:///r)', 'core (https://m)']);
    expect(message).toContain('nosuch, other');
    expect(message).toContain('searched: fixtures (file:///r), core (https://m)');
    expect(message).toContain('"libmissing>=2" of app');
  });
});

describe('scriptlet failures by package name', () => {
  test.each([
    [
      'installing a...\ninstalling scripted...\ncall to execv failed (No such file or directory)\ninstalling b...\n',
      ['scripted'],
    ],
    [
      '(1/2) installing a...\n(2/2) installing c...\ncall to execv failed (No such file or directory)\n',
      ['c'],
    ],
    ['installing a...\ninstalling b...\n', []],
    ['upgrading x...\nerror: command failed to execute correctly\n', ['x']],
  ])('%j', (output, expected) => {
    expect(parseScriptletFailures(output)).toEqual(expected);
  });
});

test('local db desc parsing', () => {
  expect(parseDesc('%NAME%\nhello\n\n%ARCH%\ni686\n\n%SIZE%\n12345\n\n%DEPENDS%\na\nb\n')).toEqual({
    NAME: ['hello'],
    ARCH: ['i686'],
    SIZE: ['12345'],
    DEPENDS: ['a', 'b'],
  });
});

test('parseFileProviders reads pacman -F --machinereadable lines', () => {
  const output =
    'core\0ncurses\x006.4-1\0usr/lib/libncurses.so.6\n' +
    'extra\0lib32-ncurses\x006.4-1\0usr/lib32/libncurses.so.6\n' +
    'a line pacman would not write\n';
  expect(parseFileProviders(output)).toEqual([
    { repo: 'core', name: 'ncurses', version: '6.4-1', file: 'usr/lib/libncurses.so.6' },
    { repo: 'extra', name: 'lib32-ncurses', version: '6.4-1', file: 'usr/lib32/libncurses.so.6' },
  ]);
});
