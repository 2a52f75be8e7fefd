import { describe, expect, test } from '@jest/globals';
import { parseInputs } from '../../actions/build-package/src/inputs.js';
import {
  makepkgOptionNames,
  parseMakepkgOptions,
} from '../../actions/build-package/src/makepkg-options.js';
import { actionInputs } from '../helpers/action-inputs.js';

describe('parseMakepkgOptions reads words as makepkg does', () => {
  test.each<[string[], Array<[string, string?]>, string[]]>([
    [['--nocheck', '-f'], [['--nocheck'], ['--force']], []],
    [['--confi=/x.conf'], [['--config', '/x.conf']], []],
    [['--con', '/x.conf'], [['--config', '/x.conf']], []],
    [['--printsrc'], [['--printsrcinfo']], []],
    [['-pPATH'], [['-p', 'PATH']], []],
    [['-sp', 'PATH'], [['--syncdeps'], ['-p', 'PATH']], []],
    [['-cfp', 'FILE', '-A'], [['--clean'], ['--force'], ['-p', 'FILE'], ['--ignorearch']], []],
    [['-cfpFILE'], [['--clean'], ['--force'], ['-p', 'FILE']], []],
    [['-g'], [['--geninteg']], []],
    // An exact name wins over the longer names it begins (--check, not --checksums...).
    [['--check', '--sign'], [['--check'], ['--sign']], []],
    [['--key', '-p'], [['--key', '-p']], []],
    [['CFLAGS=-O0', '-f', '--', '-p', 'x'], [['--force']], ['CFLAGS=-O0', '-p', 'x']],
    [['-'], [], ['-']],
  ])('%j', (args, options, operands) => {
    const parsed = parseMakepkgOptions(args);
    expect(parsed.options.map((option) => [option.name, option.value].filter(Boolean))).toEqual(
      options.map((option) => option.filter(Boolean)),
    );
    expect(parsed.operands).toEqual(operands);
  });

  test.each<[string[], RegExp]>([
    [['--bogus'], /^Input "makepkg-args": "--bogus" is not a makepkg option; /],
    [['-x'], /^Input "makepkg-args": "-x" \(in "-x"\) is not a makepkg option; /],
    [['-fx'], /"-x" \(in "-fx"\) is not a makepkg option/],
    [['-:'], /"-:" \(in "-:"\) is not a makepkg option/],
    [['--no'], /^Input "makepkg-args": "--no" is ambiguous to makepkg \(--noarchive, --nobuild, /],
    [
      ['--skip'],
      /"--skip" is ambiguous to makepkg \(--skipchecksums, --skipinteg, --skippgpcheck\)/,
    ],
    [['--config'], /^Input "makepkg-args": "--config" \(--config\) needs an argument; /],
    [['--conf'], /"--conf" \(--config\) needs an argument/],
    [['-fp'], /"-p" \(in "-fp"\) needs an argument/],
    [['--nocheck=yes'], /"--nocheck=yes": --nocheck takes no argument/],
  ])('%j is refused as makepkg refuses it', (args, message) => {
    expect(() => parseMakepkgOptions(args)).toThrow(message);
  });

  test('names: short options by their long names', () => {
    expect([...makepkgOptionNames(['-sA', '--nod'])]).toEqual([
      '--syncdeps',
      '--ignorearch',
      '--nodeps',
    ]);
  });
});

describe('the reserved options, however they are spelled', () => {
  const parse = (args: string) => () =>
    parseInputs(actionInputs('build-package', { 'makepkg-args': args }));
  test.each([
    ['--confi=FILE', '--confi=FILE', '--config'],
    ['--con FILE', '--con FILE', '--config'],
    ['-pPATH', '-pPATH', '-p'],
    ['-cfp FILE', '-cfp FILE', '-p'],
    ['-sp PATH', '-sp PATH', '-p'],
    ['--printsrc', '--printsrc', '--printsrcinfo'],
    ['--packagel', '--packagel', '--packagelist'],
    ['-fg', '-fg', '--geninteg'],
    ['--genin', '--genin', '--geninteg'],
  ])('%s', (args, given, name) => {
    expect(parse(args)).toThrow(
      `Input "makepkg-args": "${given}" cannot be given: makepkg takes it as ${name}, which the action sets itself.`,
    );
  });
  test('what makepkg would take as an argument is not an option', () => {
    expect(parse('--key -p --holdver').call(null).makepkgArgs).toEqual([
      '--key',
      '-p',
      '--holdver',
    ]);
  });
});
