import { describe, expect, test } from '@jest/globals';
import { parseInputs } from '../../actions/build-package/src/inputs.js';
import { splitWords } from '../../actions/build-package/src/words.js';
import { actionInputs } from '../helpers/action-inputs.js';

const split = (text: string) => splitWords('makepkg-args', text);

describe('splitWords splits as a POSIX shell does', () => {
  test.each([
    ['', []],
    ['--skippgpcheck --nocheck', ['--skippgpcheck', '--nocheck']],
    ['--skippgpcheck\n--nocheck', ['--skippgpcheck', '--nocheck']],
    ['  -f \t -C  \n\n\n   --nocheck  \n', ['-f', '-C', '--nocheck']],
    ['-a\r\n-b\r\n', ['-a', '-b']],
    ["--config='my file'", ['--config=my file']],
    ['"two words" three', ['two words', 'three']],
    ["'it'\\''s'", ["it's"]],
    ['"say \\"hi\\""', ['say "hi"']],
    ['"back\\\\slash \\$HOME \\`x\\` \\n"', ['back\\slash $HOME `x` \\n']],
    ["'no \\escape in $single'", ['no \\escape in $single']],
    ['a\\ b c\\\\d', ['a b', 'c\\d']],
    ['--one \\\n--two', ['--one', '--two']],
    ['--jo\\\nined', ['--joined']],
    ['"multi\nline"', ['multi\nline']],
    ['\'\' "" x', ['', '', 'x']],
    ['$HOME *.c ~ $(id) `id`', ['$HOME', '*.c', '~', '$(id)', '`id`']],
    ['# a comment\n--nocheck # why\n--a#b', ['--nocheck', '--a#b']],
    ['"#not a comment"', ['#not a comment']],
    ['trailing\\', ['trailing\\']],
  ])('%j', (text, words) => {
    expect(split(text)).toEqual(words);
  });

  test.each([
    [
      "--config='x",
      /^Input "makepkg-args": the ' opened on line 1 \(--config='x\) is never closed/,
    ],
    ['-f\n-C "two\n', /^Input "makepkg-args": the " opened on line 2 \(-C "two\) is never closed/],
    ['"a \\" b', /the " opened on line 1/],
    ["'a' 'b", /the ' opened on line 1 \('a' 'b\)/],
  ])('an unbalanced quote in %j is one line naming makepkg-args', (text, message) => {
    let error: unknown;
    try {
      split(text);
    } catch (thrown) {
      error = thrown;
    }
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('makepkg-args through parseInputs', () => {
  const parse = (args: string) =>
    parseInputs(actionInputs('build-package', { 'makepkg-args': args })).makepkgArgs;

  test('several words a line become separate arguments', () => {
    expect(parse('--skippgpcheck --nocheck\n-f')).toEqual(['--skippgpcheck', '--nocheck', '-f']);
  });
  test.each([
    '--nocheck --printsrcinfo',
    '--nocheck "--config=/etc/x.conf"',
    "-f '-p' other/PKGBUILD",
    '--geninteg\\\n',
  ])('a reserved option among split words is refused: %j', (args) => {
    expect(() => parse(args)).toThrow(
      /^Input "makepkg-args": ".*" cannot be given: makepkg takes it as -?-\w+, which the action sets itself\.$/,
    );
  });
  test('a quoted word with a reserved option inside is only a value', () => {
    expect(parse("--key '--config is mentioned'")).toEqual(['--key', '--config is mentioned']);
  });
});
