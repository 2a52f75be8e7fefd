import { describe, expect, test } from '@jest/globals';
import { InputError } from '../../actions/core/src/errors.js';
import { inputReader, rawInputsFromEnv } from '../../actions/core/src/inputs.js';

describe('input parsers', () => {
  test('required input names itself when absent', () => {
    expect(() => inputReader({}).required('image')).toThrow(
      'Input "image": is required and was not given.',
    );
    expect(inputReader({ image: '  reg/app  ' }).required('image')).toBe('reg/app');
  });

  test('optional input is undefined when absent or blank', () => {
    expect(inputReader({}).optional('repo')).toBeUndefined();
    expect(inputReader({ repo: '   ' }).optional('repo')).toBeUndefined();
  });

  test('boolean accepts the usual spellings and rejects others', () => {
    expect(inputReader({ push: 'true' }).boolean('push')).toBe(true);
    expect(inputReader({ push: 'false' }).boolean('push')).toBe(false);
    expect(() => inputReader({ push: 'maybe' }).boolean('push')).toThrow(
      'Input "push": "maybe" is not a boolean',
    );
  });

  test('oneOf lists the valid values', () => {
    const allowed = ['auto', 'i686'] as const;
    expect(() => inputReader({ arch: 'arm' }).oneOf('arch', allowed)).toThrow(
      'Input "arch": "arm" is not one of auto, i686.',
    );
    expect(inputReader({ arch: 'i686' }).oneOf('arch', allowed)).toBe('i686');
  });

  test.each([
    ['0', 'out of range'],
    ['5000', 'out of range'],
    ['1.5', 'is not an integer'],
    ['ten', 'is not an integer'],
  ])('integer %s is refused (%s)', (value, problem) => {
    expect(() => inputReader({ timeout: value }).integer('timeout', { min: 1, max: 3600 })).toThrow(
      problem,
    );
  });

  test('integer within bounds', () => {
    expect(inputReader({ timeout: ' 45 ' }).integer('timeout', { min: 1, max: 3600 })).toBe(45);
  });

  test('list skips blanks and comments', () => {
    expect(inputReader({ tags: 'a\n\n  b  \n# note\nc' }).list('tags')).toEqual(['a', 'b', 'c']);
  });

  test('key=value lines, and a line without = is an InputError', () => {
    expect(inputReader({ labels: 'a=1\nb = two=2' }).keyValues('labels')).toEqual([
      ['a', '1'],
      ['b', 'two=2'],
    ]);
    expect(() => inputReader({ labels: 'novalue' }).keyValues('labels')).toThrow(InputError);
  });
});

describe('inputReader over raw inputs', () => {
  const read = inputReader({
    flag: 'yes',
    mode: 'fast',
    count: '7',
    lines: 'a\n# comment\n\nb\n',
    pairs: 'k=v\nx = y',
    password: ' s3cret-value \n',
    image: 'Team/App',
    blank: '   ',
  });
  test('reads each kind, trimmed, with no invented default', () => {
    expect(read.boolean('flag')).toBe(true);
    expect(read.oneOf('mode', ['fast', 'slow'])).toBe('fast');
    expect(read.integer('count', { min: 1, max: 9 })).toBe(7);
    expect(read.optionalInteger('absent', { min: 1, max: 9 })).toBeUndefined();
    expect(read.list('lines')).toEqual(['a', 'b']);
    expect(read.keyValues('pairs')).toEqual([
      ['k', 'v'],
      ['x', 'y'],
    ]);
    expect(read.secret('password')).toBe(' s3cret-value \n');
    expect(read.optional('blank')).toBeUndefined();
  });
  test('an absent input that has no default in action.yml is required', () => {
    expect(() => read.boolean('absent')).toThrow('Input "absent": is required and was not given.');
  });
  test('the image reader names the input and the part that is wrong', () => {
    expect(() => read.image('image')).toThrow(
      /^Input "image": reference "Team\/App": repository "Team\/App" is not valid/,
    );
  });
  test('rawInputsFromEnv maps INPUT_ variables back to their input names', () => {
    expect(rawInputsFromEnv({ 'INPUT_SSH-KEY': 'k', INPUT_PUSH: 'true', HOME: '/root' })).toEqual({
      'ssh-key': 'k',
      push: 'true',
    });
  });
});
